/*
 * `loam host VERB`: dispatches to host_<verb>.c.
 */
#include "cli/cli.h"
#include "cli/verbs.h"

static const struct loam_cli_verb host_verbs[] = {
    {"add",
     "loam host add ADDRESS [--ssh-port N] [--ssh-user U] [--ssh-key FILE] [--location L] "
     "[--name N] [--state-dir D] [--no-wait] | loam host add --local [--name N] [--no-wait]",
     loam_host_add},
    {"ls", "loam host ls [--json]", loam_host_ls},
    {"show", "loam host show NAME [--json]", loam_host_show},
    {"set",
     "loam host set NAME [--accepting|--draining] [--location L] [--emulate ARCH[,ARCH]] "
     "[--no-emulate] [--allow-tcg|--no-allow-tcg] [--cpu-overcommit F] [--json]",
     loam_host_set},
    {"rm", "loam host rm NAME", loam_host_rm},
    {"upgrade",
     "loam host upgrade HOST [--component C] [--version V] [--wait [--timeout S]] [--json]",
     loam_host_upgrade},
};

int loam_cmd_host(int argc, char **argv)
{
	return loam_cli_dispatch("host", host_verbs, sizeof(host_verbs) / sizeof(host_verbs[0]),
				 argc, argv);
}
