/*
 * GET /metrics: the Prometheus text format (docs/metrics.md), readable
 * with the metrics token (STATE_DIR/metrics-token), a metrics-scope API
 * token (loam token create --metrics) or the operator token.
 * What the database holds is read at each scrape: hosts by arch and state,
 * each host's and each arch's cores, memory and 1 GiB hugepages (used and
 * total), VMs by state and arch, unfinished strands by prog and label.
 * Then the process's own counters and histograms (lib/metrics.h):
 * placement latency, request-to-running time, strand retries, API
 * requests and heartbeat misses.
 */
#include "api/internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/stats.h"
#include "lib/cleanup.h"
#include "lib/json.h"
#include "lib/metrics.h"
#include "lib/xalloc.h"

#define GIB ((double)(1ULL << 30))

static void family(FILE *f, const char *name, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name);
}

/* name{k1="v1",k2="v2"} value; keys and values NULL-terminated pairs. */
static void sample(FILE *f, const char *name, const char *const *kv, double value)
{
	fputs(name, f);
	for (size_t i = 0; kv[i]; i += 2) {
		fprintf(f, "%s%s=\"", i ? "," : "{", kv[i]);
		loam_metrics_write_label_value(f, kv[i + 1]);
		fputc('"', f);
	}
	fprintf(f, "%s %.17g\n", kv[0] ? "}" : "", value);
}

static const char *arch_of(const struct loam_host *h)
{
	return h->arch ? h->arch : "unknown";
}

static double allocatable(const struct loam_host *h)
{
	return floor((double)h->total_cores * h->cpu_overcommit);
}

struct host_gauge {
	const char *suffix, *help;
	double (*value)(const struct loam_host *h);
};

static double cores(const struct loam_host *h)
{
	return (double)h->total_cores;
}
static double cores_used(const struct loam_host *h)
{
	return (double)h->used_cores;
}
static double mem(const struct loam_host *h)
{
	return (double)h->total_mem_gib * GIB;
}
static double mem_used(const struct loam_host *h)
{
	return (double)h->used_memory_gib * GIB;
}
static double huge(const struct loam_host *h)
{
	return (double)h->total_hugepages_1g;
}
static double huge_used(const struct loam_host *h)
{
	return (double)h->used_hugepages_1g;
}

static const struct host_gauge gauges[] = {
    {"cores", "Physical cores (as loam host ls shows them).", cores},
    {"cores_allocatable", "Cores VMs may take: physical cores times the overcommit factor.",
     allocatable},
    {"cores_used", "Cores taken by the VMs placed there.", cores_used},
    {"memory_bytes", "Memory.", mem},
    {"memory_used_bytes", "Memory taken by the VMs placed there.", mem_used},
    {"hugepages_1g", "1 GiB hugepages.", huge},
    {"hugepages_1g_used", "1 GiB hugepages taken by VMs.", huge_used},
};

static void per_host(FILE *f, const struct loam_hosts *hosts, const struct host_gauge *g)
{
	char name[96], help[160];
	snprintf(name, sizeof(name), "loam_host_%s", g->suffix);
	snprintf(help, sizeof(help), "Per host: %s", g->help);
	family(f, name, help);
	for (size_t i = 0; i < hosts->n; i++) {
		const struct loam_host *h = &hosts->v[i];
		sample(f, name,
		       (const char *const[]){"host", h->name, "arch", arch_of(h), "location",
					     h->location, NULL},
		       g->value(h));
	}
}

/* Sums per arch, in the order arches first appear. */
static void per_arch(FILE *f, const struct loam_hosts *hosts, const struct host_gauge *g)
{
	char name[96], help[160];
	snprintf(name, sizeof(name), "loam_arch_%s", g->suffix);
	snprintf(help, sizeof(help), "Per host arch, summed over its hosts: %s", g->help);
	family(f, name, help);
	for (size_t i = 0; i < hosts->n; i++) {
		bool seen = false;
		for (size_t j = 0; j < i && !seen; j++)
			seen = strcmp(arch_of(&hosts->v[j]), arch_of(&hosts->v[i])) == 0;
		if (seen)
			continue;
		double sum = 0;
		for (size_t j = i; j < hosts->n; j++)
			if (strcmp(arch_of(&hosts->v[j]), arch_of(&hosts->v[i])) == 0)
				sum += g->value(&hosts->v[j]);
		sample(f, name, (const char *const[]){"arch", arch_of(&hosts->v[i]), NULL}, sum);
	}
}

static void hosts_by_state(FILE *f, const struct loam_hosts *hosts)
{
	family(f, "loam_hosts", "Hosts by arch and allocation state.");
	for (size_t i = 0; i < hosts->n; i++) {
		const struct loam_host *h = &hosts->v[i];
		bool seen = false;
		for (size_t j = 0; j < i && !seen; j++)
			seen = hosts->v[j].state == h->state &&
			       strcmp(arch_of(&hosts->v[j]), arch_of(h)) == 0;
		if (seen)
			continue;
		int n = 0;
		for (size_t j = i; j < hosts->n; j++)
			n += hosts->v[j].state == h->state &&
			     strcmp(arch_of(&hosts->v[j]), arch_of(h)) == 0;
		sample(f, "loam_hosts",
		       (const char *const[]){"arch", arch_of(h), "state",
					     loam_host_state_name(h->state), NULL},
		       n);
	}
	family(f, "loam_host_last_seen_timestamp_seconds",
	       "When the host's agent last answered a heartbeat (unix time).");
	for (size_t i = 0; i < hosts->n; i++)
		if (hosts->v[i].seen)
			sample(f, "loam_host_last_seen_timestamp_seconds",
			       (const char *const[]){"host", hosts->v[i].name, NULL},
			       (double)hosts->v[i].last_seen_at / 1000.0);
}

static void grouped(FILE *f, const char *name, const char *help, const char *ka, const char *kb,
		    const struct loam_stats *s)
{
	family(f, name, help);
	for (size_t i = 0; i < s->n; i++)
		sample(f, name, (const char *const[]){ka, s->v[i].a, kb, s->v[i].b, NULL},
		       (double)s->v[i].n);
}

static int write_db_gauges(FILE *f, struct loam_db *db, loam_err *err)
{
	cleanup_hosts struct loam_hosts hosts = {0};
	cleanup_stats struct loam_stats vms = {0}, strands = {0};
	if (loam_host_list(db, &hosts, err) < 0 || loam_stats_vms(db, &vms, err) < 0 ||
	    loam_stats_strands(db, &strands, err) < 0)
		return -1;
	hosts_by_state(f, &hosts);
	for (size_t i = 0; i < sizeof(gauges) / sizeof(gauges[0]); i++)
		per_host(f, &hosts, &gauges[i]);
	for (size_t i = 0; i < sizeof(gauges) / sizeof(gauges[0]); i++)
		per_arch(f, &hosts, &gauges[i]);
	grouped(f, "loam_vms", "VMs by state and arch.", "state", "arch", &vms);
	grouped(f, "loam_strands", "Unfinished strands (durable jobs) by prog and current label.",
		"prog", "label", &strands);
	return 0;
}

/* The operator, the metrics-token file's token or a metrics-scope API
 * token: the API's one check (auth.h). */
static bool metrics_auth_ok(struct loam_api *api, const char *auth)
{
	struct loam_db *db = NULL;
	struct loam_principal who;
	cleanup_err loam_err err = NULL;
	int rc = api_authenticate(api, auth, &db, &who, &err);
	if (db)
		api_pool_put(api, db);
	return rc == 0 && loam_principal_reads_metrics(&who);
}

static void fail(struct loam_api_response *resp, int status, const char *kind, const char *detail)
{
	resp->status = status;
	cleanup_json json_t *doc = json_pack("{s:s, s:s}", "error", kind, "detail", detail);
	resp->body = loam_json_dump(doc);
}

void api_metrics(struct loam_api *api, const char *auth, struct loam_api_response *resp)
{
	snprintf(resp->route, sizeof(resp->route), "/metrics");
	if (!metrics_auth_ok(api, auth)) {
		fail(resp, 401, "unauthorized",
		     "missing or wrong bearer token; send the metrics token "
		     "(STATE_DIR/metrics-token), one made by 'loam token create --metrics', "
		     "or the operator token (STATE_DIR/token)");
		return;
	}
	struct loam_db *db = NULL;
	cleanup_err loam_err err = NULL;
	char *text = NULL;
	size_t len = 0;
	FILE *f = xalloc_check(open_memstream(&text, &len));
	int rc = api_pool_get(api, &db, &err);
	if (rc == 0) {
		rc = write_db_gauges(f, db, &err);
		api_pool_put(api, db);
	}
	loam_metrics_write(f);
	fclose(f);
	if (rc < 0) {
		free(text);
		fail(resp, loam_err_http_status(err), loam_err_kind_name(loam_err_kind_of(err)),
		     loam_err_msg(err));
		return;
	}
	resp->status = 200;
	resp->body = text;
}
