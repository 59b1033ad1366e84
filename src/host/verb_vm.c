/*
 * The VM verbs of the agent: vm-prep, vm-start, vm-status, vm-stop and
 * vm-purge. Each is idempotent, takes its words as validated argv and its
 * data as JSON on stdin, and prints one JSON object on stdout. QEMU runs
 * daemonized as the VM's own unix user, supervised through its pid file,
 * its QMP socket and its serial log (and a systemd unit where systemd runs).
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
#include "lib/spawn.h"
#include "lib/valid.h"
#include "lib/clock.h"
#include "host/qmp.h"
#include "host/verbs.h"
#include "host/vm.h"
#include "host/vm_prep.h"
#include "host/vm_status.h"
#include "host/vmm.h"
#include "proto/agent.h"

#define QMP_TIMEOUT_MS	       5000
#define QEMU_START_TIMEOUT_MS  120000
#define DEFAULT_STOP_TIMEOUT_S 30
#define DEFAULT_WAIT_READY_S   5
#define WAIT_READY_POLL_MS     25

struct vm_args {
	const char *id, *state_dir;
	long timeout_s;
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

/* The hugetlbfs mount with 1 GiB pages, from /proc/mounts. */
static int find_hugepage_dir(char out[VM_PATH_MAX], loam_err *err)
{
	cleanup_fclose FILE *f = fopen("/proc/mounts", "re");
	char line[1024], dev[256], dir[VM_PATH_MAX], type[64], opts[512];
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "%255s %511s %63s %511s", dev, dir, type, opts) == 4 &&
		    strcmp(type, "hugetlbfs") == 0 && strstr(opts, "pagesize=1024M")) {
			snprintf(out, VM_PATH_MAX, "%s", dir);
			return 0;
		}
	return loam_fail(err, LOAM_E_CONFLICT,
			 "the VM wants 1 GiB hugepages but no hugetlbfs with pagesize=1G is "
			 "mounted; mount one (mount -t hugetlbfs -o pagesize=1G none DIR)");
}

static void fill_vmm_spec(const struct vm_paths *p, const struct vm_spec *s,
			  const char *hugepage_dir, struct loam_vmm_spec *v)
{
	struct stat st;
	*v = (struct loam_vmm_spec){
	    .vcpus = s->vcpus,
	    .topo = s->topo,
	    .memory_mib = s->memory_mib,
	    .hugepages = s->hugepages,
	    .kvm = s->kvm,
	    .fw_code = s->fw_code,
	    .fw_vars = p->vars,
	    .disk = p->disk,
	    .seed = s->has_seed && stat(p->seed, &st) == 0 ? p->seed : NULL,
	    .kernel = s->kernel,
	    .initrd = s->initrd,
	    .cmdline = s->cmdline,
	    .skip_firmware = !vm_spec_uses_firmware(s),
	    .serial_log = p->serial,
	    .console_log = p->console,
	    .qmp_socket = p->qmp,
	    .pidfile = p->pid,
	    .name = s->name,
	    .hugepage_dir = hugepage_dir,
	    .runas = p->user,
	    .daemonize = true,
	};
}

/* Under systemd, QEMU runs as a transient unit named after the VM user,
 * so systemctl shows it and it survives the agent's SSH session. */
static void add_systemd_prefix(const struct vm_paths *p, struct loam_argv *argv)
{
	loam_argv_add(argv, "systemd-run");
	loam_argv_addf(argv, "--unit=%s", p->user);
	loam_argv_add(argv, "--collect");
	loam_argv_add(argv, "--quiet");
	loam_argv_add(argv, "--property=Type=forking");
	loam_argv_addf(argv, "--property=PIDFile=%s", p->pid);
	loam_argv_add(argv, "--");
}

static void systemctl_quiet(const char *verb, const char *user)
{
	char unit[VM_USER_MAX + 16];
	snprintf(unit, sizeof(unit), "%s.service", user);
	const char *argv[] = {"systemctl", verb, unit, NULL};
	struct loam_spawn_opts o = {.argv = argv, .timeout_ms = 30000};
	struct loam_spawn_result r;
	loam_err err = NULL;
	if (loam_spawn(&o, &r, &err) == 0)
		loam_spawn_result_free(&r);
	loam_err_free(&err);
}

static int build_start_argv(const struct vm_paths *p, const struct vm_spec *s, bool supervised,
			    struct loam_argv *argv, loam_err *err)
{
	char huge[VM_PATH_MAX] = "";
	if (s->hugepages) {
		if (s->hugepage_dir)
			snprintf(huge, sizeof(huge), "%s", s->hugepage_dir);
		else if (find_hugepage_dir(huge, err) < 0)
			return -1;
	}
	struct loam_vmm_spec v;
	fill_vmm_spec(p, s, s->hugepages ? huge : NULL, &v);
	if (supervised && vm_systemd_present())
		add_systemd_prefix(p, argv);
	return loam_vmm_argv(s->arch, s->qemu ? s->qemu : s->arch->qemu_binary, &v, argv, err);
}

static int check_prepared(const struct vm_paths *p, const struct vm_spec *s, loam_err *err)
{
	uid_t uid;
	gid_t gid;
	bool found = false;
	if (vm_user_lookup(p->user, &uid, &gid, &found, err) < 0)
		return -1;
	struct stat st;
	if (!found || stat(p->disk, &st) < 0 ||
	    (vm_spec_uses_firmware(s) && stat(p->vars, &st) < 0))
		return loam_fail(err, LOAM_E_NOTFOUND,
				 "VM %s is only partly prepared (user, disk or VARS missing); run "
				 "vm-prep",
				 p->id);
	return 0;
}

static int start_qemu(const struct vm_paths *p, const struct vm_spec *s, pid_t *pid, loam_err *err)
{
	cleanup_argv struct loam_argv argv = {0};
	if (check_prepared(p, s, err) < 0 || build_start_argv(p, s, true, &argv, err) < 0)
		return -1;
	unlink(p->pid);
	unlink(p->qmp);
	if (vm_systemd_present())
		systemctl_quiet("reset-failed", p->user);
	struct loam_spawn_opts o = {.argv = loam_argv_view(&argv),
				    .timeout_ms = QEMU_START_TIMEOUT_MS};
	struct loam_spawn_result r;
	int rc = loam_spawn_ok(&o, &r, err);
	loam_spawn_result_free(&r);
	if (rc < 0)
		return loam_err_wrap(err, "start QEMU");
	*pid = vm_running_pid(p);
	if (!*pid)
		return loam_fail(err, LOAM_E_IO, "QEMU exited right after it started; see %s",
				 p->serial);
	return 0;
}

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
	int rc = lock < 0 ? -1 : 0;
	if (rc == 0 && !pid) {
		rc = start_qemu(&p, &spec, &pid, &err);
		started = rc == 0;
	}
	vm_spec_free(&spec);
	if (rc < 0)
		return loam_host_report(LOAM_VERB_VM_START, &err);
	return print_json(json_pack("{s:s,s:i,s:b}", LOAM_KEY_ID, p.id, LOAM_KEY_PID,
				    (json_int_t)pid, LOAM_KEY_STARTED, started));
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
	int rc = vm_spec_load(&p, &spec, &err) < 0
		     ? -1
		     : build_start_argv(&p, &spec, false, &qemu, &err);
	vm_spec_free(&spec);
	if (rc < 0)
		return loam_host_report(LOAM_VERB_VM_ARGV, &err);
	json_t *words = json_array();
	for (size_t i = 0; i < qemu.n; i++)
		json_array_append_new(words, json_string(qemu.v[i]));
	return print_json(json_pack("{s:s,s:o}", LOAM_KEY_ID, p.id, LOAM_KEY_ARGV, words));
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
	unlink(p->pid);
	unlink(p->qmp);
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
	const char *how = stop_qemu(&p, a.timeout_s * 1000, &err);
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
	if (vm_systemd_present()) {
		systemctl_quiet("stop", p->user);
		systemctl_quiet("reset-failed", p->user);
	}
	if (vm_user_lookup(p->user, &uid, &gid, &user_found, err) < 0)
		return -1;
	*existed = *existed || user_found;
	if (user_found && vm_kill_user_processes(uid, err) < 0)
		return -1;
	if (vm_remove_tree(p->dir, err) < 0 || vm_user_remove(p->user, err) < 0)
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
