/*
 * `loam host show NAME [--json]`: one host, with its facts, its cloudify
 * strand's label and last error, and installed artifacts.
 */
#include "cli/verbs.h"

int loam_host_show(int argc, char **argv)
{
	return loam_cli_show(argc, argv, "loam host show NAME [--json]", "/v1/hosts");
}
