/*
 * The allocator on real databases (SQLite, and PostgreSQL under
 * with_pg.sh): placing and releasing (idempotent both ways), one test per
 * constraint built so that it fails if the constraint were dropped (the
 * only host in the fleet violates it), the explain text, forced/excluded
 * hosts, the boot-image hook, group commit, index coherence across two
 * allocators sharing a database, and concurrent placement from many
 * threads with the independent over-commit check afterwards.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "alloc/alloc.h"
#include "db/tdb.h"
#include "fleet.h"
#include "t.h"

static int backend;

struct env {
	struct tdb t;
	struct loam_db *db;
	struct loam_allocator *a;
};

static void env_open(struct env *e, const char *tag)
{
	tdb_fresh(&e->t, backend, tag);
	e->db = tdb_open_migrated(&e->t);
	loam_err err = NULL;
	die_on(loam_db_sync_sizes(e->db, &err), &err, "sizes");
	e->a = NULL;
}

/* The allocator is made after the fleet, as loamd makes it at start. */
static struct loam_allocator *env_alloc(struct env *e)
{
	loam_err err = NULL;
	if (!e->a)
		die_on(loam_alloc_new(e->db, &e->a, &err), &err, "alloc");
	return e->a;
}

static void env_close(struct env *e)
{
	loam_alloc_free(e->a);
	loam_db_close(e->db);
	tdb_done(&e->t);
}

static int place(struct env *e, const char *vm, struct loam_alloc_result *res, loam_err *err)
{
	struct loam_alloc_request req = {.vm_id = vm};
	return loam_alloc_place(env_alloc(e), e->db, &req, res, err);
}

static int64_t overcommits(struct loam_db *db)
{
	int64_t n = -1;
	loam_err err = NULL;
	die_on(loam_alloc_count_overcommits(db, &n, &err), &err, "check");
	return n;
}

/* Places vm and expects no capacity with a message containing want. */
static void expect_nocap(struct env *e, const char *vm, const char *want)
{
	struct loam_alloc_result res;
	loam_err err = NULL;
	const char *placed = "SELECT count(*) FROM vm WHERE host_id IS NOT NULL";
	int64_t before = q_int(e->db, placed, NULL);
	int64_t gen = q_int(e->db, "SELECT sum(generation) FROM host", NULL);
	CHECK_INT(place(e, vm, &res, &err), -1);
	CHECK_INT(loam_err_kind_of(err), LOAM_E_NOCAPACITY);
	if (want)
		CHECK_CONTAINS(loam_err_msg(err), want);
	loam_err_free(&err);
	CHECK_INT(q_int(e->db, placed, NULL), before);
	CHECK_INT(q_int(e->db, "SELECT sum(generation) FROM host", NULL), gen);
}

static void expect_host(struct env *e, const char *vm, const char *host)
{
	struct loam_alloc_result res;
	loam_err err = NULL;
	CHECK_INT(place(e, vm, &res, &err), 0);
	if (err)
		fprintf(stderr, "  %s\n", loam_err_msg(err));
	CHECK_STR(res.host_name, host);
	loam_err_free(&err);
}

static void test_place_release(void)
{
	struct env e;
	env_open(&e, "pr");
	struct thost h = thost_default("h1");
	h.huge = 200;
	fleet_add_host(e.db, &h, NULL);
	const char *vm = fleet_add_vm(e.db, "vm1", "x64", "standard-8", "hel1");
	struct loam_alloc_result res;
	loam_err err = NULL;
	CHECK_INT(place(&e, vm, &res, &err), 0);
	CHECK_STR(res.host_name, "h1");
	CHECK_INT(res.cores, 4);
	CHECK(res.hugepages);
	CHECK_INT(q_int(e.db, "SELECT used_cores FROM host", NULL), 4);
	CHECK_INT(q_int(e.db, "SELECT used_memory_gib FROM host", NULL), 32);
	CHECK_INT(q_int(e.db, "SELECT used_hugepages_1g FROM host", NULL), 32);
	CHECK_INT(q_int(e.db, "SELECT available_storage_gib FROM host", NULL), 4000 - 80);
	CHECK_INT(q_int(e.db, "SELECT generation FROM host", NULL), 1);
	CHECK_INT(q_int(e.db, "SELECT cores FROM vm WHERE id = ?", vm), 4);
	CHECK_INT(q_int(e.db, "SELECT hugepages FROM vm WHERE id = ?", vm), 1);
	CHECK_INT(q_int(e.db,
			"SELECT count(*) FROM vm WHERE state = 'allocated' AND "
			"allocated_at IS NOT NULL AND host_id IS NOT NULL",
			NULL),
		  1);
	/* Placing again returns the same host and takes nothing more. */
	struct loam_alloc_result again;
	CHECK_INT(place(&e, vm, &again, &err), 0);
	CHECK_STR(again.host_id, res.host_id);
	CHECK_INT(again.cores, 4);
	CHECK_INT(q_int(e.db, "SELECT used_cores FROM host", NULL), 4);
	CHECK_INT(overcommits(e.db), 0);
	/* Release gives everything back, exactly once. */
	CHECK_INT(loam_alloc_release(e.a, e.db, vm, &err), 0);
	CHECK_INT(loam_alloc_release(e.a, e.db, vm, &err), 0);
	CHECK_INT(q_int(e.db, "SELECT used_cores FROM host", NULL), 0);
	CHECK_INT(q_int(e.db, "SELECT used_memory_gib FROM host", NULL), 0);
	CHECK_INT(q_int(e.db, "SELECT used_hugepages_1g FROM host", NULL), 0);
	CHECK_INT(q_int(e.db, "SELECT available_storage_gib FROM host", NULL), 4000);
	CHECK_INT(q_int(e.db, "SELECT count(*) FROM vm WHERE host_id IS NULL", NULL), 1);
	CHECK_INT(overcommits(e.db), 0);
	/* Unknown VMs are not found, for both operations. */
	CHECK_INT(place(&e, "nope", &res, &err), -1);
	CHECK_INT(loam_err_kind_of(err), LOAM_E_NOTFOUND);
	CHECK_INT(loam_alloc_release(e.a, e.db, "nope", &err), -1);
	CHECK_INT(loam_err_kind_of(err), LOAM_E_NOTFOUND);
	loam_err_free(&err);
	env_close(&e);
}

/* ---- one test per constraint: the only host violates it ---- */

typedef void (*breaker)(struct thost *h);

/* With the host intact the VM lands on it; broken, nothing fits and the
 * explain text names the filter. */
static void constraint_case(const char *tag, breaker brk, const char *arch, const char *size,
			    const char *filter)
{
	for (int broken = 0; broken < 2; broken++) {
		struct env e;
		env_open(&e, tag);
		struct thost h = thost_default("only");
		if (broken)
			brk(&h);
		fleet_add_host(e.db, &h, NULL);
		/* keeps hel1 a known location, but never fits an x64 VM */
		struct thost other = thost_default("other-arch");
		other.arch = "arm64";
		other.tpc = 1;
		fleet_add_host(e.db, &other, NULL);
		const char *vm = fleet_add_vm(e.db, "vm", arch, size, "hel1");
		if (broken)
			expect_nocap(&e, vm, filter);
		else
			expect_host(&e, vm, "only");
		CHECK_INT(overcommits(e.db), 0);
		env_close(&e);
	}
}

static void arch_arm64(struct thost *h)
{
	h->arch = "arm64";
	h->tpc = 1;
}
static void loc_other(struct thost *h)
{
	h->location = "nbg1";
}
static void draining(struct thost *h)
{
	h->state = "draining";
}
static void no_accel(struct thost *h)
{
	h->accel = "none";
}
static void few_cores(struct thost *h)
{
	h->cores = 3; /* standard-8 on SMT needs 4 */
}
static void no_smt(struct thost *h)
{
	h->tpc = 1;
	h->cores = 7; /* standard-8 needs 8 cores without SMT */
}
static void little_mem(struct thost *h)
{
	h->mem = 31;
}
static void few_hugepages(struct thost *h)
{
	h->huge = 31; /* plenty of plain memory, but hugepages are what counts */
}
static void little_disk(struct thost *h)
{
	h->storage = 79;
}

static void test_constraint_arch(void)
{
	constraint_case("c_arch", arch_arm64, "x64", "standard-8", "arch=x64: 0");
}
static void test_constraint_location(void)
{
	constraint_case("c_loc", loc_other, "x64", "standard-8", "arch=x64: 1 → location=hel1: 0");
}
static void test_constraint_state(void)
{
	constraint_case("c_state", draining, "x64", "standard-8", "state=accepting: 0");
}
static void test_constraint_accel(void)
{
	constraint_case("c_accel", no_accel, "x64", "standard-8", "accel≠none: 0");
}
static void test_constraint_cores(void)
{
	constraint_case("c_cores", few_cores, "x64", "standard-8", "cores≥4: 0");
}
static void test_constraint_threads_per_core(void)
{
	constraint_case("c_tpc", no_smt, "x64", "standard-8", "cores≥8: 0");
}
static void test_constraint_memory(void)
{
	constraint_case("c_mem", little_mem, "x64", "standard-8", "memory≥32GiB: 0");
}
static void test_constraint_hugepages(void)
{
	constraint_case("c_huge", few_hugepages, "x64", "standard-8", "memory≥32GiB: 0");
}
static void test_constraint_storage(void)
{
	constraint_case("c_disk", little_disk, "x64", "standard-8", "storage≥80GiB: 0");
}

static void test_boundaries_and_overcommit(void)
{
	struct env e;
	env_open(&e, "bound");
	struct thost h = thost_default("tight");
	h.cores = 4; /* exactly standard-8 on SMT: the last core is usable */
	h.mem = 32;
	h.storage = 80;
	fleet_add_host(e.db, &h, NULL);
	struct thost oc = thost_default("dev");
	oc.location = "fsn1";
	oc.cores = 2;
	oc.overcommit = 2.0;
	fleet_add_host(e.db, &oc, NULL);
	expect_host(&e, fleet_add_vm(e.db, "a", "x64", "standard-8", "hel1"), "tight");
	/* 2 cores × overcommit 2 = 4 allocatable: standard-8 fits, then nothing. */
	expect_host(&e, fleet_add_vm(e.db, "b", "x64", "standard-8", "fsn1"), "dev");
	struct loam_alloc_result res;
	loam_err err = NULL;
	CHECK_INT(place(&e, fleet_add_vm(e.db, "c", "x64", "standard-2", "fsn1"), &res, &err), -1);
	CHECK_CONTAINS(loam_err_msg(err), "cores≥1: 0");
	loam_err_free(&err);
	CHECK_INT(overcommits(e.db), 0);
	env_close(&e);
}

static void test_emulation(void)
{
	struct env e;
	env_open(&e, "emu");
	struct thost h = thost_default("x64-dev");
	fleet_add_host(e.db, &h, NULL);
	const char *vm = fleet_add_vm(e.db, "arm", "arm64", "standard-2", "hel1");
	expect_nocap(&e, vm, "arch=arm64: 0");
	loam_err err = NULL;
	die_on(loam_db_exec(
		   e.db, "INSERT INTO host_emulation (host_id, arch) SELECT id, 'arm64' FROM host",
		   DB_NOARGS, NULL, &err),
	       &err, "emulate");
	CHECK_INT(loam_alloc_reload(e.a, e.db, &err), 0);
	struct loam_alloc_result res;
	CHECK_INT(place(&e, vm, &res, &err), 0);
	CHECK_STR(res.host_name, "x64-dev");
	CHECK_INT(res.cores, 1); /* 2 vCPUs on the host's 2 threads per core */
	env_close(&e);
}

/* A VM of an arch goes to a host of that arch, even one busier than an
 * emulating host of another arch; it is emulated only when no native host
 * can take it. */
static void test_native_first(void)
{
	struct env e;
	env_open(&e, "native");
	struct thost x = thost_default("a-x64"); /* sorts first by name */
	fleet_add_host(e.db, &x, NULL);
	struct thost arm = thost_default("b-arm");
	arm.arch = "arm64";
	arm.cores = 4;
	fleet_add_host(e.db, &arm, NULL);
	loam_err err = NULL;
	die_on(loam_db_exec(e.db,
			    "INSERT INTO host_emulation (host_id, arch) "
			    "SELECT id, 'arm64' FROM host WHERE name = 'a-x64'",
			    DB_NOARGS, NULL, &err),
	       &err, "emulate");
	expect_host(&e, fleet_add_vm(e.db, "a1", "arm64", "standard-2", "hel1"), "b-arm");
	/* b-arm is now the busier one; the next arm64 VM still goes there. */
	expect_host(&e, fleet_add_vm(e.db, "a2", "arm64", "standard-2", "hel1"), "b-arm");
	expect_host(&e, fleet_add_vm(e.db, "x1", "x64", "standard-2", "hel1"), "a-x64");
	/* b-arm full (4 cores): only then the emulating host. */
	expect_host(&e, fleet_add_vm(e.db, "a3", "arm64", "standard-8", "hel1"), "a-x64");
	env_close(&e);
}

static void test_explain_text(void)
{
	struct env e;
	env_open(&e, "explain");
	const char *names[] = {"a1", "a2", "a3", "a4", "a5"};
	for (int i = 0; i < 5; i++) {
		struct thost h = thost_default(names[i]);
		h.arch = "arm64";
		h.tpc = 1;
		h.cores = 8;
		h.location = i < 3 ? "hel1" : "fsn1";
		fleet_add_host(e.db, &h, NULL);
	}
	struct thost x = thost_default("x1");
	fleet_add_host(e.db, &x, NULL);
	const char *vm = fleet_add_vm(e.db, "big", "arm64", "standard-60", "hel1");
	struct loam_alloc_result res;
	loam_err err = NULL;
	CHECK_INT(place(&e, vm, &res, &err), -1);
	CHECK_INT(loam_err_kind_of(err), LOAM_E_NOCAPACITY);
	char want[256];
	snprintf(want, sizeof(want),
		 "no host can take VM %s: arch=arm64: 5 → location=hel1: 3 → "
		 "state=accepting: 3 → accel≠none: 3 → cores≥60: 0",
		 vm);
	CHECK_STR(loam_err_msg(err), want);
	loam_err_free(&err);
	env_close(&e);
}

static void test_force_exclude(void)
{
	struct env e;
	env_open(&e, "force");
	struct thost a = thost_default("big"), b = thost_default("small");
	a.cores = 64;
	a.mem = 512;
	b.cores = 8;
	fleet_add_host(e.db, &a, NULL);
	fleet_add_host(e.db, &b, NULL);
	struct loam_alloc_result res;
	loam_err err = NULL;
	/* Least loaded: both empty, so more free memory wins. */
	expect_host(&e, fleet_add_vm(e.db, "v1", "x64", "standard-2", "hel1"), "big");
	struct loam_alloc_request req = {
	    .vm_id = fleet_add_vm(e.db, "v2", "x64", "standard-2", "hel1"), .force_host = "small"};
	CHECK_INT(loam_alloc_place(e.a, e.db, &req, &res, &err), 0);
	CHECK_STR(res.host_name, "small");
	const char *const excl[] = {"small", NULL};
	req = (struct loam_alloc_request){
	    .vm_id = fleet_add_vm(e.db, "v3", "x64", "standard-2", "hel1"), .exclude_hosts = excl};
	CHECK_INT(loam_alloc_place(e.a, e.db, &req, &res, &err), 0);
	CHECK_STR(res.host_name, "big");
	req = (struct loam_alloc_request){.vm_id =
					      fleet_add_vm(e.db, "v4", "x64", "standard-2", "hel1"),
					  .force_host = "small",
					  .exclude_hosts = excl};
	CHECK_INT(loam_alloc_place(e.a, e.db, &req, &res, &err), -1);
	CHECK_CONTAINS(loam_err_msg(err), "host=small excluded hosts: 0");
	loam_err_free(&err);
	env_close(&e);
}

static bool image_only_on_b(void *ctx, const char *host_id, const char *image)
{
	struct env *e = ctx;
	(void)image;
	return q_int(e->db, "SELECT count(*) FROM host WHERE id = ? AND name = 'b'", host_id) == 1;
}

static bool image_nowhere(void *ctx, const char *host_id, const char *image)
{
	(void)ctx, (void)host_id, (void)image;
	return false;
}

static void test_image_hook(void)
{
	struct env e;
	env_open(&e, "image");
	struct thost a = thost_default("a"), b = thost_default("b");
	a.cores = 64;
	a.mem = 512;
	fleet_add_host(e.db, &a, NULL);
	fleet_add_host(e.db, &b, NULL);
	loam_err err = NULL;
	struct loam_vm_spec spec = {.name = "img",
				    .arch = "x64",
				    .size = "standard-2",
				    .location = "hel1",
				    .boot_image = "debian-12"};
	char id[27];
	die_on(loam_vm_insert(e.db, &spec, id, &err), &err, "vm");
	/* Without the hook: the least-loaded host, a. With it: only b has it. */
	env_alloc(&e);
	loam_alloc_set_image_check(e.a, image_only_on_b, &e);
	struct loam_alloc_result res;
	CHECK_INT(place(&e, id, &res, &err), 0);
	CHECK_STR(res.host_name, "b");
	spec.name = "img2";
	die_on(loam_vm_insert(e.db, &spec, id, &err), &err, "vm");
	loam_alloc_set_image_check(e.a, image_nowhere, NULL);
	CHECK_INT(place(&e, id, &res, &err), -1);
	CHECK_CONTAINS(loam_err_msg(err), "storage≥20GiB: 2 → ipv4 pool: 2 → image=debian-12: 0");
	loam_err_free(&err);
	env_close(&e);
}

static void test_host_changed(void)
{
	struct env e;
	env_open(&e, "changed");
	struct thost a = thost_default("a"), b = thost_default("b");
	a.cores = 64;
	a.mem = 512;
	fleet_add_host(e.db, &a, NULL);
	fleet_add_host(e.db, &b, NULL);
	env_alloc(&e);
	loam_err err = NULL;
	die_on(loam_db_exec(e.db, "UPDATE host SET allocation_state = 'draining' WHERE name = 'a'",
			    DB_NOARGS, NULL, &err),
	       &err, "drain");
	loam_alloc_host_changed(e.a, "unknown-id-is-harmless");
	loam_alloc_host_changed(e.a, (const char *)"");
	char id[27];
	struct loam_db_rows *r = NULL;
	die_on(loam_db_query(e.db, "SELECT id FROM host WHERE name = 'a'", DB_NOARGS, &r, &err),
	       &err, "q");
	snprintf(id, sizeof(id), "%s", loam_db_rows_text(r, 0, 0));
	loam_db_rows_free(r);
	loam_alloc_host_changed(e.a, id);
	expect_host(&e, fleet_add_vm(e.db, "v", "x64", "standard-2", "hel1"), "b");
	env_close(&e);
}

/* Another allocator (another process) fills the host; ours has a stale
 * index, its guarded update matches nothing, it re-reads and moves on. */
static void test_two_allocators(void)
{
	struct env e;
	env_open(&e, "two");
	struct thost a = thost_default("a"), b = thost_default("b");
	a.cores = 4;
	a.mem = 64;
	b.cores = 2;
	fleet_add_host(e.db, &a, NULL);
	fleet_add_host(e.db, &b, NULL);
	env_alloc(&e);
	struct loam_db *db2 = tdb_open(&e.t);
	struct loam_allocator *a2 = NULL;
	loam_err err = NULL;
	die_on(loam_alloc_new(db2, &a2, &err), &err, "alloc2");
	struct loam_alloc_request req = {.vm_id =
					     fleet_add_vm(e.db, "v1", "x64", "standard-8", "hel1")};
	struct loam_alloc_result res;
	CHECK_INT(loam_alloc_place(a2, db2, &req, &res, &err), 0);
	CHECK_STR(res.host_name, "a"); /* a is now full */
	/* Ours still thinks a is empty and prefers it. */
	expect_host(&e, fleet_add_vm(e.db, "v2", "x64", "standard-4", "hel1"), "b");
	expect_nocap(&e, fleet_add_vm(e.db, "v3", "x64", "standard-4", "hel1"), NULL);
	CHECK_INT(overcommits(e.db), 0);
	/* Released by the other one: found again after a reload. */
	CHECK_INT(loam_alloc_release(a2, db2, req.vm_id, &err), 0);
	CHECK_INT(loam_alloc_reload(e.a, e.db, &err), 0);
	CHECK_INT(q_int(e.db, "SELECT count(*) FROM vm WHERE host_id IS NOT NULL", NULL), 1);
	loam_alloc_free(a2);
	loam_db_close(db2);
	env_close(&e);
}

static void test_batch(void)
{
	struct env e;
	env_open(&e, "batch");
	struct thost a = thost_default("a");
	a.cores = 8;
	fleet_add_host(e.db, &a, NULL);
	char ids[6][27];
	const char *sizes[] = {"standard-4", "standard-4", "standard-4",
			       "standard-4", "standard-2", "standard-2"};
	for (int i = 0; i < 6; i++) {
		char name[8];
		snprintf(name, sizeof(name), "b%d", i);
		snprintf(ids[i], 27, "%s", fleet_add_vm(e.db, name, "x64", sizes[i], "hel1"));
	}
	env_alloc(&e);
	loam_err err = NULL;
	struct loam_alloc_result res[7];
	struct loam_alloc_request one = {.vm_id = ids[0]};
	CHECK_INT(loam_alloc_place(e.a, e.db, &one, &res[0], &err), 0);
	struct loam_alloc_request reqs[7];
	for (int i = 0; i < 6; i++)
		reqs[i] = (struct loam_alloc_request){.vm_id = ids[i]};
	reqs[6] = (struct loam_alloc_request){.vm_id = "missing"};
	loam_err errs[7] = {0};
	CHECK_INT(loam_alloc_place_batch(e.a, e.db, reqs, 7, res, errs, &err), 0);
	/* 8 cores: four standard-4 VMs fill it, the standard-2s do not fit. */
	for (int i = 0; i < 4; i++) {
		CHECK(errs[i] == NULL);
		CHECK_STR(res[i].host_name, "a");
	}
	CHECK_INT(loam_err_kind_of(errs[4]), LOAM_E_NOCAPACITY);
	CHECK_INT(loam_err_kind_of(errs[5]), LOAM_E_NOCAPACITY);
	CHECK_INT(loam_err_kind_of(errs[6]), LOAM_E_NOTFOUND);
	for (int i = 0; i < 7; i++)
		loam_err_free(&errs[i]);
	CHECK_INT(q_int(e.db, "SELECT used_cores FROM host", NULL), 8);
	CHECK_INT(overcommits(e.db), 0);
	/* The same VM twice in one group is placed once. */
	CHECK_INT(loam_alloc_release(e.a, e.db, ids[1], &err), 0);
	CHECK_INT(loam_alloc_release(e.a, e.db, ids[2], &err), 0);
	reqs[0] = reqs[1] = (struct loam_alloc_request){.vm_id = ids[4]};
	CHECK_INT(loam_alloc_place_batch(e.a, e.db, reqs, 2, res, errs, &err), 0);
	CHECK(errs[0] == NULL && errs[1] == NULL);
	CHECK_STR(res[0].host_id, res[1].host_id);
	CHECK_INT(q_int(e.db, "SELECT used_cores FROM host", NULL), 4 + 1);
	CHECK_INT(overcommits(e.db), 0);
	env_close(&e);
}

/* ---- concurrency ---- */

struct worker {
	struct env *e;
	struct loam_allocator *a; /* shared, or per "process" */
	const char **vms;
	int n, placed, failed;
	bool batch;
};

static void *work(void *arg)
{
	struct worker *w = arg;
	struct loam_db *db = tdb_open(&w->e->t);
	for (int i = 0; i < w->n; i++) {
		struct loam_alloc_request req = {.vm_id = w->vms[i]};
		struct loam_alloc_result res;
		loam_err err = NULL;
		if (loam_alloc_place(w->a, db, &req, &res, &err) == 0)
			w->placed++;
		else if (loam_err_kind_of(err) != LOAM_E_NOCAPACITY) {
			fprintf(stderr, "worker: %s\n", loam_err_msg(err));
			w->failed++;
		}
		loam_err_free(&err);
		/* Release some, so counters go both ways. */
		if (i % 5 == 4 && loam_alloc_release(w->a, db, w->vms[i - 1], &err) < 0) {
			fprintf(stderr, "release: %s\n", loam_err_msg(err));
			loam_err_free(&err);
			w->failed++;
		}
	}
	loam_db_close(db);
	return NULL;
}

#define THREADS 8
#define PER	30

static void test_concurrent(void)
{
	struct env e;
	env_open(&e, "conc");
	for (int i = 0; i < 6; i++) {
		char name[8];
		snprintf(name, sizeof(name), "h%d", i);
		struct thost h = thost_default(name);
		h.cores = 6 + i;
		h.huge = i % 2 ? 40 : 0;
		fleet_add_host(e.db, &h, NULL);
	}
	static char ids[THREADS * PER][27];
	const char *vmp[THREADS * PER];
	const char *sizes[] = {"standard-2", "standard-4", "standard-8"};
	for (int i = 0; i < THREADS * PER; i++) {
		char name[16];
		snprintf(name, sizeof(name), "c%d", i);
		snprintf(ids[i], 27, "%s", fleet_add_vm(e.db, name, "x64", sizes[i % 3], "hel1"));
		vmp[i] = ids[i];
	}
	env_alloc(&e);
	/* Two "processes": two allocators over the same database. */
	struct loam_db *db2 = tdb_open(&e.t);
	struct loam_allocator *a2 = NULL;
	loam_err err = NULL;
	die_on(loam_alloc_new(db2, &a2, &err), &err, "alloc2");
	struct worker w[THREADS];
	pthread_t th[THREADS];
	for (int i = 0; i < THREADS; i++) {
		w[i] =
		    (struct worker){.e = &e, .a = i % 2 ? a2 : e.a, .vms = vmp + i * PER, .n = PER};
		pthread_create(&th[i], NULL, work, &w[i]);
	}
	int placed = 0;
	for (int i = 0; i < THREADS; i++) {
		pthread_join(th[i], NULL);
		CHECK_INT(w[i].failed, 0);
		placed += w[i].placed;
	}
	CHECK(placed > 0);
	CHECK_INT(overcommits(e.db), 0);
	/* The fleet is full for standard-2 at the end or had room for all. */
	CHECK(q_int(e.db, "SELECT count(*) FROM host WHERE used_cores > total_cores", NULL) == 0);
	loam_alloc_free(a2);
	loam_db_close(db2);
	env_close(&e);
}

int main(void)
{
	for (backend = tdb_first_backend(); backend < tdb_backends(); backend++) {
		printf("backend %s\n", tdb_backend_name(backend));
		RUN(test_place_release);
		RUN(test_constraint_arch);
		RUN(test_constraint_location);
		RUN(test_constraint_state);
		RUN(test_constraint_accel);
		RUN(test_constraint_cores);
		RUN(test_constraint_threads_per_core);
		RUN(test_constraint_memory);
		RUN(test_constraint_hugepages);
		RUN(test_constraint_storage);
		RUN(test_boundaries_and_overcommit);
		RUN(test_emulation);
		RUN(test_native_first);
		RUN(test_explain_text);
		RUN(test_force_exclude);
		RUN(test_image_hook);
		RUN(test_host_changed);
		RUN(test_two_allocators);
		RUN(test_batch);
		RUN(test_concurrent);
	}
	if (tdb_backends() < 2)
		printf("note: LOAM_TEST_PG_URL unset, PostgreSQL cases skipped\n");
	return t_summary();
}
