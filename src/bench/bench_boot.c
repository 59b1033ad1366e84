/*
 * `loam-bench boot --arch A [--runs N] [--size S] [--direct-kernel]`
 * (issue 6): how much loam adds to a boot. Each run creates a VM through
 * the running loamd ($LOAM_URL) and times `vm create` → state `running`;
 * then it stops that VM, takes its exact QEMU argv from the agent
 * (`loam-host vm-argv`) and boots it directly, without loam (as the VM's
 * user, with the pinned bundle's environment), timing QEMU's
 * start → the guest's LOAM-READY line on the serial log. Both happen back
 * to back so that they see the same machine load. It prints JSON with both
 * p50s and their ratio (goal: ≤ 1.10). The default is the UEFI firmware
 * path (OVMF / AAVMF); --direct-kernel measures the fast path (the image's
 * kernel without UEFI). On this project's machines one boot varies by
 * ±15 %, more than the goal's margin, so it also reports loam's overhead
 * within each loam boot itself (request → running minus QEMU's start →
 * LOAM-READY), which that noise does not touch, and every run's figures.
 * Both timed boots start after the same --settle
 * pause (see settle()). It needs an accepting local host that serves the
 * arch (the direct boot runs on this machine); when no loamd answers, it
 * starts one in a temp dir, cloudifies this machine there (TCG, emulating
 * the arch if foreign) and removes it all afterwards.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#include "arch/arch.h"
#include "bench/bench.h"
#include "cli/client.h"
#include "cli/verbs.h"
#include "host/vm.h"
#include "lib/cleanup.h"
#include "lib/fs.h"
#include "lib/json.h"
#include "lib/spawn.h"
#include "lib/xalloc.h"
#include "proto/agent.h"
#include "proto/client.h"

/* The serial log is read every POLL_MS, the API asked every API_POLL_MS;
 * when loam marked the VM running is its own provisioned_at, so neither
 * poll's period shows in the overhead. */
#define POLL_MS	      10
#define API_POLL_MS   50
#define BOOT_LIMIT_MS (15LL * 60 * 1000)
#define MAX_RUNS      50
#define MAX_SETTLE_S  60

struct boot_opts {
	const char *arch, *size;
	long runs, settle_s;
	bool direct_kernel;
};

/* CLOCK_BOOTTIME: the clock of a process's start time in /proc/PID/stat. */
static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

static int64_t p50(int64_t *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_i64);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/*
 * Waits before each timed boot, loam's and the direct one alike. A VM host
 * that is itself a guest (this project's machines: virtio-balloon free page
 * reporting) hands memory freed by an exited QEMU back to its hypervisor
 * after a second or two of quiet; a QEMU started after that boots about
 * 0.6 s slower than one started right after the last exited. Without the
 * same pause before both, the direct boot (which always follows the loam
 * VM's stop at once) would get warm memory and loam's cold.
 */
static void settle(const struct boot_opts *o)
{
	loam_cli_sleep_ms(o->settle_s * 1000);
}

/* The first accepting local host that serves arch (own or emulated). */
static json_t *find_host(struct loam_client *c, const char *arch, loam_err *err)
{
	cleanup_json json_t *hosts = NULL;
	if (loam_client_call(c, "GET", "/v1/hosts", NULL, &hosts, err) < 0)
		return NULL;
	size_t i;
	json_t *h;
	json_array_foreach(hosts, i, h)
	{
		const char *name = json_string_value(json_object_get(h, "name"));
		char path[128];
		snprintf(path, sizeof(path), "/v1/hosts/%s", name ? name : "");
		json_t *full = NULL;
		if (loam_client_call(c, "GET", path, NULL, &full, err) < 0)
			return NULL;
		bool local = strcmp(json_string_value(json_object_get(full, "transport")) ?: "",
				    "local") == 0;
		bool accepting = strcmp(json_string_value(json_object_get(full, "state")) ?: "",
					"accepting") == 0;
		bool serves =
		    strcmp(json_string_value(json_object_get(full, "arch")) ?: "", arch) == 0;
		size_t k;
		json_t *e;
		json_array_foreach(json_object_get(full, "emulate"), k, e) serves |=
		    strcmp(json_string_value(e) ?: "", arch) == 0;
		if (local && accepting && serves)
			return full;
		json_decref(full);
	}
	loam_fail(err, LOAM_E_NOTFOUND,
		  "no accepting local host serves %s; add one with: loam host add --local "
		  "(and loam host set local --emulate %s --allow-tcg for a foreign arch)",
		  arch, arch);
	return NULL;
}

static json_t *vm_get(struct loam_client *c, const char *name, loam_err *err)
{
	char path[160];
	snprintf(path, sizeof(path), "/v1/vms/%s", name);
	json_t *vm = NULL;
	return loam_client_call(c, "GET", path, NULL, &vm, err) < 0 ? NULL : vm;
}

static bool serial_ready(const char *path)
{
	cleanup_fclose FILE *f = fopen(path, "re");
	char line[4096];
	while (f && fgets(line, sizeof(line), f))
		if (strstr(line, LOAM_READY_MARK))
			return true;
	return false;
}

/* The text of a small file, or NULL. */
static char *read_small(const char *path)
{
	cleanup_err loam_err err = NULL;
	char *text = NULL;
	return loam_read_file(path, 4096, &text, NULL, &err) < 0 ? NULL : text;
}

/* The pid in a pid file, opened without following a link, and only a
 * plain file; 0 otherwise. */
static long pid_in_file(const char *pidfile)
{
	cleanup_close int fd = open(pidfile, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	struct stat st;
	char text[32] = "";
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    read(fd, text, sizeof(text) - 1) <= 0)
		return 0;
	return strtol(text, NULL, 10);
}

/* When the VM's QEMU (its host pid in vmm.pid) started, in now_ms()'s clock;
 * -1 if unknown. */
static int64_t process_start_ms(const char *pidfile)
{
	long pid = pid_in_file(pidfile);
	if (pid <= 1)
		return -1;
	char path[64];
	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	cleanup_free char *stat = read_small(path);
	/* starttime is the 20th field after the ")" that ends the command name */
	const char *p = stat ? strrchr(stat, ')') : NULL;
	unsigned long long ticks = 0;
	if (!p || sscanf(p + 1,
			 " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d "
			 "%*d %*d %llu",
			 &ticks) != 1)
		return -1;
	long hz = sysconf(_SC_CLK_TCK);
	return hz > 0 ? (int64_t)(ticks * 1000 / (unsigned long long)hz) : -1;
}

/* The files of one VM on the (local) host. */
struct vm_files {
	char *serial;
	char *qemu_pidfile; /* vm-start's QEMU's host pid, in the root-owned VM dir */
	char *pidfile;	    /* the reference boot's, in the root-owned VM dir */
};

static void vm_files_free(struct vm_files *f)
{
	free(f->serial);
	free(f->qemu_pidfile);
	free(f->pidfile);
}
#define cleanup_vm_files __attribute__((cleanup(vm_files_free)))

static void vm_files_init(struct vm_files *f, const char *state_dir, const char *id)
{
	f->serial = xasprintf("%s/" LOAM_LAYOUT_VMS "/%s/" LOAM_LAYOUT_VM_SERIAL, state_dir, id);
	f->qemu_pidfile =
	    xasprintf("%s/" LOAM_LAYOUT_VMS "/%s/" LOAM_LAYOUT_VM_VMM_PID, state_dir, id);
	f->pidfile =
	    xasprintf("%s/" LOAM_LAYOUT_VMS "/%s/" LOAM_LAYOUT_VM_REF_PIDFILE, state_dir, id);
}

/* One timed boot: total is request (or QEMU's spawn) → ready; overhead is
 * what loam added around the guest's own boot, from QEMU's start to the
 * LOAM-READY line on the serial log (-1 for a direct boot). */
struct boot_time {
	int64_t total_ms, overhead_ms;
	int64_t before_qemu_ms, after_ready_ms; /* the overhead's two parts */
};

/*
 * Creates the VM and waits until it runs: total is request → running. The
 * serial log is watched in the same loop, at the same pace as a direct
 * boot's, so that the guest's own part (QEMU's start → LOAM-READY) can be
 * taken out: what remains is loam's overhead, free of the boot's noise.
 * The end is loamd's provisioned_at (this machine's clock, as loamd runs
 * here), not when this loop saw it.
 */
static int loam_boot(struct loam_client *c, const struct boot_opts *o, const char *state_dir,
		     const char *name, struct boot_time *bt, loam_err *err)
{
	/* loam-tiny: the image that prints the LOAM-READY line both runs wait for */
	cleanup_json json_t *body = json_pack("{s:s, s:s, s:s, s:s}", "name", name, "arch", o->arch,
					      "size", o->size, "image", "loam-tiny");
	if (o->direct_kernel)
		json_object_set_new(body, "boot", json_string("kernel"));
	settle(o);
	int64_t t0 = now_ms(), ready_at = -1;
	cleanup_json json_t *created = NULL;
	if (loam_client_call(c, "POST", "/v1/vms", body, &created, err) < 0)
		return -1;
	cleanup_vm_files struct vm_files f = {0};
	vm_files_init(&f, state_dir, json_string_value(json_object_get(created, "id")) ?: "?");
	for (int64_t asked = 0; now_ms() - t0 < BOOT_LIMIT_MS; loam_cli_sleep_ms(POLL_MS)) {
		if (ready_at < 0 && serial_ready(f.serial))
			ready_at = now_ms();
		if (now_ms() - asked < API_POLL_MS)
			continue;
		asked = now_ms();
		cleanup_json json_t *vm = vm_get(c, name, err);
		if (!vm)
			return -1;
		const char *state = json_string_value(json_object_get(vm, "state")) ?: "";
		if (strcmp(state, "running") == 0) {
			/* provisioned_at is wall-clock ms; this loop's clock is not */
			json_t *at = json_object_get(vm, "provisioned_at");
			int64_t done = now_ms();
			if (json_is_integer(at))
				done -= wall_ms() - json_integer_value(at);
			int64_t started = process_start_ms(f.qemu_pidfile);
			if (ready_at < 0 || ready_at > done)
				ready_at = done;
			bt->total_ms = done - t0;
			bt->before_qemu_ms = started < 0 ? -1 : started - t0;
			bt->after_ready_ms = done - ready_at;
			bt->overhead_ms =
			    started < 0 ? -1 : bt->before_qemu_ms + bt->after_ready_ms;
			return 0;
		}
		if (strcmp(state, "failed") == 0)
			return loam_fail(err, LOAM_E_IO, "VM %s failed: %s", name,
					 json_string_value(json_object_get(vm, "state_reason"))
					     ?: "");
	}
	return loam_fail(err, LOAM_E_TIMEOUT, "VM %s did not run within 15 min", name);
}

static int vm_remove(struct loam_client *c, const char *name, loam_err *err)
{
	char path[160];
	snprintf(path, sizeof(path), "/v1/vms/%s", name);
	cleanup_json json_t *out = NULL;
	if (loam_client_call(c, "DELETE", path, NULL, &out, err) < 0)
		return -1;
	for (int i = 0; i < 600; i++) {
		loam_err gone = NULL;
		json_t *vm = vm_get(c, name, &gone);
		json_decref(vm);
		bool missing = !vm && loam_err_kind_of(gone) == LOAM_E_NOTFOUND;
		loam_err_free(&gone);
		if (missing)
			return 0;
		loam_cli_sleep_ms(200);
	}
	return loam_fail(err, LOAM_E_TIMEOUT, "VM %s was not removed within 2 min", name);
}

/* The spec vm-prep saved, read only as a root-owned regular file: the VM's
 * user owns the directory it is in. */
static json_t *saved_spec(const char *dir, const char *id, loam_err *err)
{
	cleanup_free char *path =
	    xasprintf("%s/" LOAM_LAYOUT_VMS "/%s/" LOAM_LAYOUT_VM_SPEC, dir, id);
	cleanup_close int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != 0) {
		loam_fail(err, LOAM_E_IO, "%s is not a root-owned file", path);
		return NULL;
	}
	cleanup_free char *text = NULL;
	size_t len = 0;
	if (loam_read_fd(fd, path, 1 << 20, &text, &len, err) < 0)
		return NULL;
	return loam_json_parse(text, len, path, err);
}

/*
 * Gives the stopped VM the fresh VARS and disk overlay of a new VM again,
 * through the agent's own vm-prep and the spec it saved: a first boot's
 * firmware sets up its NVRAM (about 0.8 s with OVMF), so a direct boot on
 * the VARS loam's boot already filled would be a second boot, not the
 * same one.
 */
static int reprep(const struct loam_agent *a, const char *id, loam_err *err)
{
	cleanup_json json_t *saved = saved_spec(a->state_dir, id, err);
	struct loam_vm_prep_spec spec;
	if (!saved || loam_vm_prep_spec_read(saved, &spec, err) < 0)
		return loam_err_wrap(err, "read the VM's spec");
	cleanup_free char *vars =
	    xasprintf("%s/" LOAM_LAYOUT_VMS "/%s/" LOAM_LAYOUT_VM_VARS, a->state_dir, id);
	cleanup_free char *disk =
	    xasprintf("%s/" LOAM_LAYOUT_VMS "/%s/" LOAM_LAYOUT_VM_DISK, a->state_dir, id);
	if ((unlink(vars) < 0 && errno != ENOENT) || (unlink(disk) < 0 && errno != ENOENT))
		return loam_fail_errno(err, "remove the VM's VARS or disk");
	return loam_agent_vm_prep(a, &spec, err) < 0 ? loam_err_wrap(err, "prepare the direct boot")
						     : 0;
}

static void kill_pidfile(const char *path)
{
	cleanup_fclose FILE *f = fopen(path, "re");
	long pid = 0;
	if (!f || fscanf(f, "%ld", &pid) != 1 || pid <= 1)
		return;
	kill((pid_t)pid, SIGKILL);
	for (int i = 0; i < 100 && kill((pid_t)pid, 0) == 0; i++)
		loam_cli_sleep_ms(50);
}

/* Root runs the machine vm-start runs, its files named by path (vm-argv
 * --paths): the same QEMU without loam's jail or its agent. */
static int direct_boot(const struct boot_opts *o, const struct loam_argv *qemu,
		       const struct loam_argv *env, const struct vm_files *f, int64_t *ms,
		       loam_err *err)
{
	unlink(f->serial);
	settle(o);
	int64_t t0 = now_ms();
	struct loam_spawn_opts so = {
	    .argv = loam_argv_view(qemu), .envp = loam_argv_view(env), .timeout_ms = 120000};
	struct loam_spawn_result r;
	int rc = loam_spawn_ok(&so, &r, err);
	loam_spawn_result_free(&r);
	if (rc < 0)
		return loam_err_wrap(err, "start QEMU directly");
	while (!serial_ready(f->serial)) {
		if (now_ms() - t0 > BOOT_LIMIT_MS) {
			kill_pidfile(f->pidfile);
			return loam_fail(err, LOAM_E_TIMEOUT, "direct boot: no LOAM-READY in %s",
					 f->serial);
		}
		loam_cli_sleep_ms(POLL_MS);
	}
	*ms = now_ms() - t0;
	kill_pidfile(f->pidfile);
	return 0;
}

struct bench_run {
	struct loam_client *c;
	const struct boot_opts *o;
	struct loam_agent agent; /* on this machine, through the local transport */
	int64_t loam_ms[MAX_RUNS], overhead_ms[MAX_RUNS], direct_ms[MAX_RUNS];
	int64_t jail_us[MAX_RUNS]; /* what the jail added to a start (vm-start's jail_ms) */
	char name[64];
};

/* A VM with a network has its QEMU in its namespace (docs/network.md), and
 * so does the direct boot: this thread enters it for the fork (the child
 * inherits it) and comes back. Returns the fd of the namespace to return
 * to, -1 when the VM has none. */
static int enter_vm_netns(const char *id, loam_err *err)
{
	cleanup_free char *ns = xasprintf("/run/netns/" LOAM_LAYOUT_NETNS_PREFIX "%s", id);
	int target = open(ns, O_RDONLY | O_CLOEXEC);
	if (target < 0)
		return -1;
	int back = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (back < 0 || setns(target, CLONE_NEWNET) < 0) {
		loam_fail_errno(err, "enter %s", ns);
		if (back >= 0)
			close(back);
		back = -2;
	}
	close(target);
	return back;
}

static void leave_vm_netns(int back)
{
	if (back < 0)
		return;
	if (setns(back, CLONE_NEWNET) < 0)
		abort(); /* the bench would go on in a VM's namespace */
	close(back);
}

/* Stops the loam-booted VM, starts it once through the agent for what its
 * jail costs (cgroup, namespaces, mounts, drop: vm-start's jail_ms), and
 * boots its exact argv once more without loam. */
static int measure_direct(const struct bench_run *b, const char *id, int64_t *ms, int64_t *jail_us,
			  loam_err *err)
{
	cleanup_argv struct loam_argv qemu = {0}, env = {0};
	double jail_ms = 0;
	if (loam_agent_vm_stop(&b->agent, id, 0, NULL, err) < 0 ||
	    loam_agent_vm_start_timed(&b->agent, id, NULL, NULL, &jail_ms, err) < 0 ||
	    loam_agent_vm_stop(&b->agent, id, 0, NULL, err) < 0)
		return -1;
	*jail_us = (int64_t)(jail_ms * 1000);
	if (reprep(&b->agent, id, err) < 0 ||
	    loam_agent_vm_argv(&b->agent, id, &qemu, &env, err) < 0)
		return -1;
	cleanup_vm_files struct vm_files f = {0};
	vm_files_init(&f, b->agent.state_dir, id);
	int back = enter_vm_netns(id, err);
	if (back == -2)
		return -1;
	int rc = direct_boot(b->o, &qemu, &env, &f, ms, err);
	leave_vm_netns(back);
	return rc;
}

/* One pair, back to back so that both see the same machine load: request →
 * running through loam, then the same VM's argv directly. */
static int run_pair(struct bench_run *b, long i, loam_err *err)
{
	snprintf(b->name, sizeof(b->name), "bench-boot-%ld-%ld", (long)getpid(), i);
	struct boot_time bt = {0};
	if (loam_boot(b->c, b->o, b->agent.state_dir, b->name, &bt, err) < 0)
		return -1;
	b->loam_ms[i] = bt.total_ms;
	b->overhead_ms[i] = bt.overhead_ms;
	cleanup_json json_t *vm = vm_get(b->c, b->name, err);
	int rc = vm ? measure_direct(b, json_string_value(json_object_get(vm, "id")),
				     &b->direct_ms[i], &b->jail_us[i], err)
		    : -1;
	cleanup_err loam_err rm = NULL;
	if (vm_remove(b->c, b->name, rc < 0 ? &rm : err) < 0 && rc == 0)
		return -1;
	if (rc == 0)
		fprintf(
		    stderr,
		    "loam: bench boot: run %ld: loam %lld ms (overhead %lld ms: %lld before QEMU, "
		    "%lld after LOAM-READY), direct %lld ms, jail %.1f ms\n",
		    i + 1, (long long)b->loam_ms[i], (long long)b->overhead_ms[i],
		    (long long)bt.before_qemu_ms, (long long)bt.after_ready_ms,
		    (long long)b->direct_ms[i], (double)b->jail_us[i] / 1000);
	return rc;
}

static json_t *ms_array(const int64_t *v, long n)
{
	json_t *a = json_array();
	for (long i = 0; i < n; i++)
		json_array_append_new(a, json_integer(v[i]));
	return a;
}

/* The p50 of the first n values, leaving v in its run order. */
static int64_t p50_of(const int64_t *v, long n)
{
	int64_t sorted[MAX_RUNS];
	memcpy(sorted, v, (size_t)n * sizeof(*v));
	return p50(sorted, (size_t)n);
}

static double ratio(int64_t a, int64_t b)
{
	return b > 0 ? (double)a / (double)b : 0.0;
}

static json_t *results_json(const struct bench_run *b, const char *host_name)
{
	long n = b->o->runs;
	int64_t lp = p50_of(b->loam_ms, n), dp = p50_of(b->direct_ms, n),
		op = p50_of(b->overhead_ms, n), jp = p50_of(b->jail_us, n);
	return json_pack("{s:s, s:s, s:s, s:i, s:i, s:i, s:i, s:f, s:f, s:i, s:f, s:o, s:o, s:o, "
			 "s:f, s:f, s:o, s:s}",
			 "arch", b->o->arch, "size", b->o->size, "boot",
			 b->o->direct_kernel ? "direct-kernel" : "firmware", "runs", (json_int_t)n,
			 "settle_s", (json_int_t)b->o->settle_s, "loam_p50_ms", (json_int_t)lp,
			 "direct_p50_ms", (json_int_t)dp, "ratio", ratio(lp, dp), "goal_ratio",
			 1.10, "loam_overhead_p50_ms", (json_int_t)op, "overhead_ratio",
			 ratio(dp + op, dp), "loam_ms", ms_array(b->loam_ms, n), "direct_ms",
			 ms_array(b->direct_ms, n), "overhead_ms", ms_array(b->overhead_ms, n),
			 "jail_p50_ms", (double)jp / 1000, "jail_goal_ms", 20.0, "jail_us",
			 ms_array(b->jail_us, n), "host", host_name);
}

static int run_bench(struct bench_run *b, json_t **out, loam_err *err)
{
	cleanup_json json_t *host = find_host(b->c, b->o->arch, err);
	if (!host)
		return -1;
	b->agent.path = json_string_value(json_object_get(host, "agent_path"));
	b->agent.state_dir = json_string_value(json_object_get(host, "state_dir"));
	if (!b->agent.path || !b->agent.state_dir)
		return loam_fail(err, LOAM_E_INVALID, "the host has no agent path or state dir");
	b->agent.timeout_ms = 120000;
	struct loam_host_target local = {.kind = LOAM_TRANSPORT_LOCAL, .name = "local"};
	if (loam_transport_open(&local, &b->agent.t, NULL, err) < 0)
		return -1;
	int rc = 0;
	for (long i = 0; i < b->o->runs && rc == 0; i++)
		rc = run_pair(b, i, err);
	loam_transport_close(b->agent.t);
	if (rc < 0)
		return -1;
	*out = results_json(b, json_string_value(json_object_get(host, "name")) ?: "");
	return 0;
}

/* ---- a loamd of our own, in a temp dir, when none answers ---- */

struct temp_loamd {
	char dir[PATH_MAX];
	pid_t pid;
};

static int free_port(uint16_t *port, loam_err *err)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int rc = fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
			 getsockname(fd, (struct sockaddr *)&a, &len) == 0
		     ? 0
		     : -1;
	if (fd >= 0)
		close(fd);
	if (rc < 0)
		return loam_fail_errno(err, "pick a free port");
	*port = ntohs(a.sin_port);
	return 0;
}

/* loamd next to this binary (build/bin/), its output in DIR/loamd.log. */
static int spawn_loamd(struct temp_loamd *t, uint16_t port, loam_err *err)
{
	char exe[PATH_MAX], loamd[PATH_MAX + 8], listen_addr[32], log[PATH_MAX + 16];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return loam_fail_errno(err, "find the loam binary");
	exe[n] = '\0';
	snprintf(loamd, sizeof(loamd), "%s/loamd", dirname(exe));
	snprintf(listen_addr, sizeof(listen_addr), "127.0.0.1:%u", port);
	snprintf(log, sizeof(log), "%s/loamd.log", t->dir);
	char *const argv[] = {loamd, "--state-dir", t->dir, "--listen", listen_addr, NULL};
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0600);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	int rc = posix_spawn(&t->pid, loamd, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0) {
		errno = rc;
		return loam_fail_errno(err, "start %s", loamd);
	}
	return 0;
}

static json_t *call_json(const char *method, const char *path, json_t *body, loam_err *err)
{
	cleanup_client struct loam_client *c = NULL;
	json_t *out = NULL;
	if (loam_client_open(&c, err) < 0 || loam_client_call(c, method, path, body, &out, err) < 0)
		return NULL;
	return out;
}

/* Whether the host accepts VMs and has loam-tiny installed for arch. */
static bool host_has_image(const json_t *h, const char *arch)
{
	if (strcmp(json_string_value(json_object_get(h, "state")) ?: "", "accepting") != 0)
		return false;
	size_t i;
	json_t *a;
	json_array_foreach(json_object_get(h, "artifacts"), i, a)
	{
		if (strcmp(loam_cli_str(a, "component"), "image") == 0 &&
		    strcmp(loam_cli_str(a, "name"), "loam-tiny") == 0 &&
		    strcmp(loam_cli_str(a, "arch"), arch) == 0 &&
		    strcmp(loam_cli_str(a, "state"), "installed") == 0)
			return true;
	}
	return false;
}

/* Adds this machine as host "local" serving arch (emulated if foreign). */
static int cloudify_local(const char *arch, loam_err *err)
{
	cleanup_json json_t *add = json_pack("{s:b}", "local", 1);
	cleanup_json json_t *added = call_json("POST", "/v1/hosts", add, err);
	if (!added)
		return -1;
	const struct loam_arch *own = loam_arch_of_this_machine(err);
	if (!own)
		return -1;
	json_t *set =
	    json_pack("{s:b, s:f, s:[]}", "allow_tcg", 1, "cpu_overcommit", 2.0, "emulate");
	if (strcmp(own->name, arch) != 0)
		json_array_append_new(json_object_get(set, "emulate"), json_string(arch));
	cleanup_json json_t *h = call_json("PATCH", "/v1/hosts/local", set, err);
	json_decref(set);
	if (!h)
		return -1;
	for (int i = 0; i < 1800; i++) {
		cleanup_json json_t *cur = call_json("GET", "/v1/hosts/local", NULL, err);
		if (!cur)
			return -1;
		if (host_has_image(cur, arch))
			return 0;
		loam_cli_sleep_ms(500);
	}
	return loam_fail(err, LOAM_E_TIMEOUT, "the local host did not get ready in 15 min");
}

static void temp_loamd_stop(struct temp_loamd *t)
{
	if (t->pid > 0) {
		kill(t->pid, SIGTERM);
		waitpid(t->pid, NULL, 0);
	}
	if (t->dir[0]) {
		const char *argv[] = {"rm", "-rf", "--one-file-system", t->dir, NULL};
		struct loam_spawn_opts so = {.argv = argv, .timeout_ms = 60000};
		struct loam_spawn_result r;
		cleanup_err loam_err err = NULL;
		if (loam_spawn(&so, &r, &err) == 0)
			loam_spawn_result_free(&r);
	}
}

static int temp_loamd_start(const char *arch, struct temp_loamd *t, loam_err *err)
{
	uint16_t port = 0;
	if (loam_bench_mkdtemp("boot", t->dir, sizeof(t->dir), err) < 0)
		return -1;
	chmod(t->dir, 0755); /* the VM users traverse it to their own dirs */
	if (free_port(&port, err) < 0 || spawn_loamd(t, port, err) < 0)
		return -1;
	char url[64];
	snprintf(url, sizeof(url), "http://127.0.0.1:%u", port);
	setenv("LOAM_URL", url, 1);
	setenv("LOAM_STATE_DIR", t->dir, 1);
	unsetenv("LOAM_TOKEN");
	fprintf(stderr, "loam: bench boot: no loamd answers; started one in %s\n", t->dir);
	for (int i = 0; i < 300; i++) {
		loam_err down = NULL;
		json_t *sizes = call_json("GET", "/v1/sizes", NULL, &down);
		loam_err_free(&down);
		if (sizes) {
			json_decref(sizes);
			return cloudify_local(arch, err);
		}
		loam_cli_sleep_ms(100);
	}
	return loam_fail(err, LOAM_E_TIMEOUT, "loamd in %s did not answer; see its loamd.log",
			 t->dir);
}

/* True when a loamd answers at $LOAM_URL. */
static bool loamd_answers(void)
{
	cleanup_err loam_err err = NULL;
	cleanup_json json_t *sizes = call_json("GET", "/v1/sizes", NULL, &err);
	return sizes != NULL;
}

static int parse(int argc, char **argv, struct boot_opts *o)
{
	static const struct option opts[] = {
	    {"arch", required_argument, NULL, 'a'},   {"runs", required_argument, NULL, 'r'},
	    {"size", required_argument, NULL, 's'},   {"direct-kernel", no_argument, NULL, 'k'},
	    {"settle", required_argument, NULL, 'w'}, {0}};
	*o = (struct boot_opts){.size = "standard-2", .runs = 3, .settle_s = 5};
	optind = 1;
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		char *end = NULL;
		if (c == 'a')
			o->arch = optarg;
		else if (c == 'k')
			o->direct_kernel = true;
		else if (c == 's')
			o->size = optarg;
		else if (c == 'r')
			o->runs = strtol(optarg, &end, 10);
		else if (c == 'w')
			o->settle_s = strtol(optarg, &end, 10);
		else
			return -1;
		if (c == 'r' && (o->runs < 1 || *end || o->runs > MAX_RUNS))
			return -1;
		if (c == 'w' && (o->settle_s < 0 || *end || o->settle_s > MAX_SETTLE_S))
			return -1;
	}
	return o->arch && optind == argc ? 0 : -1;
}

/* Any spelling of the arch becomes its canonical name, and the size must
 * be one of that arch's, before anything starts. */
static int canonical_args(struct boot_opts *o, loam_err *err)
{
	const struct loam_arch *arch = loam_arch_normalize(o->arch, err);
	const struct loam_size *size = NULL;
	if (!arch || loam_size_find(arch, o->size, &size, err) < 0)
		return -1;
	o->arch = arch->name;
	return 0;
}

int loam_bench_boot_main(int argc, char **argv)
{
	struct boot_opts o;
	if (parse(argc, argv, &o) < 0)
		return loam_cli_usage(
		    "loam bench boot --arch A [--runs N (1..50)] [--size S] [--direct-kernel] "
		    "[--settle S (0..60, default 5)]");
	cleanup_err loam_err err = NULL;
	if (canonical_args(&o, &err) < 0)
		return loam_cli_error(err);
	struct bench_run b = {.o = &o};
	struct temp_loamd own = {0};
	if (!loamd_answers() && temp_loamd_start(o.arch, &own, &err) < 0) {
		temp_loamd_stop(&own);
		return loam_cli_error(err);
	}
	if (loam_client_open(&b.c, &err) < 0) {
		temp_loamd_stop(&own);
		return loam_cli_error(err);
	}
	cleanup_json json_t *out = NULL;
	int rc = run_bench(&b, &out, &err);
	loam_client_close(b.c);
	temp_loamd_stop(&own);
	if (rc < 0)
		return loam_cli_error(err);
	loam_cli_print_json(out);
	return 0;
}
