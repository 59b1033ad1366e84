/*
 * The registry behind lib/metrics.h: one table of metric definitions and,
 * per metric, a list of series keyed by their label values, under one
 * mutex. The label sets are small and bounded (routes, progs and labels,
 * arches, hosts), so a series is found by a linear scan.
 */
#include "lib/metrics.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/xalloc.h"

#define MAX_LABELS  3
#define MAX_BUCKETS 16

enum metric_type { COUNTER, HISTOGRAM };

struct metric_def {
	const char *name, *help;
	enum metric_type type;
	const char *labels[MAX_LABELS + 1]; /* NULL-terminated */
	double buckets[MAX_BUCKETS];	    /* upper bounds, ascending; 0 ends */
};

static const struct metric_def defs[LOAM_METRIC_COUNT] = {
    [LOAM_METRIC_PLACEMENT_SECONDS] =
	{"loam_placement_duration_seconds",
	 "Time the allocator took to place one VM (result: placed, no_capacity or error).",
	 HISTOGRAM,
	 {"result", NULL},
	 {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5}},
    [LOAM_METRIC_TIME_TO_RUNNING_SECONDS] =
	{"loam_vm_time_to_running_seconds",
	 "Time from a VM's create request to its first running state, by arch and image.",
	 HISTOGRAM,
	 {"arch", "image", NULL},
	 {1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1200}},
    [LOAM_METRIC_STRAND_RETRIES] = {"loam_strand_retries_total",
				    "Failed label runs of strands, each retried with backoff.",
				    COUNTER,
				    {"prog", "label", NULL},
				    {0}},
    [LOAM_METRIC_API_REQUESTS] = {"loam_api_requests_total",
				  "HTTP requests served by loamd, by route, method and status.",
				  COUNTER,
				  {"route", "method", "code", NULL},
				  {0}},
    [LOAM_METRIC_HEARTBEAT_MISSES] = {"loam_heartbeat_misses_total",
				      "Host heartbeats that got no answer from the host's agent.",
				      COUNTER,
				      {"host", NULL},
				      {0}},
};

struct series {
	struct series *next;
	char *values[MAX_LABELS];
	double sum;
	unsigned long long count;
	unsigned long long buckets[MAX_BUCKETS]; /* per bucket, not cumulative */
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct series *heads[LOAM_METRIC_COUNT];

static size_t nlabels(const struct metric_def *d)
{
	size_t n = 0;
	while (n < MAX_LABELS && d->labels[n])
		n++;
	return n;
}

static size_t nbuckets(const struct metric_def *d)
{
	size_t n = 0;
	while (n < MAX_BUCKETS && d->buckets[n] > 0)
		n++;
	return n;
}

/* Under mu. */
static struct series *find_or_add(enum loam_metric m, const char *const *values)
{
	size_t n = nlabels(&defs[m]);
	for (struct series *s = heads[m]; s; s = s->next) {
		bool same = true;
		for (size_t i = 0; i < n && same; i++)
			same = strcmp(s->values[i], values[i] ? values[i] : "") == 0;
		if (same)
			return s;
	}
	struct series *s = xcalloc(1, sizeof(*s));
	for (size_t i = 0; i < n; i++)
		s->values[i] = xstrdup(values[i] ? values[i] : "");
	s->next = heads[m];
	heads[m] = s;
	return s;
}

void loam_metric_inc_v(enum loam_metric m, const char *const *values)
{
	pthread_mutex_lock(&mu);
	find_or_add(m, values)->count++;
	pthread_mutex_unlock(&mu);
}

void loam_metric_observe_v(enum loam_metric m, double value, const char *const *values)
{
	const struct metric_def *d = &defs[m];
	size_t nb = nbuckets(d), b = 0;
	while (b < nb && value > d->buckets[b])
		b++;
	pthread_mutex_lock(&mu);
	struct series *s = find_or_add(m, values);
	s->count++;
	s->sum += value;
	if (b < nb)
		s->buckets[b]++;
	pthread_mutex_unlock(&mu);
}

double loam_metric_clock(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void loam_metrics_write_label_value(FILE *out, const char *value)
{
	for (const char *p = value; *p; p++) {
		if (*p == '\\')
			fputs("\\\\", out);
		else if (*p == '"')
			fputs("\\\"", out);
		else if (*p == '\n')
			fputs("\\n", out);
		else
			fputc(*p, out);
	}
}

/* {a="x",b="y"[,le="..."]}, or nothing without labels. */
static void write_labels(FILE *out, const struct metric_def *d, const struct series *s,
			 const char *le)
{
	size_t n = nlabels(d);
	if (n == 0 && !le)
		return;
	fputc('{', out);
	for (size_t i = 0; i < n; i++) {
		fprintf(out, "%s%s=\"", i ? "," : "", d->labels[i]);
		loam_metrics_write_label_value(out, s->values[i]);
		fputc('"', out);
	}
	if (le)
		fprintf(out, "%sle=\"%s\"", n ? "," : "", le);
	fputc('}', out);
}

static void write_histogram(FILE *out, const struct metric_def *d, const struct series *s)
{
	unsigned long long cumulative = 0;
	char le[32];
	for (size_t b = 0; b < nbuckets(d); b++) {
		cumulative += s->buckets[b];
		snprintf(le, sizeof(le), "%g", d->buckets[b]);
		fprintf(out, "%s_bucket", d->name);
		write_labels(out, d, s, le);
		fprintf(out, " %llu\n", cumulative);
	}
	fprintf(out, "%s_bucket", d->name);
	write_labels(out, d, s, "+Inf");
	fprintf(out, " %llu\n%s_sum", s->count, d->name);
	write_labels(out, d, s, NULL);
	fprintf(out, " %.6f\n%s_count", s->sum, d->name);
	write_labels(out, d, s, NULL);
	fprintf(out, " %llu\n", s->count);
}

void loam_metrics_write(FILE *out)
{
	pthread_mutex_lock(&mu);
	for (int m = 0; m < LOAM_METRIC_COUNT; m++) {
		const struct metric_def *d = &defs[m];
		fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", d->name, d->help, d->name,
			d->type == COUNTER ? "counter" : "histogram");
		for (const struct series *s = heads[m]; s; s = s->next) {
			if (d->type == HISTOGRAM) {
				write_histogram(out, d, s);
				continue;
			}
			fputs(d->name, out);
			write_labels(out, d, s, NULL);
			fprintf(out, " %llu\n", s->count);
		}
	}
	pthread_mutex_unlock(&mu);
}

void loam_metrics_reset(void)
{
	pthread_mutex_lock(&mu);
	for (int m = 0; m < LOAM_METRIC_COUNT; m++) {
		while (heads[m]) {
			struct series *s = heads[m];
			heads[m] = s->next;
			for (size_t i = 0; i < MAX_LABELS; i++)
				free(s->values[i]);
			free(s);
		}
	}
	pthread_mutex_unlock(&mu);
}
