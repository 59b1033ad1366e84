/*
 * CPU facts: the cpu-list format of sysfs ("0-3,8"), /proc/cpuinfo blocks,
 * and the per-CPU topology files summarized into cores, sockets, dies and
 * threads per core. Everything here is total on any input: malformed files
 * are refused with an error, never trusted.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/learn.h"
#include "lib/cleanup.h"

/* ---- cpu lists ---- */

static void cpuset_add(struct learn_cpuset *set, unsigned cpu)
{
	set->bits[cpu / 64] |= (uint64_t)1 << (cpu % 64);
}

bool learn_cpuset_has(const struct learn_cpuset *set, unsigned cpu)
{
	return cpu < LEARN_MAX_CPUS && (set->bits[cpu / 64] >> (cpu % 64)) & 1;
}

void learn_cpuset_and(struct learn_cpuset *set, const struct learn_cpuset *other)
{
	for (size_t i = 0; i < LEARN_MAX_CPUS / 64; i++)
		set->bits[i] &= other->bits[i];
}

unsigned learn_cpuset_count(const struct learn_cpuset *set)
{
	unsigned n = 0;
	for (size_t i = 0; i < LEARN_MAX_CPUS / 64; i++)
		n += (unsigned)__builtin_popcountll(set->bits[i]);
	return n;
}

static bool parse_cpu_number(const char **p, unsigned *out)
{
	const char *s = *p;
	unsigned v = 0;
	if (*s < '0' || *s > '9')
		return false;
	for (; *s >= '0' && *s <= '9'; s++) {
		v = v * 10 + (unsigned)(*s - '0');
		if (v >= LEARN_MAX_CPUS)
			return false;
	}
	*p = s;
	*out = v;
	return true;
}

static bool only_space(const char *s)
{
	return strspn(s, " \t\n") == strlen(s);
}

int learn_cpulist_parse(const char *s, struct learn_cpuset *set, loam_err *err)
{
	memset(set, 0, sizeof(*set));
	const char *p = s;
	if (only_space(p))
		return 0;
	for (;;) {
		unsigned lo, hi;
		if (!parse_cpu_number(&p, &lo))
			break;
		hi = lo;
		if (*p == '-') {
			p++;
			if (!parse_cpu_number(&p, &hi) || hi < lo)
				break;
		}
		for (unsigned c = lo; c <= hi; c++)
			cpuset_add(set, c);
		if (*p == ',') {
			p++;
			continue;
		}
		if (only_space(p))
			return 0;
		break;
	}
	return loam_fail(err, LOAM_E_INVALID, "malformed cpu list at offset %td (CPUs below %d)",
			 p - s, LEARN_MAX_CPUS);
}

int learn_parse_long(const char *s, long *out, loam_err *err)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (end == s || errno || !only_space(end) || strspn(s, "-0123456789") == 0)
		return loam_fail(err, LOAM_E_INVALID, "not a decimal integer: '%.32s'", s);
	*out = v;
	return 0;
}

/* ---- /proc/cpuinfo ---- */

static char *trimmed_dup(const char *s, size_t n)
{
	while (n && (*s == ' ' || *s == '\t')) {
		s++;
		n--;
	}
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
		n--;
	return strndup(s, n);
}

static int block_add(struct learn_cpuinfo_block *b, const char *line, size_t n)
{
	const char *colon = memchr(line, ':', n);
	if (!colon)
		return 0;
	struct learn_kv *kv = realloc(b->kv, (b->n + 1) * sizeof(*kv));
	if (!kv)
		return -1;
	b->kv = kv;
	kv[b->n].key = trimmed_dup(line, (size_t)(colon - line));
	kv[b->n].value = trimmed_dup(colon + 1, n - (size_t)(colon - line) - 1);
	if (!kv[b->n].key || !kv[b->n].value) {
		free(kv[b->n].key);
		free(kv[b->n].value);
		return -1;
	}
	b->n++;
	return 0;
}

static struct learn_cpuinfo_block *new_block(struct learn_cpuinfo *ci)
{
	struct learn_cpuinfo_block *b = realloc(ci->blocks, (ci->n + 1) * sizeof(*b));
	if (!b)
		return NULL;
	ci->blocks = b;
	b[ci->n] = (struct learn_cpuinfo_block){0};
	return &b[ci->n++];
}

static bool blank(const char *line, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (line[i] != ' ' && line[i] != '\t' && line[i] != '\r')
			return false;
	return true;
}

int learn_cpuinfo_parse(const char *buf, size_t len, struct learn_cpuinfo *out, loam_err *err)
{
	*out = (struct learn_cpuinfo){0};
	struct learn_cpuinfo_block *cur = NULL;
	for (size_t pos = 0; pos < len;) {
		const char *line = buf + pos;
		const char *nl = memchr(line, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - line) : len - pos;
		pos += n + 1;
		if (blank(line, n)) {
			cur = NULL;
			continue;
		}
		if (!memchr(line, ':', n))
			continue;
		if ((!cur && !(cur = new_block(out))) || block_add(cur, line, n) < 0) {
			learn_cpuinfo_free(out);
			return loam_fail(err, LOAM_E_INTERNAL, "out of memory");
		}
	}
	return 0;
}

void learn_cpuinfo_free(struct learn_cpuinfo *ci)
{
	for (size_t i = 0; i < ci->n; i++) {
		for (size_t j = 0; j < ci->blocks[i].n; j++) {
			free(ci->blocks[i].kv[j].key);
			free(ci->blocks[i].kv[j].value);
		}
		free(ci->blocks[i].kv);
	}
	free(ci->blocks);
	*ci = (struct learn_cpuinfo){0};
}

const char *learn_cpuinfo_get(const void *block, const char *key)
{
	const struct learn_cpuinfo_block *b = block;
	for (size_t i = 0; b && i < b->n; i++)
		if (strcmp(b->kv[i].key, key) == 0)
			return b->kv[i].value;
	return NULL;
}

const struct learn_cpuinfo_block *learn_cpuinfo_for_cpu(const struct learn_cpuinfo *ci,
							unsigned cpu)
{
	for (size_t i = 0; i < ci->n; i++) {
		const char *p = learn_cpuinfo_get(&ci->blocks[i], "processor");
		long v = -1;
		cleanup_err loam_err err = NULL;
		if (p && learn_parse_long(p, &v, &err) == 0 && v == (long)cpu)
			return &ci->blocks[i];
	}
	return ci->n ? &ci->blocks[0] : NULL;
}

/* ---- topology ---- */

static int cmp_long(long a, long b)
{
	return a < b ? -1 : a > b;
}

static int cmp_core(const void *pa, const void *pb)
{
	const struct learn_cpu_topo *a = pa, *b = pb;
	int c;
	if ((c = cmp_long(a->package, b->package)) || (c = cmp_long(a->die, b->die)) ||
	    (c = cmp_long(a->cluster, b->cluster)) || (c = cmp_long(a->core, b->core)))
		return c;
	return cmp_long(a->cpu, b->cpu);
}

static int cmp_type(const void *pa, const void *pb)
{
	const struct learn_cpu_topo *a = pa, *b = pb;
	int c = strcmp(a->model ? a->model : "", b->model ? b->model : "");
	return c ? c : cmp_long(a->capacity, b->capacity);
}

static bool same_package(const struct learn_cpu_topo *a, const struct learn_cpu_topo *b)
{
	return a->package == b->package;
}

static bool same_die(const struct learn_cpu_topo *a, const struct learn_cpu_topo *b)
{
	return same_package(a, b) && a->die == b->die;
}

static bool same_cluster(const struct learn_cpu_topo *a, const struct learn_cpu_topo *b)
{
	return same_die(a, b) && a->cluster == b->cluster;
}

static bool same_core(const struct learn_cpu_topo *a, const struct learn_cpu_topo *b)
{
	return same_cluster(a, b) && a->core == b->core;
}

static unsigned count_runs(const struct learn_cpu_topo *c, size_t n,
			   bool (*same)(const struct learn_cpu_topo *,
					const struct learn_cpu_topo *))
{
	unsigned runs = 0;
	for (size_t i = 0; i < n; i++)
		if (i == 0 || !same(&c[i - 1], &c[i]))
			runs++;
	return runs;
}

static int cmp_package(const void *pa, const void *pb)
{
	const struct learn_cpu_topo *a = pa, *b = pb;
	return cmp_long(a->package, b->package);
}

static void summarize_threads(const struct learn_cpu_topo *c, size_t n,
			      struct learn_topo_summary *out)
{
	unsigned most = 0, least = UINT_MAX, run = 0;
	for (size_t i = 0; i < n; i++) {
		run = i > 0 && same_core(&c[i - 1], &c[i]) ? run + 1 : 1;
		if (i + 1 == n || !same_core(&c[i], &c[i + 1])) {
			most = run > most ? run : most;
			least = run < least ? run : least;
		}
	}
	out->threads_uniform = n == 0 || most == least;
	out->threads_per_core = out->threads_uniform && out->cores ? out->cpus / out->cores : most;
}

void learn_topology_summarize(struct learn_cpu_topo *cpus, size_t n, struct learn_topo_summary *out)
{
	*out = (struct learn_topo_summary){.cpus = (unsigned)n};
	qsort(cpus, n, sizeof(*cpus), cmp_core);
	out->cores = count_runs(cpus, n, same_core);
	out->dies = count_runs(cpus, n, same_die);
	out->clusters = count_runs(cpus, n, same_cluster);
	summarize_threads(cpus, n, out);
	/* Packages are not contiguous in the core order when dies interleave. */
	qsort(cpus, n, sizeof(*cpus), cmp_package);
	out->sockets = count_runs(cpus, n, same_package);
	qsort(cpus, n, sizeof(*cpus), cmp_type);
	for (size_t i = 0; i < n; i++)
		if (i == 0 || cmp_type(&cpus[i - 1], &cpus[i]) != 0)
			out->core_types++;
}

/* A topology value, -1 when missing or unreadable (arm64 has no die_id,
 * offline CPUs have no topology at all). */
static long read_topo_value(const struct learn_root *root, unsigned cpu, const char *file)
{
	char rel[96];
	snprintf(rel, sizeof(rel), "sys/devices/system/cpu/cpu%u/%s", cpu, file);
	cleanup_free char *buf = NULL;
	cleanup_err loam_err err = NULL;
	long v = -1;
	if (learn_read(root, rel, 64, &buf, NULL, &err) < 0 || learn_parse_long(buf, &v, &err) < 0)
		return -1;
	return v;
}

int learn_topology_read(const struct learn_root *root, const struct learn_cpuset *set,
			struct learn_cpu_topo **out, size_t *n, loam_err *err)
{
	unsigned count = learn_cpuset_count(set);
	struct learn_cpu_topo *c = calloc(count ? count : 1, sizeof(*c));
	if (!c)
		return loam_fail(err, LOAM_E_INTERNAL, "out of memory");
	size_t i = 0;
	for (unsigned cpu = 0; cpu < LEARN_MAX_CPUS && i < count; cpu++) {
		if (!learn_cpuset_has(set, cpu))
			continue;
		c[i] = (struct learn_cpu_topo){
		    .cpu = cpu,
		    .package = read_topo_value(root, cpu, "topology/physical_package_id"),
		    .die = read_topo_value(root, cpu, "topology/die_id"),
		    .cluster = read_topo_value(root, cpu, "topology/cluster_id"),
		    .core = read_topo_value(root, cpu, "topology/core_id"),
		    .capacity = read_topo_value(root, cpu, "cpu_capacity"),
		};
		/* Without a core_id each CPU can only count as its own core. */
		if (c[i].core < 0)
			c[i].core = (long)cpu;
		i++;
	}
	*out = c;
	*n = i;
	return 0;
}
