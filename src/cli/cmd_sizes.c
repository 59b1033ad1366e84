/*
 * `loam sizes [--json]`: the VM sizes of each arch (vCPUs, memory, disk).
 */
#include "cli/cli.h"
#include "cli/verbs.h"

int loam_cmd_sizes(int argc, char **argv)
{
	static const struct loam_col cols[] = {{"ARCH", "arch"},
					       {"SIZE", "name"},
					       {"VCPUS", "vcpus"},
					       {"MEMORY_GIB", "memory_gib"},
					       {"STORAGE_GIB", "storage_gib"}};
	return loam_cli_list(argc, argv, "loam sizes [--json]", "/v1/sizes", cols,
			     sizeof(cols) / sizeof(cols[0]));
}
