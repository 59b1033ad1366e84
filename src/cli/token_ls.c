/*
 * `loam token ls [--json]`: the API tokens (never their secret: a hint of
 * their first characters tells them apart).
 */
#include "cli/verbs.h"

int loam_token_ls(int argc, char **argv)
{
	static const struct loam_col cols[] = {
	    {"ID", "id"},
	    {"SCOPE", "scope"},
	    {"PROJECT", "project"},
	    {"HINT", "hint"},
	};
	return loam_cli_list(argc, argv, "loam token ls [--json]", "/v1/tokens", cols,
			     sizeof(cols) / sizeof(cols[0]));
}
