/*
 * `loam vm rm NAME`: destroys a VM and releases its place on the host.
 */
#include "cli/verbs.h"

int loam_vm_rm(int argc, char **argv)
{
	return loam_cli_name_call(argc, argv, "loam vm rm NAME [--project P] [--json]", "DELETE",
				  "/v1/vms", NULL, "removed");
}
