/*
 * The scratch folder of one benchmark run, under $TMPDIR (else /tmp), so
 * that a test can give each run a folder of its own and check that the
 * benchmark leaves nothing behind.
 */
#include <stdio.h>
#include <stdlib.h>

#include "bench/bench.h"

int loam_bench_mkdtemp(const char *name, char *dir, size_t len, loam_err *err)
{
	const char *base = getenv("TMPDIR");
	if (!base || !*base)
		base = "/tmp";
	int n = snprintf(dir, len, "%s/loam-bench-%s.XXXXXX", base, name);
	if (n < 0 || (size_t)n >= len) {
		dir[0] = '\0';
		return loam_fail(err, LOAM_E_INVALID, "TMPDIR %s is too long for a scratch folder",
				 base);
	}
	if (!mkdtemp(dir)) {
		dir[0] = '\0';
		return loam_fail_errno(err, "mkdtemp %s/loam-bench-%s.XXXXXX", base, name);
	}
	return 0;
}
