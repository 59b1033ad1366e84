/*
 * Process-wide counters and histograms for loamd's /metrics
 * (src/api/metrics.c): the events that the database cannot tell
 * afterwards (how long a placement took, how long a VM took from request
 * to running, a strand's retries, API requests, missed heartbeats). The
 * engine, the allocator, the progs and the API record into it with one
 * call; what the database holds (hosts, VMs, strands) is read at scrape
 * time instead. Thread-safe. Counters start at zero in each process, as
 * Prometheus expects of a restarted target.
 *
 * Adding a metric: one enum value here and one row in metrics.c's table
 * (name, help, type, label names, buckets).
 */
#ifndef LOAM_LIB_METRICS_H
#define LOAM_LIB_METRICS_H

#include <stdio.h>

enum loam_metric {
	LOAM_METRIC_PLACEMENT_SECONDS,	     /* histogram {result} */
	LOAM_METRIC_TIME_TO_RUNNING_SECONDS, /* histogram {arch, image} */
	LOAM_METRIC_STRAND_RETRIES,	     /* counter {prog, label} */
	LOAM_METRIC_API_REQUESTS,	     /* counter {route, method, code} */
	LOAM_METRIC_HEARTBEAT_MISSES,	     /* counter {host} */
	LOAM_METRIC_COUNT
};

/* Label values in the order the metric declares its label names; a NULL
 * value is recorded as "". */
void loam_metric_inc_v(enum loam_metric m, const char *const *values);
void loam_metric_observe_v(enum loam_metric m, double value, const char *const *values);
#define LOAM_METRIC_INC(m, ...) loam_metric_inc_v((m), (const char *const[]){__VA_ARGS__})
#define LOAM_METRIC_OBSERVE(m, v, ...)                                                             \
	loam_metric_observe_v((m), (v), (const char *const[]){__VA_ARGS__})

/* Seconds on the monotonic clock, for timing what a histogram observes. */
double loam_metric_clock(void);

/* Writes every metric in the Prometheus text format (HELP, TYPE, then the
 * series; a metric with no series yet gets its HELP and TYPE only). */
void loam_metrics_write(FILE *out);
/* Writes a label value escaped as the text format wants (\\, \", \n). */
void loam_metrics_write_label_value(FILE *out, const char *value);
/* Forgets every series (tests). */
void loam_metrics_reset(void);

#endif
