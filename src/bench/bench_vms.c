/*
 * `loam-bench vms [--vms N] [--hosts H] [--workers W] [--prep-ms P]
 * [--ready-ms R] [--agent PATH]` (issue 11, item 4): what labels that never
 * hold a worker buy the control plane. The hosts are SIMULATED: a scripted
 * agent (tests/progs/scripted_agent.c, loam-host-scripted next to this
 * binary) answers on the local transport for H hosts, its vm-prep job
 * taking P ms (default 2000) and its guests ready R ms (default 10000)
 * after vm-start. On a fresh SQLite database each time, with the real
 * allocator, engine (W workers, default 4, as loamd) and VM prog, it
 * measures the time from creating VMs to all of them `running`:
 *
 *   1. one VM alone;
 *   2. N VMs (default 200) at once, as loamd runs them: prep as a detached
 *      job, readiness through the host watcher;
 *   3. the same N VMs with the labels blocking as they did before: the
 *      agent's job-start holds the call for the whole prep (the old
 *      vm-prep) and vm-wait-ready holds it for up to 3 s slices (the old
 *      readiness wait), and there is no watcher.
 *
 * Prints one JSON object: the three times, ratio = blocking / loam, and
 * all_over_one = N VMs / one VM (goal: at most 2).
 */
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc/alloc.h"
#include "bench/bench.h"
#include "db/records.h"
#include "db/vm.h"
#include "db/vm_sim.h"
#include "engine/engine.h"
#include "lib/cleanup.h"
#include "lib/clock.h"
#include "lib/fs.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/spawn.h"
#include "lib/xalloc.h"
#include "progs/progs.h"
#include "progs/watch.h"
#include "transport/transport.h"

#define POLL_MS	       20
#define RUN_LIMIT_MS   (30LL * 60 * 1000)
#define HOST_CORES     64
#define HOST_MEM_GIB   512
#define SIMULATION_TAG "simulated hosts: a scripted agent stands in for loam-host"

struct opts {
	long vms, hosts, workers, prep_ms, ready_ms;
	const char *agent;
};

/* One measured run on a database and hosts of its own. */
struct run {
	const struct opts *o;
	bool blocking;
	long vms;
	char dir[PATH_MAX];
	char *url;
	struct loam_db *db;
	struct loamd_app app;
	struct loam_engine *engine;
};

static int add_hosts(struct run *r, loam_err *err)
{
	cleanup_free char *script =
	    xasprintf("{\"mode\": \"%s\", \"prep_ms\": %ld, \"ready_ms\": %ld}",
		      r->blocking ? "blocking" : "async", r->o->prep_ms, r->o->ready_ms);
	for (long i = 0; i < r->o->hosts; i++) {
		char name[32];
		snprintf(name, sizeof(name), "sim-%ld", i);
		cleanup_free char *dir = xasprintf("%s/%s", r->dir, name);
		cleanup_free char *path = xasprintf("%s/script.json", dir);
		struct loam_vm_sim_host h = {.name = name,
					     .state_dir = dir,
					     .agent_path = r->o->agent,
					     .cores = HOST_CORES,
					     .memory_gib = HOST_MEM_GIB};
		if (loam_mkdir_p(dir, 0700, err) < 0 ||
		    loam_write_file_atomic(path, script, strlen(script), 0600, err) < 0 ||
		    loam_vm_sim_host_add(r->db, &h, err) < 0)
			return -1;
	}
	return 0;
}

static int run_open(struct run *r, loam_err *err)
{
	if (loam_bench_mkdtemp("vms", r->dir, sizeof(r->dir), err) < 0)
		return -1;
	cleanup_free char *base = xasprintf("sqlite:%s/loam.db", r->dir);
	if (loam_db_scratch_create(base, "bench", &r->url, err) < 0 ||
	    loam_db_open(r->url, &r->db, err) < 0 || loam_db_migrate(r->db, err) < 0 ||
	    add_hosts(r, err) < 0 || loam_alloc_new(r->db, &r->app.alloc, err) < 0)
		return -1;
	r->app.pool = loam_transport_pool_new();
	if (!r->blocking && loam_watch_new(&r->app, r->url, &r->app.watch, err) < 0)
		return -1;
	struct loam_engine_opts eo = {
	    .db_url = r->url, .owner = "bench", .workers = (int)r->o->workers, .app = &r->app};
	return loam_engine_start(&eo, &r->engine, err);
}

static void run_close(struct run *r)
{
	loam_engine_stop(r->engine);
	loam_watch_free(r->app.watch);
	if (r->app.pool)
		loam_transport_pool_free(r->app.pool);
	if (r->app.alloc)
		loam_alloc_free(r->app.alloc);
	loam_db_close(r->db);
	free(r->url);
	if (r->dir[0]) {
		const char *argv[] = {"rm", "-rf", r->dir, NULL};
		struct loam_spawn_opts so = {.argv = argv, .timeout_ms = 120000};
		struct loam_spawn_result res;
		cleanup_err loam_err err = NULL;
		if (loam_spawn(&so, &res, &err) == 0)
			loam_spawn_result_free(&res);
	}
}

/* The VM rows and their strands in one transaction, as the API makes them. */
static int create_tx(struct loam_db *db, void *ctx, loam_err *err)
{
	const struct run *r = ctx;
	cleanup_json json_t *frame = json_pack("{s:s}", "boot", "kernel");
	for (long i = 0; i < r->vms; i++) {
		char name[32], id[27];
		snprintf(name, sizeof(name), "vm-%ld", i);
		struct loam_vm_spec spec = {
		    .name = name, .arch = "x64", .size = "standard-2", .boot_image = "loam-tiny"};
		if (loam_vm_insert(db, &spec, id, err) < 0 ||
		    loam_strand_create(db, LOAM_PROG_VM, NULL, frame, id, NULL, err) < 0)
			return -1;
	}
	return 0;
}

/* Creates the VMs and waits until all run; *secs is that time. */
static int measure(struct run *r, double *secs, loam_err *err)
{
	int64_t t0 = loam_now_ms();
	if (loam_db_tx(r->db, create_tx, r, err) < 0)
		return -1;
	loam_engine_wake(r->engine);
	for (int64_t n = 0; n < r->vms; loam_sleep_ms(POLL_MS)) {
		int64_t failed = 0;
		if (loam_vm_count(r->db, LOAM_VM_RUNNING, &n, err) < 0 ||
		    loam_vm_count(r->db, LOAM_VM_FAILED, &failed, err) < 0)
			return -1;
		if (failed)
			return loam_fail(err, LOAM_E_IO, "%lld VMs failed; see the strands in %s",
					 (long long)failed, r->dir);
		if (loam_now_ms() - t0 > RUN_LIMIT_MS)
			return loam_fail(err, LOAM_E_TIMEOUT, "only %lld of %ld VMs ran in 30 min",
					 (long long)n, r->vms);
		if (n >= r->vms)
			break;
	}
	*secs = (double)(loam_now_ms() - t0) / 1000.0;
	return 0;
}

static int one_run(const struct opts *o, long vms, bool blocking, double *secs, loam_err *err)
{
	struct run r = {.o = o, .vms = vms, .blocking = blocking};
	int rc = run_open(&r, err) < 0 ? -1 : measure(&r, secs, err);
	run_close(&r);
	if (rc == 0)
		fprintf(stderr, "loam-bench vms: %ld VM%s, %s: %.2f s\n", vms, vms == 1 ? "" : "s",
			blocking ? "labels blocking (before)" : "labels that nap (loam)", *secs);
	return rc;
}

static json_t *results(const struct opts *o, double one, double all, double blocking)
{
	return json_pack("{s:s, s:i, s:i, s:i, s:i, s:i, s:f, s:f, s:f, s:f, s:f, s:f}",
			 "simulation", SIMULATION_TAG, "vms", (json_int_t)o->vms, "hosts",
			 (json_int_t)o->hosts, "workers", (json_int_t)o->workers, "prep_ms",
			 (json_int_t)o->prep_ms, "ready_ms", (json_int_t)o->ready_ms, "one_vm_s",
			 one, "all_s", all, "blocking_all_s", blocking, "ratio",
			 all > 0 ? blocking / all : 0.0, "all_over_one", one > 0 ? all / one : 0.0,
			 "goal_all_over_one", 2.0);
}

static char *agent_beside_me(void)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return xstrdup("loam-host-scripted");
	exe[n] = '\0';
	return xasprintf("%s/loam-host-scripted", dirname(exe));
}

static int parse_long(const char *v, long min, long max, long *out)
{
	char *end = NULL;
	*out = strtol(v, &end, 10);
	return *end || end == v || *out < min || *out > max ? -1 : 0;
}

static int parse(int argc, char **argv, struct opts *o)
{
	static const struct option opts[] = {{"vms", required_argument, NULL, 'v'},
					     {"hosts", required_argument, NULL, 'h'},
					     {"workers", required_argument, NULL, 'w'},
					     {"prep-ms", required_argument, NULL, 'p'},
					     {"ready-ms", required_argument, NULL, 'r'},
					     {"agent", required_argument, NULL, 'a'},
					     {0}};
	*o = (struct opts){
	    .vms = 200, .hosts = 50, .workers = 4, .prep_ms = 2000, .ready_ms = 10000};
	optind = 1;
	opterr = 0;
	for (int c; (c = getopt_long(argc, argv, "", opts, NULL)) != -1;) {
		int rc = c == 'v'   ? parse_long(optarg, 1, 5000, &o->vms)
			 : c == 'h' ? parse_long(optarg, 1, 1000, &o->hosts)
			 : c == 'w' ? parse_long(optarg, 1, 64, &o->workers)
			 : c == 'p' ? parse_long(optarg, 0, 600000, &o->prep_ms)
			 : c == 'r' ? parse_long(optarg, 0, 600000, &o->ready_ms)
			 : c == 'a' ? (o->agent = optarg, 0)
				    : -1;
		if (rc < 0)
			return -1;
	}
	return optind == argc && o->vms <= o->hosts * HOST_CORES ? 0 : -1;
}

int loam_bench_vms_main(int argc, char **argv)
{
	struct opts o;
	if (parse(argc, argv, &o) < 0) {
		fprintf(stderr, "usage: loam-bench vms [--vms N] [--hosts H] [--workers W] "
				"[--prep-ms P] [--ready-ms R] [--agent PATH]\n");
		return 2;
	}
	loam_log_init("loam-bench", false, LOAM_LOG_ERROR);
	signal(SIGPIPE, SIG_IGN); /* an agent may exit before reading its stdin, as in loamd */
	cleanup_free char *agent = o.agent ? xstrdup(o.agent) : agent_beside_me();
	o.agent = agent;
	if (access(agent, X_OK) != 0) {
		fprintf(stderr, "loam-bench vms: no scripted agent at %s (build it: make)\n",
			agent);
		return 1;
	}
	loam_progs_register_all();
	fprintf(stderr, "loam-bench vms: %s (%ld hosts)\n", SIMULATION_TAG, o.hosts);
	double one = 0, all = 0, blocking = 0;
	cleanup_err loam_err err = NULL;
	if (one_run(&o, 1, false, &one, &err) < 0 || one_run(&o, o.vms, false, &all, &err) < 0 ||
	    one_run(&o, o.vms, true, &blocking, &err) < 0) {
		fprintf(stderr, "loam-bench vms: %s\n", loam_err_msg(err));
		return 1;
	}
	cleanup_json json_t *out = results(&o, one, all, blocking);
	cleanup_free char *text = loam_json_dump_pretty(out);
	printf("%s\n", text);
	return 0;
}
