/*
 * `loam vm VERB`: dispatches to vm_<verb>.c.
 */
#include "cli/cli.h"
#include "cli/verbs.h"

static const struct loam_cli_verb vm_verbs[] = {
    {"create", "loam vm create NAME --arch A --size S [--location L] [--image I] [--json]",
     loam_vm_create},
    {"ls", "loam vm ls [--json]", loam_vm_ls},
    {"show", "loam vm show NAME [--json]", loam_vm_show},
    {"stop", "loam vm stop NAME [--json]", loam_vm_stop},
    {"start", "loam vm start NAME [--json]", loam_vm_start},
    {"reboot", "loam vm reboot NAME [--json]", loam_vm_reboot},
    {"rm", "loam vm rm NAME [--json]", loam_vm_rm},
    {"console", "loam vm console NAME [--follow] [--json]", loam_vm_console},
};

int loam_cmd_vm(int argc, char **argv)
{
	return loam_cli_dispatch("vm", vm_verbs, sizeof(vm_verbs) / sizeof(vm_verbs[0]), argc,
				 argv);
}
