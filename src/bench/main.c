/*
 * loam-bench: the benchmarks, a binary of their own so that the loam CLI
 * links only libloam and libcurl (`loam bench ...` runs this binary; see
 * src/cli/cmd_bench.c). Dispatches `loam-bench alloc|boot|vms ARGS...`.
 */
#include <stdio.h>
#include <string.h>

#include "bench/bench.h"
#include "lib/log.h"

static const struct {
	const char *name, *usage;
	int (*run)(int argc, char **argv);
} benches[] = {
    {"alloc", "alloc --hosts N --vms M [--db URL] [--clients C]   the allocator",
     loam_bench_alloc_main},
    {"boot", "boot --arch A [--runs N] [--direct-kernel]   one VM's boot", loam_bench_boot_main},
    {"vms", "vms ...   many VMs at once on simulated hosts", loam_bench_vms_main},
};

static int usage(FILE *out)
{
	fprintf(out, "usage: loam-bench BENCHMARK [ARGS...] (or: loam bench ...)\n\n");
	for (size_t i = 0; i < sizeof(benches) / sizeof(benches[0]); i++)
		fprintf(out, "  %s\n", benches[i].usage);
	return out == stdout ? 0 : 2;
}

int main(int argc, char **argv)
{
	loam_log_init("loam-bench", false, LOAM_LOG_INFO);
	if (argc < 2)
		return usage(stderr);
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0)
		return usage(stdout);
	for (size_t i = 0; i < sizeof(benches) / sizeof(benches[0]); i++)
		if (strcmp(argv[1], benches[i].name) == 0)
			return benches[i].run(argc - 1, argv + 1);
	fprintf(stderr, "loam-bench: unknown benchmark '%.64s'\n", argv[1]);
	return usage(stderr);
}
