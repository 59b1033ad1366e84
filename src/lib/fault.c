/*
 * Test-build fault points (see fault.h): counts the passes through the
 * point LOAM_FAULT names and SIGKILLs this process on the chosen pass,
 * after one line on stderr so that the harness can tell which kill landed.
 */
#include "lib/fault.h"

#ifdef LOAM_TEST_BUILD
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static atomic_long passes;

/* LOAM_FAULT=name[:count]: the count after the last ':' when it is a number. */
static bool selects(const char *spec, const char *name, long *count)
{
	const char *colon = strrchr(spec, ':');
	char *end = NULL;
	long n = colon ? strtol(colon + 1, &end, 10) : 0;
	bool has_count = colon && end != colon + 1 && *end == '\0' && n > 0;
	size_t len = has_count ? (size_t)(colon - spec) : strlen(spec);
	*count = has_count ? n : 1;
	return strlen(name) == len && strncmp(spec, name, len) == 0;
}

void loam_fault_point(const char *name)
{
	const char *spec = getenv("LOAM_FAULT");
	long count = 1;
	if (!spec || !selects(spec, name, &count))
		return;
	if (atomic_fetch_add(&passes, 1) + 1 != count)
		return;
	char line[160];
	int n =
	    snprintf(line, sizeof(line), "loam: fault point %s (pass %ld): SIGKILL\n", name, count);
	if (n > 0 && write(STDERR_FILENO, line, (size_t)n) < 0)
		line[0] = '\0';
	raise(SIGKILL);
}
#endif
