/*
 * `loam-bench alloc --hosts N --vms M [--db URL] [--clients C]
 *                   [--batch B] [--baseline-vms K] [--seed S]`
 *
 * Measures the allocator against the seed's SQL allocator (baseline.c) on
 * the same synthetic fleet and request stream, each run on its own fresh
 * copy of the database (temp SQLite files, or scratch schemas on the
 * PostgreSQL server given by --db) with the same durability settings. The
 * baseline runs the first K requests of the stream (default min(M, 3000),
 * at least 2000) because it is slow; `baseline.ran` says how many. After
 * each run an independent SQL check counts over-committed or drifted hosts.
 * Prints one JSON object (docs/design.md §4); `loam bench alloc` runs this.
 *
 * The requests are VM rows already created (state 'creating'), i.e. a
 * queue of pending VMs. loam drains it B at a time (default 32) with
 * loam_alloc_place_batch, one group commit per batch, as loamd does for
 * VMs waiting to be placed; each request's latency is its batch's. The
 * seed placed one VM per transaction, and so does the baseline. --batch 1
 * measures loam one placement per transaction too.
 *
 * Fleet: 3 locations; each arch's share of the hosts and its server shapes
 * come from the arch registry (fleet_host_pct, fleet_servers: ~70% x64
 * with 32, 64 or 96 SMT cores, ~30% arm64 with 80 or 128 cores); about
 * half have 1 GiB hugepages; 5% are not accepting. Requests: each arch's
 * fleet_vm_pct (75% x64), sizes from standard-2 (most) to standard-60
 * (rare), locations uniform.
 */
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "alloc/alloc.h"
#include "arch/arch.h"
#include "bench/bench.h"
#include "db/db.h"
#include "db/records.h"
#include "lib/cleanup.h"
#include "lib/json.h"
#include "lib/xalloc.h"

#define INSERT_BATCH  200
#define MAX_BATCH     256
#define DEFAULT_BATCH 32
#define MAX_CHOICES   16 /* arches, or server shapes of one arch */

static const char *const locations[] = {"fsn1", "hel1", "nbg1"};

struct opts {
	long hosts, vms, clients, baseline_vms, batch;
	unsigned long long seed;
	const char *db;
};

/* splitmix64: small, fast and the same on every machine. */
static uint64_t rnd(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static unsigned pct(uint64_t *s)
{
	return (unsigned)(rnd(s) % 100);
}

struct fleet_host {
	char id[27], name[32];
	const char *location, *arch, *state;
	int cores, tpc, mem, huge, storage;
};

struct request {
	char id[27], name[32];
	const char *arch, *location;
	const struct loam_size *size;
};

struct workload {
	struct fleet_host *hosts;
	struct request *reqs;
};

/*
 * The index of the weight that one draw lands on. The slices are laid from
 * the top down, so that the fleet of a given --seed stays the one the
 * figures in docs/ were measured on.
 */
static size_t weighted_pick(const unsigned *weights, size_t n, uint64_t *s)
{
	uint64_t total = 0;
	for (size_t i = 0; i < n; i++)
		total += weights[i];
	uint64_t r = total ? rnd(s) % total : 0, top = total;
	for (size_t i = 0; i + 1 < n; i++) {
		top -= weights[i];
		if (r >= top)
			return i;
	}
	return n - 1;
}

/* An arch drawn by each arch's share of hosts (for_vms false) or of VMs. */
static const struct loam_arch *pick_arch(bool for_vms, uint64_t *s)
{
	unsigned weights[MAX_CHOICES];
	size_t n = 0;
	for (; n < MAX_CHOICES && loam_arches[n]; n++)
		weights[n] =
		    for_vms ? loam_arches[n]->fleet_vm_pct : loam_arches[n]->fleet_host_pct;
	return loam_arches[weighted_pick(weights, n, s)];
}

static const struct loam_server_shape *pick_server(const struct loam_arch *a, uint64_t *s)
{
	unsigned weights[MAX_CHOICES];
	size_t n = 0;
	for (; n < MAX_CHOICES && a->fleet_servers[n].cores; n++)
		weights[n] = a->fleet_servers[n].weight;
	return &a->fleet_servers[weighted_pick(weights, n, s)];
}

static void make_host(struct fleet_host *h, long i, uint64_t *s)
{
	snprintf(h->name, sizeof(h->name), "host-%ld", i);
	loam_db_new_id(h->id);
	h->location = locations[rnd(s) % 3];
	h->state = pct(s) < 95 ? "accepting" : "draining";
	const struct loam_arch *a = pick_arch(false, s);
	const struct loam_server_shape *shape = pick_server(a, s);
	h->arch = a->name;
	h->cores = (int)shape->cores;
	h->tpc = (int)shape->threads_per_core;
	h->mem = (int)shape->memory_gib;
	h->huge = pct(s) < 50 ? h->mem - 32 : 0; /* 32 GiB stay with the host */
	h->storage = h->cores * h->tpc * 30;
}

static void make_request(struct request *r, long i, uint64_t *s)
{
	static const unsigned weights[] = {35, 30, 20, 10, 4, 1}; /* standard-2 .. -60 */
	snprintf(r->name, sizeof(r->name), "vm-%ld", i);
	loam_db_new_id(r->id);
	const struct loam_arch *a = pick_arch(true, s);
	r->arch = a->name;
	r->location = locations[rnd(s) % 3];
	unsigned p = pct(s), k = 0, acc = weights[0];
	while (p >= acc && k < 5)
		acc += weights[++k];
	r->size = &a->sizes[k];
}

static void make_workload(const struct opts *o, struct workload *w)
{
	uint64_t s = o->seed;
	w->hosts = xcalloc((size_t)o->hosts, sizeof(*w->hosts));
	w->reqs = xcalloc((size_t)o->vms, sizeof(*w->reqs));
	for (long i = 0; i < o->hosts; i++)
		make_host(&w->hosts[i], i, &s);
	for (long i = 0; i < o->vms; i++)
		make_request(&w->reqs[i], i, &s);
}

/* ---------- loading a fresh database ---------- */

struct load_ctx {
	const struct opts *o;
	const struct workload *w;
};

/* "INSERT INTO t (cols) VALUES (?,..),(?,..)" for n rows of k columns. */
static char *insert_sql(const char *head, size_t k, size_t n)
{
	size_t len = strlen(head) + n * (2 * k + 3) + 1;
	char *sql = xmalloc(len);
	char *p = sql + sprintf(sql, "%s", head);
	for (size_t i = 0; i < n; i++) {
		*p++ = i ? ',' : ' ';
		*p++ = '(';
		for (size_t j = 0; j < k; j++) {
			*p++ = '?';
			if (j + 1 < k)
				*p++ = ',';
		}
		*p++ = ')';
	}
	*p = '\0';
	return sql;
}

#define HOST_K 17
static const char host_head[] =
    "INSERT INTO host (id, name, transport, address, location, arch, allocation_state, "
    "cpus, total_cores, threads_per_core, total_mem_gib, total_hugepages_1g, "
    "total_storage_gib, available_storage_gib, kvm, accel, created_at) VALUES";

static void host_args(const struct fleet_host *h, struct loam_db_val *v, int64_t now)
{
	struct loam_db_val row[HOST_K] = {
	    DB_TEXT(h->id),	  DB_TEXT(h->name),   DB_TEXT("ssh"),	 DB_TEXT("192.0.2.1"),
	    DB_TEXT(h->location), DB_TEXT(h->arch),   DB_TEXT(h->state), DB_INT(h->cores * h->tpc),
	    DB_INT(h->cores),	  DB_INT(h->tpc),     DB_INT(h->mem),	 DB_INT(h->huge),
	    DB_INT(h->storage),	  DB_INT(h->storage), DB_INT(1),	 DB_TEXT("kvm"),
	    DB_INT(now),
	};
	memcpy(v, row, sizeof(row));
}

#define VM_K 9
static const char vm_head[] = "INSERT INTO vm (id, name, arch, size, vcpus, memory_gib, "
			      "storage_gib, location, created_at) VALUES";

static void vm_args(const struct request *r, struct loam_db_val *v, int64_t now)
{
	struct loam_db_val row[VM_K] = {
	    DB_TEXT(r->id),
	    DB_TEXT(r->name),
	    DB_TEXT(r->arch),
	    DB_TEXT(r->size->name),
	    DB_INT(r->size->vcpus),
	    DB_INT(r->size->memory_gib),
	    DB_INT(loam_size_storage_gib(r->size)),
	    DB_TEXT(r->location),
	    DB_INT(now),
	};
	memcpy(v, row, sizeof(row));
}

static int load_fn(struct loam_db *db, void *ctx, loam_err *err)
{
	struct load_ctx *c = ctx;
	int64_t now = loam_db_now_ms();
	struct loam_db_val *v = xcalloc((size_t)INSERT_BATCH * (HOST_K), sizeof(*v));
	int rc = 0;
	for (long i = 0; rc == 0 && i < c->o->hosts; i += INSERT_BATCH) {
		size_t n =
		    (size_t)(c->o->hosts - i < INSERT_BATCH ? c->o->hosts - i : INSERT_BATCH);
		for (size_t j = 0; j < n; j++)
			host_args(&c->w->hosts[i + (long)j], v + j * (HOST_K), now);
		cleanup_free char *sql = insert_sql(host_head, HOST_K, n);
		rc = loam_db_exec(db, sql, v, n * (HOST_K), NULL, err);
	}
	for (long i = 0; rc == 0 && i < c->o->vms; i += INSERT_BATCH) {
		size_t n = (size_t)(c->o->vms - i < INSERT_BATCH ? c->o->vms - i : INSERT_BATCH);
		for (size_t j = 0; j < n; j++)
			vm_args(&c->w->reqs[i + (long)j], v + j * VM_K, now);
		cleanup_free char *sql = insert_sql(vm_head, VM_K, n);
		rc = loam_db_exec(db, sql, v, n * VM_K, NULL, err);
	}
	free(v);
	return rc;
}

static int prepare_db(const char *url, const struct opts *o, const struct workload *w,
		      loam_err *err)
{
	struct loam_db *db = NULL;
	if (loam_db_open(url, &db, err) < 0)
		return -1;
	struct load_ctx c = {o, w};
	int rc = loam_db_migrate(db, err);
	if (rc == 0)
		rc = loam_db_sync_sizes(db, err);
	if (rc == 0)
		rc = loam_db_tx(db, load_fn, &c, err);
	if (rc == 0 && loam_db_backend_of(db) == LOAM_DB_POSTGRES)
		rc = loam_db_script(db, "ANALYZE", err);
	loam_db_close(db);
	return rc;
}

/* ---------- running ---------- */

struct run {
	const char *url;
	const struct workload *w;
	long n;	    /* requests to run */
	long batch; /* loam: requests per group commit */
	bool baseline;
	struct loam_allocator *alloc;
	atomic_long next, placed, nocap, failed;
	int64_t *lat_us;
	char first_error[256];
	pthread_mutex_t mu;
};

static int64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void note_error(struct run *r, loam_err e)
{
	pthread_mutex_lock(&r->mu);
	if (!r->first_error[0])
		snprintf(r->first_error, sizeof(r->first_error), "%s", loam_err_msg(e));
	pthread_mutex_unlock(&r->mu);
}

static void count_result(struct run *r, int rc, loam_err e);

static void place_one(struct run *r, struct loam_db *db, long i)
{
	struct loam_alloc_result res;
	struct loam_alloc_request req = {.vm_id = r->w->reqs[i].id};
	cleanup_err loam_err e = NULL;
	int64_t t0 = now_us();
	int rc = r->baseline ? loam_alloc_baseline_place(db, req.vm_id, &res, &e)
			     : loam_alloc_place(r->alloc, db, &req, &res, &e);
	r->lat_us[i] = now_us() - t0;
	count_result(r, rc, e);
}

static void count_result(struct run *r, int rc, loam_err e)
{
	if (rc == 0)
		atomic_fetch_add(&r->placed, 1);
	else if (loam_err_kind_of(e) == LOAM_E_NOCAPACITY)
		atomic_fetch_add(&r->nocap, 1);
	else {
		atomic_fetch_add(&r->failed, 1);
		note_error(r, e);
	}
}

/* Requests [i, i + n) with one group commit; each request's latency is the
 * whole batch's, since that is how long its caller waits. */
static void place_batch(struct run *r, struct loam_db *db, long i, long n)
{
	struct loam_alloc_request reqs[MAX_BATCH];
	struct loam_alloc_result res[MAX_BATCH];
	loam_err errs[MAX_BATCH] = {0};
	for (long k = 0; k < n; k++)
		reqs[k] = (struct loam_alloc_request){.vm_id = r->w->reqs[i + k].id};
	cleanup_err loam_err e = NULL;
	int64_t t0 = now_us();
	int rc = loam_alloc_place_batch(r->alloc, db, reqs, (size_t)n, res, errs, &e);
	int64_t dt = now_us() - t0;
	for (long k = 0; k < n; k++) {
		r->lat_us[i + k] = dt;
		count_result(r, rc < 0 ? -1 : errs[k] ? -1 : 0, rc < 0 ? e : errs[k]);
		loam_err_free(&errs[k]);
	}
}

static void *client(void *arg)
{
	struct run *r = arg;
	struct loam_db *db = NULL;
	cleanup_err loam_err e = NULL;
	if (loam_db_open(r->url, &db, &e) < 0) {
		note_error(r, e);
		return NULL;
	}
	long step = r->baseline ? 1 : r->batch, i;
	while ((i = atomic_fetch_add(&r->next, step)) < r->n) {
		long n = r->n - i < step ? r->n - i : step;
		if (n == 1)
			place_one(r, db, i);
		else
			place_batch(r, db, i, n);
	}
	loam_db_close(db);
	return NULL;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

static json_t *run_json(struct run *r, double secs, int64_t overcommits, int64_t index_ms)
{
	qsort(r->lat_us, (size_t)r->n, sizeof(int64_t), cmp_i64);
	json_t *j = json_object();
	json_object_set_new(j, "placements_per_s", json_real(secs > 0 ? r->n / secs : 0));
	json_object_set_new(j, "p50_us", json_integer(r->lat_us[r->n / 2]));
	json_object_set_new(j, "p99_us", json_integer(r->lat_us[(r->n * 99) / 100]));
	json_object_set_new(j, "placed", json_integer(atomic_load(&r->placed)));
	json_object_set_new(j, "no_capacity", json_integer(atomic_load(&r->nocap)));
	json_object_set_new(j, "errors", json_integer(atomic_load(&r->failed)));
	if (r->first_error[0])
		json_object_set_new(j, "first_error", json_string(r->first_error));
	json_object_set_new(j, "overcommits", json_integer(overcommits));
	json_object_set_new(j, "seconds", json_real(secs));
	if (index_ms >= 0)
		json_object_set_new(j, "index_build_ms", json_integer(index_ms));
	if (!r->baseline)
		json_object_set_new(j, "batch", json_integer(r->batch));
	return j;
}

static int run_clients(struct run *r, long clients, double *secs)
{
	pthread_t *th = xcalloc((size_t)clients, sizeof(*th));
	int64_t t0 = now_us();
	for (long c = 0; c < clients; c++)
		pthread_create(&th[c], NULL, client, r);
	for (long c = 0; c < clients; c++)
		pthread_join(th[c], NULL);
	*secs = (double)(now_us() - t0) / 1e6;
	free(th);
	return 0;
}

static json_t *measure(const char *url, const struct opts *o, const struct workload *w,
		       bool baseline, loam_err *err)
{
	struct loam_db *db = NULL;
	if (prepare_db(url, o, w, err) < 0 || loam_db_open(url, &db, err) < 0)
		return NULL;
	struct run r = {.url = url, .w = w, .baseline = baseline, .batch = o->batch};
	r.n = baseline ? o->baseline_vms : o->vms;
	r.lat_us = xcalloc((size_t)r.n + 1, sizeof(int64_t));
	pthread_mutex_init(&r.mu, NULL);
	int64_t index_ms = -1;
	if (!baseline) {
		int64_t t0 = now_us();
		if (loam_alloc_new(db, &r.alloc, err) < 0) {
			loam_db_close(db);
			return NULL;
		}
		index_ms = (now_us() - t0) / 1000;
	}
	double secs = 0;
	run_clients(&r, o->clients, &secs);
	int64_t over = -1;
	json_t *j = NULL;
	if (loam_alloc_count_overcommits(db, &over, err) == 0) {
		j = run_json(&r, secs, over, index_ms);
		if (baseline)
			json_object_set_new(j, "ran", json_integer(r.n));
	}
	loam_alloc_free(r.alloc);
	free(r.lat_us);
	pthread_mutex_destroy(&r.mu);
	loam_db_close(db);
	return j;
}

/* ---------- arguments and main ---------- */

static int parse_count(const char *flag, const char *v, long min, long *out)
{
	char *end = NULL;
	long n = v ? strtol(v, &end, 10) : 0;
	if (!v || !*v || *end || n < min || n > 100000000) {
		fprintf(stderr, "loam: bench alloc: %s needs a whole number >= %ld, got '%.40s'\n",
			flag, min, v ? v : "");
		return -1;
	}
	*out = n;
	return 0;
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	*o = (struct opts){.hosts = 1000,
			   .vms = 10000,
			   .clients = 1,
			   .baseline_vms = -1,
			   .batch = DEFAULT_BATCH,
			   .seed = 42};
	for (int i = 1; i < argc; i += 2) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		long seed = 0;
		int rc = 0;
		if (strcmp(a, "--hosts") == 0)
			rc = parse_count(a, v, 1, &o->hosts);
		else if (strcmp(a, "--vms") == 0)
			rc = parse_count(a, v, 1, &o->vms);
		else if (strcmp(a, "--clients") == 0)
			rc = parse_count(a, v, 1, &o->clients);
		else if (strcmp(a, "--batch") == 0)
			rc = parse_count(a, v, 1, &o->batch);
		else if (strcmp(a, "--baseline-vms") == 0)
			rc = parse_count(a, v, 1, &o->baseline_vms);
		else if (strcmp(a, "--seed") == 0)
			rc = parse_count(a, v, 0, &seed), o->seed = (unsigned long long)seed;
		else if (strcmp(a, "--db") == 0 && v)
			o->db = v;
		else {
			fprintf(
			    stderr,
			    "usage: loam bench alloc --hosts N --vms M [--db URL] [--clients C] "
			    "[--batch B] [--baseline-vms K] [--seed S]\n");
			return -1;
		}
		if (rc < 0)
			return -1;
	}
	if (o->batch > MAX_BATCH) {
		fprintf(stderr, "loam: bench alloc: --batch is at most %d\n", MAX_BATCH);
		return -1;
	}
	if (o->clients > 256) {
		fprintf(stderr, "loam: bench alloc: --clients is at most 256\n");
		return -1;
	}
	if (o->baseline_vms < 0)
		o->baseline_vms = o->vms < 3000 ? o->vms : 3000;
	if (o->baseline_vms > o->vms)
		o->baseline_vms = o->vms;
	return 0;
}

static json_t *bench(const struct opts *o, const char *base_url, loam_err *err)
{
	struct workload w;
	make_workload(o, &w);
	char tag_l[48], tag_b[48];
	snprintf(tag_l, sizeof(tag_l), "bench_%d_loam", (int)getpid());
	snprintf(tag_b, sizeof(tag_b), "bench_%d_baseline", (int)getpid());
	cleanup_free char *url_l = NULL, *url_b = NULL;
	json_t *jl = NULL, *jb = NULL, *out = NULL;
	if (loam_db_scratch_create(base_url, tag_l, &url_l, err) == 0 &&
	    loam_db_scratch_create(base_url, tag_b, &url_b, err) == 0 &&
	    (jl = measure(url_l, o, &w, false, err)) && (jb = measure(url_b, o, &w, true, err))) {
		out = json_object();
		json_object_set_new(out, "hosts", json_integer(o->hosts));
		json_object_set_new(out, "vms", json_integer(o->vms));
		json_object_set_new(out, "clients", json_integer(o->clients));
		json_object_set_new(out, "db",
				    json_string(base_url[0] == 's' ? "sqlite" : "postgres"));
		double pl = json_real_value(json_object_get(jl, "placements_per_s"));
		double pb = json_real_value(json_object_get(jb, "placements_per_s"));
		int64_t over = json_integer_value(json_object_get(jl, "overcommits")) +
			       json_integer_value(json_object_get(jb, "overcommits"));
		json_object_set(out, "loam", jl);
		json_object_set(out, "baseline", jb);
		json_object_set_new(out, "ratio", json_real(pb > 0 ? pl / pb : 0));
		json_object_set_new(out, "overcommits", json_integer(over));
	}
	json_decref(jl);
	json_decref(jb);
	if (url_l)
		loam_db_scratch_drop(url_l, NULL);
	if (url_b)
		loam_db_scratch_drop(url_b, NULL);
	free(w.hosts);
	free(w.reqs);
	return out;
}

int loam_bench_alloc_main(int argc, char **argv)
{
	struct opts o;
	if (parse_args(argc, argv, &o) < 0)
		return 2;
	char tmp[PATH_MAX];
	cleanup_free char *tmp_url = NULL;
	if (!o.db) {
		cleanup_err loam_err terr = NULL;
		if (loam_bench_mkdtemp("alloc", tmp, sizeof(tmp), &terr) < 0) {
			fprintf(stderr, "loam: bench alloc: %s\n", loam_err_msg(terr));
			return 1;
		}
		tmp_url = xasprintf("sqlite:%s/bench.db", tmp);
	}
	cleanup_err loam_err err = NULL;
	cleanup_json json_t *out = bench(&o, o.db ? o.db : tmp_url, &err);
	if (!o.db)
		rmdir(tmp);
	if (!out) {
		fprintf(stderr, "loam: bench alloc: %s\n", loam_err_msg(err));
		return loam_err_exit_status(err);
	}
	cleanup_free char *s = loam_json_dump_pretty(out);
	printf("%s\n", s);
	return 0;
}
