/*
 * `loam project VERB`: dispatches to project_<verb>.c.
 */
#include "cli/cli.h"
#include "cli/verbs.h"

static const struct loam_cli_verb project_verbs[] = {
    {"create", "loam project create NAME [--json]", loam_project_create},
    {"ls", "loam project ls [--json]", loam_project_ls},
    {"show", "loam project show NAME [--json]", loam_project_show},
    {"set", "loam project set NAME --quota ARCH.RESOURCE=N|none ... [--json]", loam_project_set},
    {"rm", "loam project rm NAME", loam_project_rm},
};

int loam_cmd_project(int argc, char **argv)
{
	return loam_cli_dispatch("project", project_verbs,
				 sizeof(project_verbs) / sizeof(project_verbs[0]), argc, argv);
}
