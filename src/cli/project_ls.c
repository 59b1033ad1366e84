/*
 * `loam project ls [--json]`: every project with its VM count.
 */
#include "cli/verbs.h"

int loam_project_ls(int argc, char **argv)
{
	static const struct loam_col cols[] = {
	    {"NAME", "name"},
	    {"VMS", "vms"},
	    {"ID", "id"},
	};
	return loam_cli_list(argc, argv, "loam project ls [--json]", "/v1/projects", cols,
			     sizeof(cols) / sizeof(cols[0]));
}
