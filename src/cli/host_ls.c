/*
 * `loam host ls [--json]`: every host with its learned facts and load.
 */
#include "cli/verbs.h"

int loam_host_ls(int argc, char **argv)
{
	static const struct loam_col cols[] = {
	    {"NAME", "name"},
	    {"ARCH", "arch"},
	    {"STATE", "state"},
	    {"CPUS", "cpus"},
	    {"CORES", "cores"},
	    {"MEMORY_GIB", "memory_gib"},
	    {"USED_CORES", "used_cores"},
	    {"ACCEL", "accel"},
	    {"EMULATE", "emulate"},
	    {"LOCATION", "location"},
	    {"LABEL", "label"},
	};
	return loam_cli_list(argc, argv, "loam host ls [--json]", "/v1/hosts", cols,
			     sizeof(cols) / sizeof(cols[0]));
}
