/*
 * `loam vm VERB`: dispatches to vm_<verb>.c.
 */
#include "cli/cli.h"
#include "cli/verbs.h"

static const struct loam_cli_verb vm_verbs[] = {
    {"create",
     "loam vm create NAME --arch A --size S [--location L] [--image I] [--ssh-key FILE]... "
     "[--user NAME] [--open-port P/tcp]... [--project P] [--json]",
     loam_vm_create},
    {"ls", "loam vm ls [--project P] [--json]", loam_vm_ls},
    {"show", "loam vm show NAME [--project P] [--json]", loam_vm_show},
    {"stop", "loam vm stop NAME [--project P] [--json]", loam_vm_stop},
    {"start", "loam vm start NAME [--project P] [--json]", loam_vm_start},
    {"reboot", "loam vm reboot NAME [--project P] [--json]", loam_vm_reboot},
    {"rm", "loam vm rm NAME [--project P] [--json]", loam_vm_rm},
    {"firewall",
     "loam vm firewall NAME ls|add|rm [PORT[/tcp|/udp]] [--from CIDR] [--project P] [--json]",
     loam_vm_firewall},
    {"ssh", "loam vm ssh NAME [-i KEY] [--jump-key KEY] [--project P] [-- COMMAND...]",
     loam_vm_ssh},
    {"upgrade", "loam vm upgrade NAME [--component vmm|firmware|storage] [--project P] [--json]",
     loam_vm_upgrade},
    {"console", "loam vm console NAME [--project P] [--follow] [--json]", loam_vm_console},
};

int loam_cmd_vm(int argc, char **argv)
{
	return loam_cli_dispatch("vm", vm_verbs, sizeof(vm_verbs) / sizeof(vm_verbs[0]), argc,
				 argv);
}
