/*
 * `loam token VERB`: dispatches to token_<verb>.c.
 */
#include "cli/cli.h"
#include "cli/verbs.h"

static const struct loam_cli_verb token_verbs[] = {
    {"create", "loam token create --project NAME | --metrics [--json]", loam_token_create},
    {"ls", "loam token ls [--json]", loam_token_ls},
    {"revoke", "loam token revoke ID", loam_token_revoke},
};

int loam_cmd_token(int argc, char **argv)
{
	return loam_cli_dispatch("token", token_verbs, sizeof(token_verbs) / sizeof(token_verbs[0]),
				 argc, argv);
}
