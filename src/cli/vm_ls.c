/*
 * `loam vm ls [--json]`: every VM with its arch, size, state and host.
 */
#include "cli/verbs.h"

int loam_vm_ls(int argc, char **argv)
{
	static const struct loam_col cols[] = {
	    {"NAME", "name"},	      {"ARCH", "arch"},
	    {"SIZE", "size"},	      {"STATE", "state"},
	    {"HOST", "host"},	      {"PROJECT", "project"},
	    {"VCPUS", "vcpus"},	      {"MEMORY_GIB", "memory_gib"},
	    {"LOCATION", "location"},
	};
	return loam_cli_list(argc, argv, "loam vm ls [--project P] [--json]", "/v1/vms", cols,
			     sizeof(cols) / sizeof(cols[0]));
}
