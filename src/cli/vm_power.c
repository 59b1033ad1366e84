/*
 * `loam vm stop|start|reboot NAME`: one file for the three power verbs,
 * which differ only in the action they post.
 */
#include "cli/verbs.h"

int loam_vm_stop(int argc, char **argv)
{
	return loam_cli_name_call(argc, argv, "loam vm stop NAME [--project P] [--json]", "POST",
				  "/v1/vms", "stop", "stop requested");
}

int loam_vm_start(int argc, char **argv)
{
	return loam_cli_name_call(argc, argv, "loam vm start NAME [--project P] [--json]", "POST",
				  "/v1/vms", "start", "start requested");
}

int loam_vm_reboot(int argc, char **argv)
{
	return loam_cli_name_call(argc, argv, "loam vm reboot NAME [--project P] [--json]", "POST",
				  "/v1/vms", "reboot", "reboot requested");
}
