/*
 * `loam artifact VERB`: dispatches to artifact_<verb>.c (ls, gc).
 */
#include "cli/cli.h"
#include "cli/verbs.h"

static const struct loam_cli_verb artifact_verbs[] = {
    {"ls", "loam artifact ls [--json]", loam_artifact_ls},
    {"gc", "loam artifact gc [--host H] [--dry-run] [--json]", loam_artifact_gc},
};

int loam_cmd_artifact(int argc, char **argv)
{
	return loam_cli_dispatch("artifact", artifact_verbs,
				 sizeof(artifact_verbs) / sizeof(artifact_verbs[0]), argc, argv);
}
