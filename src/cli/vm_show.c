/*
 * `loam vm show NAME [--json]`: one VM, with guest_machine and artifacts.
 */
#include "cli/verbs.h"

int loam_vm_show(int argc, char **argv)
{
	return loam_cli_show(argc, argv, "loam vm show NAME [--project P] [--json]", "/v1/vms");
}
