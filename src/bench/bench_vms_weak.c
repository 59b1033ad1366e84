/*
 * A stand-in for `loam-bench vms` until bench_vms.c (the 200-VM benchmark,
 * wave/core) is merged: weak, so the real one replaces it at link time.
 * Delete this file once bench_vms.c is in the tree.
 */
#include <stdio.h>

#include "bench/bench.h"

__attribute__((weak)) int loam_bench_vms_main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "loam-bench: vms: not built in this tree\n");
	return 2;
}
