/*
 * `loam artifact undrain HOST COMPONENT VERSION [--weight W] [--name N]
 * [--arch A] [--json]`: gives a drained version its weight back (100, the
 * default, or W), so that new VMs may take it again: a new VM takes the
 * usable version of the highest weight, then the newest.
 */
#include "cli/verbs.h"

int loam_artifact_undrain(int argc, char **argv)
{
	return loam_cli_artifact_weight(argc, argv,
					"loam artifact undrain HOST COMPONENT VERSION [--weight W] "
					"[--name N] [--arch A] [--json]",
					100);
}
