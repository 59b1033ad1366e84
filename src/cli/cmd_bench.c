/*
 * `loam bench ...`: placeholder until the allocator benchmark lands.
 */
#include <stdio.h>

#include "cli/cli.h"

int loam_cmd_bench(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "loam: bench: not implemented yet\n");
	return 1;
}
