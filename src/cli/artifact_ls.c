/*
 * `loam artifact ls [--json]`: every artifact version on every host, with
 * its state, its weight (0: drained) and how many VMs are pinned to it,
 * now or at their next start (GET /v1/artifacts).
 */
#include "cli/verbs.h"

int loam_artifact_ls(int argc, char **argv)
{
	static const struct loam_col cols[] = {
	    {"HOST", "host"},	  {"COMPONENT", "component"},
	    {"NAME", "name"},	  {"VERSION", "version"},
	    {"ARCH", "arch"},	  {"STATE", "state"},
	    {"WEIGHT", "weight"}, {"VMS", "vms"},
	};
	return loam_cli_list(argc, argv, "loam artifact ls [--json]", "/v1/artifacts", cols,
			     sizeof(cols) / sizeof(cols[0]));
}
