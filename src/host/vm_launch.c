/*
 * The jail's launcher; see vm_launch.h. The files are opened by root under
 * the checked directory fd (vm_files.h), parked above FD_PARK, and put at
 * their fixed numbers (from 3, in slot order) only in the child, so
 * vm-argv can print the very argv vm-start runs without opening anything.
 */
#include "host/vm_launch.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "host/net.h"
#include "host/vm_files.h"
#include "host/vm_storage.h"
#include "host/vmm.h"
#include "lib/cleanup.h"
#include "lib/clock.h"
#include "lib/spawn.h"
#include "proto/agent.h"

#define FIRST_FD	      3
#define FD_PARK		      VM_JAIL_FD_PARK
#define TAP_FD		      (FIRST_FD + 2 * SLOT_N) /* then one per queue */
#define QEMU_START_TIMEOUT_MS 120000
#define STDERR_MAX	      4096

/* The files QEMU gets open, in the order of their fd numbers. The kernel
 * and initrd are read once at start through /proc/self/fd/N (QEMU's loader
 * knows no fd sets); the rest are fd sets. */
enum slot {
	SLOT_FW_CODE,
	SLOT_VARS,
	SLOT_SEED,
	SLOT_KERNEL,
	SLOT_INITRD,
	SLOT_SERIAL,
	SLOT_CONSOLE,
	SLOT_QMP,
	SLOT_N
};

struct handover {
	bool used[SLOT_N];
	int target[SLOT_N];    /* the fd's number in QEMU, also its fd set's */
	int ro_target[SLOT_N]; /* a writable file's read-only twin in the set; 0: none */
	int src[SLOT_N];       /* root's fds, parked at FD_PARK or above; -1 if none */
	int ro_src[SLOT_N];
	char name[SLOT_N][32];		       /* /dev/fdset/N */
	struct loam_vmm_fd fdsets[2 * SLOT_N]; /* the -add-fd list: every slot but QMP */
	size_t n_fdsets;
};

static void handover_close(struct handover *h)
{
	for (int i = 0; i < SLOT_N; i++) {
		if (h->src[i] >= 0)
			close(h->src[i]);
		if (h->ro_src[i] >= 0)
			close(h->ro_src[i]);
	}
}

/* QEMU opens a writable image read-only first (probing) and then read-write;
 * the fd set must answer both. */
static bool writable(enum slot slot)
{
	return slot == SLOT_VARS;
}

static void plan(const struct vm_paths *p, const struct vm_spec *s, struct handover *h)
{
	struct stat st;
	*h = (struct handover){0};
	bool firmware = vm_spec_uses_firmware(s);
	h->used[SLOT_FW_CODE] = h->used[SLOT_VARS] = firmware;
	h->used[SLOT_SEED] = s->has_seed && stat(p->seed, &st) == 0;
	h->used[SLOT_KERNEL] = s->kernel != NULL;
	h->used[SLOT_INITRD] = s->kernel && s->initrd;
	h->used[SLOT_SERIAL] = true;
	h->used[SLOT_CONSOLE] = h->used[SLOT_QMP] = true;
	int next = FIRST_FD;
	for (int i = 0; i < SLOT_N; i++) {
		h->src[i] = h->ro_src[i] = -1;
		if (!h->used[i])
			continue;
		int set = h->target[i] = next++;
		bool loader = i == SLOT_KERNEL || i == SLOT_INITRD;
		snprintf(h->name[i], sizeof(h->name[i]),
			 loader ? "/proc/self/fd/%d" : "/dev/fdset/%d", set);
		if (i == SLOT_QMP || loader)
			continue;
		h->fdsets[h->n_fdsets++] = (struct loam_vmm_fd){set, set};
		if (writable(i)) {
			h->ro_target[i] = next++;
			h->fdsets[h->n_fdsets++] = (struct loam_vmm_fd){h->ro_target[i], set};
		}
	}
}

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

static const char *file_of(const struct handover *h, bool by_path, enum slot slot, const char *path)
{
	if (!h->used[slot])
		return NULL;
	return by_path ? path : h->name[slot];
}

static void fill_vmm_spec(const struct vm_paths *p, const struct vm_spec *s, bool by_path,
			  const struct handover *h, struct loam_vmm_spec *v)
{
	*v = (struct loam_vmm_spec){
	    .vcpus = s->vcpus,
	    .topo = s->topo,
	    .memory_mib = s->memory_mib,
	    .hugepages = s->hugepages,
	    .kvm = s->kvm,
	    .fw_code = file_of(h, by_path, SLOT_FW_CODE, s->fw_code),
	    .fw_vars = file_of(h, by_path, SLOT_VARS, p->vars),
	    /* The storage daemon serves the disk (vm_storage.h); a reference
	     * boot as root reads it itself. */
	    .disk = by_path ? p->disk : NULL,
	    .disk_socket = by_path ? NULL : p->disk_sock,
	    .seed = file_of(h, by_path, SLOT_SEED, p->seed),
	    .kernel = file_of(h, by_path, SLOT_KERNEL, s->kernel),
	    .initrd = file_of(h, by_path, SLOT_INITRD, s->initrd),
	    .cmdline = s->cmdline,
	    .skip_firmware = !vm_spec_uses_firmware(s),
	    .serial_log = file_of(h, by_path, SLOT_SERIAL, p->serial),
	    .console_log = file_of(h, by_path, SLOT_CONSOLE, p->console),
	    .qmp_socket = p->qmp,
	    .qmp_fd = by_path ? 0 : h->target[SLOT_QMP],
	    .fds = by_path ? NULL : h->fdsets,
	    .n_fds = by_path ? 0 : h->n_fdsets,
	    /* Relative to run/, QEMU's working directory until it is set up, so
	     * that the VM user need not traverse the state dir's parents. */
	    .pidfile = by_path ? p->ref_pid : LOAM_LAYOUT_VM_PIDFILE,
	    .name = s->name,
	    .daemonize = true,
	};
}

/* QEMU's absolute path: the pinned bundle's, else the spec's or the
 * host's (by its name on PATH), so that vm-argv shows what runs; data_dir
 * gets the bundle's share/qemu and module_dir its lib/qemu ("" without a
 * bundle). */
static int resolve_qemu(const struct vm_spec *s, char qemu[PATH_MAX], char data_dir[VM_PATH_MAX],
			char module_dir[VM_PATH_MAX], loam_err *err)
{
	char name[VM_PATH_MAX];
	if (vm_spec_vmm_paths(s, name, data_dir, module_dir, err) < 0)
		return -1;
	if (name[0] == '/') {
		snprintf(qemu, PATH_MAX, "%s", name);
		return 0;
	}
	return vm_tool(name, qemu, err);
}

int vm_qemu_env(const struct vm_spec *s, struct loam_argv *env, loam_err *err)
{
	char name[VM_PATH_MAX], data_dir[VM_PATH_MAX], module_dir[VM_PATH_MAX];
	if (vm_spec_vmm_paths(s, name, data_dir, module_dir, err) < 0)
		return -1;
	if (*module_dir)
		loam_argv_addf(env, "QEMU_MODULE_DIR=%s", module_dir);
	return 0;
}

static int build_argv(const struct vm_paths *p, const struct vm_spec *s, bool by_path,
		      const struct handover *h, const struct vm_net *net, struct loam_argv *argv,
		      loam_err *err)
{
	char huge[VM_PATH_MAX] = "";
	if (s->hugepages) {
		if (s->hugepage_dir)
			snprintf(huge, sizeof(huge), "%s", s->hugepage_dir);
		else if (find_hugepage_dir(huge, err) < 0)
			return -1;
	}
	char qemu[PATH_MAX], data_dir[VM_PATH_MAX], module_dir[VM_PATH_MAX];
	if (resolve_qemu(s, qemu, data_dir, module_dir, err) < 0)
		return -1;
	struct loam_vmm_spec v;
	fill_vmm_spec(p, s, by_path, h, &v);
	v.hugepage_dir = s->hugepages ? huge : NULL;
	if (loam_vmm_argv(s->arch, qemu, &v, argv, err) < 0)
		return -1;
	/* The bundle's data dir, first in QEMU's search path wherever -L sits:
	 * QEMU 10 is built non-relocatable and would read /usr/share/qemu. */
	if (*data_dir) {
		loam_argv_add(argv, "-L");
		loam_argv_add(argv, data_dir);
	}
	if (net)
		vm_net_qemu_args(net, by_path ? 0 : TAP_FD, argv);
	return 0;
}

int vm_qemu_argv(const struct vm_paths *p, const struct vm_spec *s, bool by_path,
		 struct loam_argv *argv, loam_err *err)
{
	struct handover h;
	plan(p, s, &h);
	cleanup_vm_net struct vm_net net = {0};
	int has_net = vm_net_load_vm(p->vms, p->id, &net, err);
	if (has_net < 0)
		return -1;
	return build_argv(p, s, by_path, &h, has_net ? &net : NULL, argv, err);
}

/* ---- root's half: open, park ---- */

static int park(int fd, int *out, loam_err *err)
{
	*out = fcntl(fd, F_DUPFD_CLOEXEC, FD_PARK);
	close(fd);
	return *out < 0 ? loam_fail_errno(err, "dup") : 0;
}

/* Parks fd at FD_PARK or above as slot's source (and for a writable file
 * a read-only twin, opened through dir); fd < 0 is a failure already
 * described in err. */
static int take(struct handover *h, enum slot slot, int fd, int dir, const char *name,
		loam_err *err)
{
	if (fd < 0 || park(fd, &h->src[slot], err) < 0)
		return -1;
	if (!writable(slot))
		return 0;
	int ro = vm_file_open(dir, name, O_RDONLY, 0, err);
	return ro < 0 ? -1 : park(ro, &h->ro_src[slot], err);
}

/* A file of root's outside the VM's directory (firmware, boot image,
 * kernel: the spec names them and vm_spec_parse checked them), read-only. */
static int open_root_file(const char *path, loam_err *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	return fd < 0 ? loam_fail_errno(err, "open %s", path) : fd;
}

/* A fresh log, root's: opened without following links, then emptied. */
static int open_log(int dir, const char *name, loam_err *err)
{
	int fd = vm_file_open(dir, name, O_WRONLY | O_CREAT, 0, err);
	if (fd >= 0 && ftruncate(fd, 0) < 0) {
		close(fd);
		return loam_fail_errno(err, "truncate %s", name);
	}
	return fd;
}

/* The QMP socket, made by root in the root-owned directory; QEMU only
 * inherits the listening fd. */
static int qmp_listen(int dir, const struct vm_paths *p, loam_err *err)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(p->qmp) >= sizeof(sa.sun_path)) /* vm_paths_init refuses it */
		return loam_fail(err, LOAM_E_INVALID, "QMP socket path %s is too long", p->qmp);
	memcpy(sa.sun_path, p->qmp, strlen(p->qmp) + 1);
	if (vm_unlink_at(dir, LOAM_LAYOUT_VM_QMP, err) < 0)
		return -1;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	mode_t old = umask(077);
	int rc = fd < 0 ? -1 : bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (rc < 0 || listen(fd, 8) < 0) {
		loam_fail_errno(err, "QMP socket %s", p->qmp);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* Opens the slots that name a file of root's outside the VM's directory. */
static int open_root_files(const struct vm_spec *s, struct handover *h, loam_err *err)
{
	const char *paths[SLOT_N] = {
	    [SLOT_FW_CODE] = s->fw_code, [SLOT_KERNEL] = s->kernel, [SLOT_INITRD] = s->initrd};
	for (int i = 0; i < SLOT_N; i++)
		if (paths[i] && h->used[i] &&
		    take(h, i, open_root_file(paths[i], err), -1, NULL, err) < 0)
			return -1;
	return 0;
}

static int open_handover(int dir, const struct vm_spec *s, const struct vm_paths *p,
			 struct handover *h, loam_err *err)
{
	const char *vars = LOAM_LAYOUT_VM_VARS;
	const char *seed = LOAM_LAYOUT_VM_SEED, *serial = LOAM_LAYOUT_VM_SERIAL;
	const char *console = LOAM_LAYOUT_VM_CONSOLE;
	if (open_root_files(s, h, err) < 0 ||
	    (h->used[SLOT_VARS] &&
	     take(h, SLOT_VARS, vm_file_open(dir, vars, O_RDWR, 0, err), dir, vars, err) < 0) ||
	    (h->used[SLOT_SEED] &&
	     take(h, SLOT_SEED, vm_file_open(dir, seed, O_RDONLY, 0, err), dir, seed, err) < 0) ||
	    take(h, SLOT_SERIAL, open_log(dir, serial, err), dir, serial, err) < 0 ||
	    take(h, SLOT_CONSOLE, open_log(dir, console, err), dir, console, err) < 0 ||
	    take(h, SLOT_QMP, qmp_listen(dir, p, err), dir, NULL, err) < 0)
		return -1;
	return 0;
}

/* ---- the child: jail, drop, exec ---- */

static __attribute__((noreturn)) void die(const char *what)
{
	dprintf(STDERR_FILENO, "loam jail: %s: %s\n", what, strerror(errno));
	_exit(127);
}

static void place_fds(const struct vm_jail *j)
{
	int null = open("/dev/null", O_RDWR);
	if (null < 0 || dup2(null, STDIN_FILENO) < 0 || dup2(null, STDOUT_FILENO) < 0 ||
	    dup2(j->err_w, STDERR_FILENO) < 0)
		die("stdio");
	/* Before the dup2s, which may land on the fd of run/. */
	if (fchdir(j->run) < 0)
		die("chdir run/");
	int first_free = FIRST_FD;
	for (size_t i = 0; i < j->n_fds; i++) {
		if (dup2(j->fds[i].src, j->fds[i].target) < 0)
			die("dup2");
		if (j->fds[i].target >= first_free)
			first_free = j->fds[i].target + 1;
	}
	/* Everything above the handed-over fds goes, parked copies included. */
	if (close_range((unsigned)first_free, ~0U, 0) < 0)
		for (int fd = first_free; fd < 4096; fd++)
			close(fd);
}

void vm_jail_exec(const struct vm_jail *j)
{
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	if (setsid() < 0)
		die("setsid");
	place_fds(j);
	loam_err net_err = NULL;
	if (j->net && vm_net_enter(j->net, &net_err) < 0) {
		dprintf(STDERR_FILENO, "loam jail: %s\n", loam_err_msg(net_err));
		_exit(127);
	}
	/* Root opens the tap in the namespace: QEMU, unprivileged, may not
	 * open /dev/net/tun. */
	if (j->net && vm_net_open_tap(j->net, TAP_FD) < 0)
		die("open the tap");
	if (setgroups(2, j->groups) < 0 ||
	    setresgid(j->groups[0], j->groups[0], j->groups[0]) < 0 ||
	    setresuid(j->uid, j->uid, j->uid) < 0)
		die("drop to the VM user");
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		die("no_new_privs");
	if (getuid() == 0 || geteuid() == 0 || setresuid(0, 0, 0) == 0)
		die("still root");
	execve(j->argv[0], j->argv, j->envp);
	die(j->argv[0]);
}

/* ---- root's half: fork, wait for QEMU's daemon to be set up ---- */

/* Reads QEMU's stderr until both its processes closed it, then reaps the
 * foreground one (the daemon was set up once it exits 0). */
static int wait_started(pid_t pid, int err_r, loam_err *err)
{
	char buf[STDERR_MAX + 1];
	size_t len = 0;
	int64_t deadline = loam_now_ms() + QEMU_START_TIMEOUT_MS;
	for (;;) {
		struct pollfd pfd = {.fd = err_r, .events = POLLIN};
		int64_t left = deadline - loam_now_ms();
		if (left <= 0) {
			kill(-pid, SIGKILL);
			break;
		}
		if (poll(&pfd, 1, (int)left) < 0 && errno != EINTR)
			break;
		char chunk[512];
		ssize_t n = read(err_r, chunk, sizeof(chunk));
		if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
			break;
		for (ssize_t i = 0; i < n && len < STDERR_MAX; i++)
			buf[len++] = chunk[i];
	}
	buf[len] = '\0';
	int status = 0;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	char line[512];
	return loam_fail(err, LOAM_E_IO, "QEMU did not start (%s %d): %s",
			 WIFEXITED(status) ? "exit status" : "signal",
			 WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status),
			 loam_output_last_line(buf, line, sizeof(line)));
}

static int fork_jailed(struct vm_jail *j, loam_err *err)
{
	int pipefd[2];
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return loam_fail_errno(err, "pipe");
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		j->err_w = pipefd[1];
		vm_jail_exec(j);
	}
	close(pipefd[1]);
	int rc = pid < 0 ? loam_fail_errno(err, "fork") : wait_started(pid, pipefd[0], err);
	close(pipefd[0]);
	return rc;
}

int vm_jail_prepare(const struct vm_paths *p, int dir, struct vm_jail *j, loam_err *err)
{
	bool found = false;
	gid_t gid;
	uid_t run_owner;
	if (vm_user_lookup(p->user, &j->uid, &gid, &found, err) < 0)
		return -1;
	if (!found || j->uid == 0)
		return loam_fail(err, LOAM_E_NOTFOUND, "user %s is missing; run vm-prep", p->user);
	j->groups[0] = gid;
	if (vm_kvm_gid(&j->groups[1], err) < 0)
		return -1;
	j->run = vm_run_open(dir, &run_owner, err);
	if (j->run < 0)
		return -1;
	if (run_owner != j->uid)
		return loam_fail(err, LOAM_E_NOTFOUND, "%s is not %s's; run vm-prep", p->run,
				 p->user);
	return 0;
}

/* The VM's network, made again if the host lost it (a reboot clears
 * namespaces); the child enters it before it drops to the VM user. */
static int ensure_net(const struct vm_paths *p, const struct vm_jail *j, loam_err *err)
{
	char state_dir[VM_NET_PATH_MAX];
	vm_net_state_dir_of(p->vms, state_dir);
	return vm_net_ensure(state_dir, j->net, j->uid, j->groups[0], err);
}

/* QEMU's fds, from the handover, at their numbers. */
static void jail_fds(const struct handover *h, struct vm_jail *j)
{
	j->n_fds = 0;
	for (int i = 0; i < SLOT_N; i++) {
		if (h->src[i] >= 0)
			j->fds[j->n_fds++] = (struct vm_jail_fd){h->src[i], h->target[i]};
		if (h->ro_src[i] >= 0)
			j->fds[j->n_fds++] = (struct vm_jail_fd){h->ro_src[i], h->ro_target[i]};
	}
}

/* QEMU, once its storage daemon serves the disk. */
static int launch_qemu(const struct vm_paths *p, const struct vm_spec *s, int dir,
		       struct vm_jail *j, loam_err *err)
{
	struct handover h;
	plan(p, s, &h);
	cleanup_argv struct loam_argv argv = {0}, env = {0};
	int rc = open_handover(dir, s, p, &h, err) < 0 ||
			 build_argv(p, s, false, &h, j->net, &argv, err) < 0 ||
			 vm_qemu_env(s, &env, err) < 0
		     ? -1
		     : 0;
	jail_fds(&h, j);
	j->argv = argv.v;
	static char *const no_env[] = {NULL};
	j->envp = env.n ? env.v : no_env;
	if (rc == 0)
		rc = fork_jailed(j, err);
	handover_close(&h);
	return rc;
}

int vm_launch(const struct vm_paths *p, const struct vm_spec *s, pid_t *pid, loam_err *err)
{
	cleanup_close int dir = vm_dir_open(p, err);
	struct vm_jail j = {.run = -1};
	cleanup_vm_net struct vm_net net = {0};
	int has_net = vm_net_load_vm(p->vms, p->id, &net, err);
	j.net = has_net > 0 ? &net : NULL;
	int rc = has_net < 0 || dir < 0 || vm_jail_prepare(p, dir, &j, err) < 0 ||
			 vm_unlink_at(j.run, LOAM_LAYOUT_VM_PIDFILE, err) < 0 ||
			 (j.net && ensure_net(p, &j, err) < 0) ||
			 vm_storage_start(p, s, dir, &j, err) < 0
		     ? -1
		     : 0;
	if (rc == 0 && launch_qemu(p, s, dir, &j, err) < 0) {
		vm_storage_stop(p, NULL);
		rc = -1;
	}
	if (j.run >= 0)
		close(j.run);
	if (rc < 0)
		return loam_err_wrap(err, "start VM %s", p->id);
	*pid = vm_running_pid(p);
	if (!*pid) {
		vm_storage_stop(p, NULL);
		return loam_fail(err, LOAM_E_IO, "QEMU exited right after it started; see %s",
				 p->serial);
	}
	return 0;
}
