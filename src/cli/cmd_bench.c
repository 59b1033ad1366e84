/*
 * `loam bench alloc|boot|vms ...`: the benchmarks are their own binary,
 * loam-bench (src/bench/), so that loam links only libloam and libcurl.
 * This alias keeps the documented command: it runs the loam-bench next to
 * this binary, else the one on PATH, with the same arguments, so its
 * output and exit status are loam-bench's.
 */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

#define BENCH_BINARY "loam-bench"

int loam_cmd_bench(int argc, char **argv)
{
	(void)argc;
	char name[] = BENCH_BINARY, exe[PATH_MAX], path[PATH_MAX + sizeof(BENCH_BINARY) + 1];
	argv[0] = name; /* argv is NULL-terminated: main's own, from "bench" on */
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		snprintf(path, sizeof(path), "%s/%s", dirname(exe), BENCH_BINARY);
		if (access(path, X_OK) == 0)
			execv(path, argv);
	}
	execvp(BENCH_BINARY, argv);
	fprintf(stderr,
		"loam: bench: cannot run %s (%s); it is built next to loam in build/bin/, or put "
		"it on PATH\n",
		BENCH_BINARY, strerror(errno));
	return 1;
}
