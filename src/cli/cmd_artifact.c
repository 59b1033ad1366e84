/*
 * `loam artifact VERB`: dispatches to artifact_<verb>.c (ls, gc, drain,
 * undrain).
 */
#include "cli/cli.h"
#include "cli/verbs.h"

static const struct loam_cli_verb artifact_verbs[] = {
    {"ls", "loam artifact ls [--json]", loam_artifact_ls},
    {"gc", "loam artifact gc [--host H] [--dry-run] [--json]", loam_artifact_gc},
    {"drain", "loam artifact drain HOST COMPONENT VERSION [--name N] [--arch A] [--json]",
     loam_artifact_drain},
    {"undrain",
     "loam artifact undrain HOST COMPONENT VERSION [--weight W] [--name N] [--arch A] [--json]",
     loam_artifact_undrain},
};

int loam_cmd_artifact(int argc, char **argv)
{
	return loam_cli_dispatch("artifact", artifact_verbs,
				 sizeof(artifact_verbs) / sizeof(artifact_verbs[0]), argc, argv);
}
