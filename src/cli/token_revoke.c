/*
 * `loam token revoke ID`: deletes the token; loamd refuses it (401) from
 * its very next request on.
 */
#include "cli/verbs.h"

int loam_token_revoke(int argc, char **argv)
{
	return loam_cli_name_call(argc, argv, "loam token revoke ID", "DELETE", "/v1/tokens", NULL,
				  "revoked");
}
