/*
 * The VM verbs of the agent: vm-prep, vm-start, vm-status, vm-stop and
 * vm-purge. Each is idempotent, takes its words as validated argv and its
 * data as JSON on stdin, and prints one JSON object on stdout. QEMU runs
 * as the VM's own unix user in its jail (vm_launch.h, jail.h), from the
 * pinned vmm bundle when the spec names one, supervised through its
 * vmm.pid, its QMP socket and its serial log; its disk comes from the
 * storage daemon (vm_storage.h), jailed likewise, which starts before it
 * and stops after.
 * The exact interface is documented in docs/agent-vm-verbs.md.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/argv.h"
#include "lib/cleanup.h"
#include "lib/fs.h"
#include "lib/json.h"
#include "lib/valid.h"
#include "lib/clock.h"
#include "host/jail.h"
#include "host/net.h"
#include "host/qmp.h"
#include "host/verbs.h"
#include "host/vm.h"
#include "host/vm_prep.h"
#include "host/vm_status.h"
#include "host/vm_files.h"
#include "host/vm_launch.h"
#include "host/vm_storage.h"
#include "proto/agent.h"

#define QMP_TIMEOUT_MS	       5000
#define DEFAULT_STOP_TIMEOUT_S 30
#define DEFAULT_WAIT_READY_S   5
#define WAIT_READY_POLL_MS     25

struct vm_args {
	const char *id, *state_dir;
	long timeout_s;
	bool by_path; /* vm-argv --paths */
};

static int parse_args(int argc, char **argv, bool want_id, long default_timeout_s,
		      struct vm_args *a, loam_err *err)
{
	*a = (struct vm_args){.timeout_s = default_timeout_s};
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], LOAM_OPT_STATE_DIR) == 0 && i + 1 < argc) {
			a->state_dir = argv[++i];
		} else if (strcmp(argv[i], LOAM_OPT_TIMEOUT) == 0 && i + 1 < argc) {
			char *end = NULL;
			a->timeout_s = strtol(argv[++i], &end, 10);
			if (*end || a->timeout_s < 0 || a->timeout_s > 3600)
				return loam_fail(err, LOAM_E_INVALID,
						 "--timeout must be 0..3600 seconds");
		} else if (strcmp(argv[i], LOAM_OPT_PATHS) == 0) {
			a->by_path = true;
		} else if (want_id && !a->id && argv[i][0] != '-') {
			a->id = argv[i];
		} else {
			return loam_fail(err, LOAM_E_INVALID, "unexpected argument '%.64s'",
					 loam_has_unsafe_chars(argv[i]) ? "?" : argv[i]);
		}
	}
	if (!a->state_dir)
		return loam_fail(err, LOAM_E_INVALID, "--state-dir DIR is required");
	if (want_id && !a->id)
		return loam_fail(err, LOAM_E_INVALID, "the VM id is required");
	return 0;
}

static int print_json(json_t *j)
{
	cleanup_free char *s = loam_json_dump(j);
	printf("%s\n", s);
	json_decref(j);
	return fflush(stdout) == 0 ? 0 : 1;
}

/* Waits up to timeout_ms for pid to end; true when it did. */
static bool wait_gone(pid_t pid, long timeout_ms)
{
	for (long waited = 0; vm_pid_alive(pid); waited += 50) {
		if (waited >= timeout_ms)
			return false;
		loam_sleep_ms(50);
	}
	return true;
}

/* Locks the VM's directory against concurrent verbs on the same VM. */
static int lock_vm_dir(const struct vm_paths *p, loam_err *err)
{
	int fd = open(p->dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return loam_fail_errno(err, "open %s", p->dir);
	if (flock(fd, LOCK_EX) < 0) {
		loam_fail_errno(err, "lock %s", p->dir);
		close(fd);
		return -1;
	}
	return fd;
}

/* Stops the storage daemon through its root supervisor (which this leaves
 * alone: it is root's), then ends every process of the VM's user but
 * `spared`, not only QEMU (whatever a compromised QEMU, daemon or guest
 * left behind), then removes the VM's cgroup. After QEMU, which may flush
 * to the daemon. */
static int end_vm_processes(const struct vm_paths *p, pid_t spared, loam_err *err)
{
	uid_t uid;
	gid_t gid;
	bool found = false;
	char cgroup[96];
	vm_cgroup_name(p, cgroup, sizeof(cgroup));
	if (vm_storage_stop(p, err) < 0 || vm_user_lookup(p->user, &uid, &gid, &found, err) < 0 ||
	    (found && vm_kill_user_processes(uid, spared, err) < 0))
		return -1;
	return jail_cgroup_remove(cgroup, err);
}

/* ---- vm-prep ---- */

static int read_stdin(char **out, size_t *len, loam_err *err)
{
	return loam_read_file("/dev/stdin", 4u << 20, out, len, err);
}

int loam_host_verb_vm_prep(int argc, char **argv)
{
	cleanup_err loam_err err = NULL;
	struct vm_args a;
	cleanup_free char *input = NULL;
	size_t len = 0;
	if (parse_args(argc, argv, false, 0, &a, &err) < 0 || read_stdin(&input, &len, &err) < 0)
		return loam_host_report(LOAM_VERB_VM_PREP, &err);
	cleanup_json json_t *j = loam_json_parse(input, len, "VM spec on stdin", &err);
	struct vm_spec spec = {0};
	struct vm_paths p;
	if (!j || vm_spec_parse(j, &spec, &err) < 0 ||
	    vm_paths_init(a.state_dir, spec.id, &p, &err) < 0) {
		vm_spec_free(&spec);
		return loam_host_report(LOAM_VERB_VM_PREP, &err);
	}
	json_t *result = NULL;
	int rc = vm_prep(&p, &spec, &result, &err);
	vm_spec_free(&spec);
	if (rc < 0)
		return loam_host_report(LOAM_VERB_VM_PREP, &err);
	return print_json(result);
}

/* ---- vm-start ---- */

int loam_host_verb_vm_start(int argc, char **argv)
{
	cleanup_err loam_err err = NULL;
	struct vm_args a;
	struct vm_paths p;
	if (parse_args(argc, argv, true, DEFAULT_STOP_TIMEOUT_S, &a, &err) < 0 ||
	    vm_paths_init(a.state_dir, a.id, &p, &err) < 0)
		return loam_host_report(LOAM_VERB_VM_START, &err);
	struct vm_spec spec = {0};
	if (vm_spec_load(&p, &spec, &err) < 0)
		return loam_host_report(LOAM_VERB_VM_START, &err);
	cleanup_close int lock = lock_vm_dir(&p, &err);
	pid_t pid = lock < 0 ? 0 : vm_running_pid(&p);
	bool started = false;
	double jail_ms = 0;
	int rc = lock < 0 ? -1 : 0;
	if (rc == 0 && !pid) {
		/* The VM's dnsmasq (its user's too) stays: vm-prep started it
		 * just before, and making it again costs a boot ~100 ms. */
		rc = end_vm_processes(&p, vm_net_dnsmasq_of(p.vms, p.id), &err) < 0
			 ? -1
			 : vm_launch(&p, &spec, &pid, &jail_ms, &err);
		started = rc == 0;
	}
	vm_spec_free(&spec);
	if (rc < 0)
		return loam_host_report(LOAM_VERB_VM_START, &err);
	return print_json(json_pack("{s:s,s:i,s:b,s:f}", LOAM_KEY_ID, p.id, LOAM_KEY_PID,
				    (json_int_t)pid, LOAM_KEY_STARTED, started, LOAM_KEY_JAIL_MS,
				    jail_ms));
}

/* ---- vm-argv ---- */

int loam_host_verb_vm_argv(int argc, char **argv)
{
	cleanup_err loam_err err = NULL;
	struct vm_args a;
	struct vm_paths p;
	if (parse_args(argc, argv, true, 0, &a, &err) < 0 ||
	    vm_paths_init(a.state_dir, a.id, &p, &err) < 0)
		return loam_host_report(LOAM_VERB_VM_ARGV, &err);
	struct vm_spec spec = {0};
	cleanup_argv struct loam_argv qemu = {0};
	cleanup_argv struct loam_argv env = {0};
	int rc = vm_spec_load(&p, &spec, &err) < 0 ||
			 vm_qemu_argv(&p, &spec, a.by_path, &qemu, &err) < 0 ||
			 vm_qemu_env(&spec, &env, &err) < 0
		     ? -1
		     : 0;
	vm_spec_free(&spec);
	if (rc < 0)
		return loam_host_report(LOAM_VERB_VM_ARGV, &err);
	json_t *words = json_array();
	for (size_t i = 0; i < qemu.n; i++)
		json_array_append_new(words, json_string(qemu.v[i]));
	json_t *env_words = json_array(); /* QEMU's whole environment */
	for (size_t i = 0; i < env.n; i++)
		json_array_append_new(env_words, json_string(env.v[i]));
	return print_json(json_pack("{s:s,s:o,s:o}", LOAM_KEY_ID, p.id, LOAM_KEY_ARGV, words,
				    LOAM_KEY_ENV, env_words));
}

/* ---- vm-status ---- */

int loam_host_verb_vm_status(int argc, char **argv)
{
	cleanup_err loam_err err = NULL;
	struct vm_args a;
	struct vm_paths p;
	if (parse_args(argc, argv, true, DEFAULT_STOP_TIMEOUT_S, &a, &err) < 0 ||
	    vm_paths_init(a.state_dir, a.id, &p, &err) < 0)
		return loam_host_report(LOAM_VERB_VM_STATUS, &err);
	return print_json(vm_status_json(&p, true));
}

/* ---- vm-wait-ready ---- */

/*
 * Waits until the guest's readiness line is on the serial log, the VMM is
 * gone, or timeout_s passes. One process watching the log's size costs the
 * booting guest far less CPU than a status call (a spawn and a QMP round
 * trip) every few hundred milliseconds, and it sees the line sooner.
 * Returns true when it timed out.
 */
static bool wait_ready(const struct vm_paths *p, long timeout_s)
{
	int64_t deadline = loam_now_ms() + timeout_s * 1000;
	off_t seen = -1;
	while (!vm_boot_settled(p, &seen)) {
		if (loam_now_ms() >= deadline)
			return true;
		loam_sleep_ms(WAIT_READY_POLL_MS);
	}
	return false;
}

int loam_host_verb_vm_wait_ready(int argc, char **argv)
{
	cleanup_err loam_err err = NULL;
	struct vm_args a;
	struct vm_paths p;
	if (parse_args(argc, argv, true, DEFAULT_WAIT_READY_S, &a, &err) < 0 ||
	    vm_paths_init(a.state_dir, a.id, &p, &err) < 0)
		return loam_host_report(LOAM_VERB_VM_WAIT_READY, &err);
	bool timed_out = wait_ready(&p, a.timeout_s);
	json_t *out = vm_status_json(&p, false);
	json_object_set_new(out, LOAM_KEY_TIMED_OUT, json_boolean(timed_out));
	return print_json(out);
}

/* ---- vm-stop and vm-purge ---- */

static bool qmp_command(const struct vm_paths *p, const char *command)
{
	struct loam_qmp *q = NULL;
	loam_err err = NULL;
	bool ok = loam_qmp_connect(p->qmp, QMP_TIMEOUT_MS, &q, &err) == 0 &&
		  loam_qmp_execute(q, command, NULL, NULL, &err) == 0;
	loam_qmp_close(q);
	loam_err_free(&err);
	return ok;
}

/* The stale pid file (in run/, through its fd) and QMP socket of a QEMU
 * that ended; what cannot be removed is replaced at the next start. */
static void forget_runtime_files(const struct vm_paths *p)
{
	cleanup_err loam_err err = NULL;
	uid_t owner;
	cleanup_close int dir = vm_dir_open(p, &err);
	cleanup_close int run = dir < 0 ? -1 : vm_run_open(dir, &owner, &err);
	if (run >= 0)
		vm_unlink_at(run, LOAM_LAYOUT_VM_PIDFILE, &err);
	if (dir >= 0) {
		vm_unlink_at(dir, LOAM_LAYOUT_VM_QMP, &err);
		vm_unlink_at(dir, LOAM_LAYOUT_VM_VMM_PID, &err);
	}
}

/* Stops QEMU: ACPI power-down for up to powerdown_ms (0 skips it), then
 * QMP quit, then SIGKILL. Returns how it ended, or NULL if not running. */
static const char *stop_qemu(const struct vm_paths *p, long powerdown_ms, loam_err *err)
{
	pid_t pid = vm_running_pid(p);
	if (!pid)
		return NULL;
	const char *how = NULL;
	if (powerdown_ms > 0 && qmp_command(p, "system_powerdown") && wait_gone(pid, powerdown_ms))
		how = "powerdown";
	else if (qmp_command(p, "quit") && wait_gone(pid, 5000))
		how = "quit";
	else {
		kill(pid, SIGKILL);
		if (!wait_gone(pid, 10000)) {
			loam_fail(err, LOAM_E_IO, "QEMU (pid %d) survives SIGKILL", (int)pid);
			return "";
		}
		how = "kill";
	}
	forget_runtime_files(p);
	return how;
}

int loam_host_verb_vm_stop(int argc, char **argv)
{
	cleanup_err loam_err err = NULL;
	struct vm_args a;
	struct vm_paths p;
	if (parse_args(argc, argv, true, DEFAULT_STOP_TIMEOUT_S, &a, &err) < 0 ||
	    vm_paths_init(a.state_dir, a.id, &p, &err) < 0)
		return loam_host_report(LOAM_VERB_VM_STOP, &err);
	struct stat st;
	cleanup_close int lock = lstat(p.dir, &st) == 0 ? lock_vm_dir(&p, &err) : -1;
	if (err)
		return loam_host_report(LOAM_VERB_VM_STOP, &err);
	(void)lock; /* held until return */
	/* The storage daemon stops after QEMU, which may flush to it. */
	const char *how = stop_qemu(&p, a.timeout_s * 1000, &err);
	if (!err && lock >= 0)
		end_vm_processes(&p, 0, &err);
	if (err)
		return loam_host_report(LOAM_VERB_VM_STOP, &err);
	return print_json(json_pack("{s:s,s:b,s:o}", LOAM_KEY_ID, p.id, LOAM_KEY_WAS_RUNNING,
				    how != NULL, LOAM_KEY_STOPPED_BY,
				    how ? json_string(how) : json_null()));
}

static int purge(const struct vm_paths *p, long powerdown_ms, bool *existed, loam_err *err)
{
	uid_t uid;
	gid_t gid;
	bool user_found = false;
	struct stat st;
	*existed = lstat(p->dir, &st) == 0;
	if (*existed && stop_qemu(p, powerdown_ms, err) && *err)
		return -1;
	if (vm_user_lookup(p->user, &uid, &gid, &user_found, err) < 0)
		return -1;
	*existed = *existed || user_found;
	if (end_vm_processes(p, 0, err) < 0)
		return -1;
	char state_dir[VM_NET_PATH_MAX];
	vm_net_state_dir_of(p->vms, state_dir);
	if (vm_net_purge(state_dir, p->id, err) < 0 || vm_remove_tree(p->dir, err) < 0 ||
	    vm_user_remove(p->user, err) < 0)
		return -1;
	return 0;
}

int loam_host_verb_vm_purge(int argc, char **argv)
{
	cleanup_err loam_err err = NULL;
	struct vm_args a;
	struct vm_paths p;
	if (parse_args(argc, argv, true, 0, &a, &err) < 0 ||
	    vm_paths_init(a.state_dir, a.id, &p, &err) < 0)
		return loam_host_report(LOAM_VERB_VM_PURGE, &err);
	bool existed = false;
	if (purge(&p, a.timeout_s * 1000, &existed, &err) < 0)
		return loam_host_report(LOAM_VERB_VM_PURGE, &err);
	return print_json(json_pack("{s:s,s:b,s:b}", LOAM_KEY_ID, p.id, LOAM_KEY_EXISTED, existed,
				    LOAM_KEY_PURGED, true));
}

int loam_host_vm_args_check(int argc, char **argv, bool want_id, loam_err *err)
{
	struct vm_args a;
	struct vm_paths p;
	if (parse_args(argc, argv, want_id, DEFAULT_STOP_TIMEOUT_S, &a, err) < 0)
		return -1;
	return want_id ? vm_paths_init(a.state_dir, a.id, &p, err) : 0;
}
