/*
 * The VM verbs of the agent: vm-prep, vm-start, vm-status, vm-stop and
 * vm-purge. Each is idempotent, takes its words as validated argv and its
 * data as JSON on stdin, and prints one JSON object on stdout. QEMU runs
 * daemonized as the VM's own unix user (started as that user: run_as.h),
 * from the pinned vmm bundle when the spec names one, supervised through its pid file,
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
#include "host/net.h"
#include "host/qmp.h"
#include "host/run_as.h"
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
	    .runas = NULL, /* QEMU starts as the VM's user already (start_qemu) */
	    .daemonize = true,
	};
}

/* Under systemd, QEMU runs as a transient unit named after the VM user,
 * so systemctl shows it and it survives the agent's SSH session; systemd
 * starts it as that user (with the user's groups), with its module dir and
 * in its network namespace. */
static void add_systemd_prefix(const struct vm_paths *p, const struct vm_net *net,
			       const char *module_dir, struct loam_argv *argv)
{
	loam_argv_add(argv, "systemd-run");
	loam_argv_addf(argv, "--unit=%s", p->user);
	loam_argv_addf(argv, "--uid=%s", p->user);
	if (*module_dir)
		loam_argv_addf(argv, "--setenv=QEMU_MODULE_DIR=%s", module_dir);
	loam_argv_add(argv, "--collect");
	loam_argv_add(argv, "--quiet");
	loam_argv_add(argv, "--property=Type=forking");
	loam_argv_addf(argv, "--property=PIDFile=%s", p->pid);
	if (net)
		vm_net_systemd_property(net, argv);
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

/* The VM's QEMU argv; *module_dir (QEMU_MODULE_DIR) gets the pinned
 * bundle's module dir, "" without one. */
static int build_start_argv(const struct vm_paths *p, const struct vm_spec *s,
			    const struct vm_net *net, bool supervised, struct loam_argv *argv,
			    char module_dir[VM_PATH_MAX], loam_err *err)
{
	char huge[VM_PATH_MAX] = "", name[VM_PATH_MAX], qemu[PATH_MAX], data_dir[VM_PATH_MAX];
	if (s->hugepages) {
		if (s->hugepage_dir)
			snprintf(huge, sizeof(huge), "%s", s->hugepage_dir);
		else if (find_hugepage_dir(huge, err) < 0)
			return -1;
	}
	/* By its absolute path, so that vm-argv shows what runs. */
	if (vm_spec_vmm_paths(s, name, data_dir, module_dir, err) < 0)
		return -1;
	if (name[0] == '/')
		snprintf(qemu, sizeof(qemu), "%s", name);
	else if (vm_tool(name, qemu, err) < 0)
		return -1;
	struct loam_vmm_spec v;
	fill_vmm_spec(p, s, s->hugepages ? huge : NULL, &v);
	if (supervised && vm_systemd_present())
		add_systemd_prefix(p, net, module_dir, argv);
	if (loam_vmm_argv(s->arch, qemu, &v, argv, err) < 0)
		return -1;
	/* The bundle's data dir, first in QEMU's search path wherever -L sits:
	 * QEMU 10 is built non-relocatable and would read /usr/share/qemu. */
	if (*data_dir) {
		loam_argv_add(argv, "-L");
		loam_argv_add(argv, data_dir);
	}
	if (net)
		vm_net_qemu_args(net, argv);
	return 0;
}

static int check_prepared(const struct vm_paths *p, const struct vm_spec *s, uid_t *uid, gid_t *gid,
			  loam_err *err)
{
	bool found = false;
	if (vm_user_lookup(p->user, uid, gid, &found, err) < 0)
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

/* The VM's network, made again if the host lost it (a reboot), and this
 * process in its namespace, so that QEMU starts there (host/net.h). */
static int join_net(const struct vm_paths *p, const struct vm_net *net, uid_t uid, gid_t gid,
		    loam_err *err)
{
	char state_dir[VM_NET_PATH_MAX];
	vm_net_state_dir_of(p->vms, state_dir);
	return vm_net_ensure(state_dir, net, uid, gid, err) < 0 || vm_net_enter(net, err) < 0 ? -1
											      : 0;
}

/* Runs the argv as the VM's user (never root, never QEMU's -runas, which
 * QEMU 10 refuses), or under systemd-run, which switches to the user. */
static int exec_qemu(const struct vm_paths *p, struct loam_argv *argv, const char *module_dir,
		     gid_t gid, loam_err *err)
{
	char env_modules[VM_PATH_MAX + 32];
	snprintf(env_modules, sizeof(env_modules), "QEMU_MODULE_DIR=%s", module_dir);
	const char *env[] = {*module_dir ? env_modules : NULL, NULL};
	if (!vm_systemd_present())
		return vm_start_as_user(p, loam_argv_view(argv), env, QEMU_START_TIMEOUT_MS, err);
	if (vm_serial_log_reset(p, gid, err) < 0)
		return -1;
	systemctl_quiet("reset-failed", p->user);
	struct loam_spawn_opts o = {.argv = loam_argv_view(argv),
				    .timeout_ms = QEMU_START_TIMEOUT_MS};
	struct loam_spawn_result r;
	int rc = loam_spawn_ok(&o, &r, err);
	loam_spawn_result_free(&r);
	return rc;
}

static int start_qemu(const struct vm_paths *p, const struct vm_spec *s, pid_t *pid, loam_err *err)
{
	cleanup_argv struct loam_argv argv = {0};
	cleanup_vm_net struct vm_net net = {0};
	char module_dir[VM_PATH_MAX];
	uid_t uid;
	gid_t gid;
	int has_net = vm_net_load_vm(p->vms, p->id, &net, err);
	if (has_net < 0 || check_prepared(p, s, &uid, &gid, err) < 0 ||
	    build_start_argv(p, s, has_net ? &net : NULL, true, &argv, module_dir, err) < 0 ||
	    (has_net && join_net(p, &net, uid, gid, err) < 0))
		return -1;
	unlink(p->pid);
	unlink(p->qmp);
	if (exec_qemu(p, &argv, module_dir, gid, err) < 0)
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
	cleanup_vm_net struct vm_net net = {0};
	char module_dir[VM_PATH_MAX] = "";
	int has_net = vm_net_load_vm(p.vms, p.id, &net, &err);
	int rc = has_net < 0 || vm_spec_load(&p, &spec, &err) < 0
		     ? -1
		     : build_start_argv(&p, &spec, has_net ? &net : NULL, false, &qemu, module_dir,
					&err);
	vm_spec_free(&spec);
	if (rc < 0)
		return loam_host_report(LOAM_VERB_VM_ARGV, &err);
	json_t *words = json_array();
	for (size_t i = 0; i < qemu.n; i++)
		json_array_append_new(words, json_string(qemu.v[i]));
	json_t *env = json_array(); /* what QEMU needs in its environment besides */
	if (*module_dir)
		json_array_append_new(env, json_sprintf("QEMU_MODULE_DIR=%s", module_dir));
	return print_json(
	    json_pack("{s:s,s:o,s:o}", LOAM_KEY_ID, p.id, LOAM_KEY_ARGV, words, LOAM_KEY_ENV, env));
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
