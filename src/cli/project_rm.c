/*
 * `loam project rm NAME`: removes a project that has no VMs, with its
 * tokens and quotas.
 */
#include "cli/verbs.h"

int loam_project_rm(int argc, char **argv)
{
	return loam_cli_name_call(argc, argv, "loam project rm NAME", "DELETE", "/v1/projects",
				  NULL, "removed");
}
