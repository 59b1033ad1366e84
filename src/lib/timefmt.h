/*
 * Times as people and programs read them. The API keeps unix milliseconds
 * (docs/api.md); the CLI's `show` and the web console print them in UTC
 * with how long ago they were, and the CLI's --json gives ISO 8601, all
 * through these helpers so that every view agrees.
 */
#ifndef LOAM_LIB_TIMEFMT_H
#define LOAM_LIB_TIMEFMT_H

#include <stddef.h>
#include <stdint.h>

#define LOAM_ISO8601_LEN 32

/* The wall clock in unix milliseconds. */
int64_t loam_time_wall_ms(void);
/* "2026-12-02T10:15:03.123Z". */
void loam_time_iso8601(int64_t ms, char out[LOAM_ISO8601_LEN]);
/* "2026-12-02 10:15:03 UTC (3 min ago)", or "(in 5 s)" for a time ahead
 * of now_ms. */
void loam_time_human(int64_t ms, int64_t now_ms, char *out, size_t size);
/* "3 min ago", "in 5 s", "just now". */
void loam_time_ago(int64_t ms, int64_t now_ms, char *out, size_t size);

#endif
