/*
 * `loam host rm NAME`: forgets a host that holds no VMs.
 */
#include "cli/verbs.h"

int loam_host_rm(int argc, char **argv)
{
	return loam_cli_name_call(argc, argv, "loam host rm NAME", "DELETE", "/v1/hosts", NULL,
				  "removed");
}
