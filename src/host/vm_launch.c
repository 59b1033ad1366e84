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
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "host/jail.h"
#include "host/net.h"
#include "host/vm_files.h"
#include "host/vm_storage.h"
#include "host/vmm.h"
#include "lib/cleanup.h"
#include "lib/clock.h"
#include "lib/spawn.h"
#include "proto/agent.h"

#define FIRST_FD	      3
#define FD_PARK		      64
#define TAP_FD		      (FIRST_FD + 2 * SLOT_N) /* then one per queue */
#define QEMU_START_TIMEOUT_MS 120000
#define STDERR_MAX	      4096
#define EXIT_WAIT_MS	      10000
#define VMM_OVERHEAD_MIB      256
#define VMM_TCG_OVERHEAD_MIB  512
#define VMM_PIDS	      256
#define VMM_MAX_FILES	      4096

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
	    .disk_socket = by_path ? NULL : VM_JAIL_DISK_SOCK,
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
	    /* Jailed, QEMU is the PID namespace's init's child and stays in
	     * the foreground: the sandbox forbids the fork and setsid of
	     * -daemonize. */
	    .daemonize = by_path,
	    .log_pipes = !by_path,
	    .sandbox = !by_path && jail_caps()->sandbox,
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
		      const struct handover *h, const struct vm_net *net, char huge[VM_PATH_MAX],
		      struct loam_argv *argv, loam_err *err)
{
	if (s->hugepages) {
		if (s->hugepage_dir)
			snprintf(huge, VM_PATH_MAX, "%s", s->hugepage_dir);
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
	char huge[VM_PATH_MAX] = "";
	if (has_net < 0)
		return -1;
	return build_argv(p, s, by_path, &h, has_net ? &net : NULL, huge, argv, err);
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

static int to_private(int fd, loam_err *err)
{
	int high = fcntl(fd, F_DUPFD_CLOEXEC, JAIL_FD_PRIVATE);
	close(fd);
	return high < 0 ? loam_fail_errno(err, "dup") : high;
}

/* A fresh log, root's: opened without following links, then emptied, and
 * kept by the jail's init (jail.h), which copies into it, capped, what QEMU
 * writes to the pipe returned. */
static int open_log(int dir, const char *name, struct jail_log *log, loam_err *err)
{
	int fd = vm_file_open(dir, name, O_RDWR | O_CREAT, 0, err), pipefd[2];
	if (fd >= 0 && ftruncate(fd, 0) < 0) {
		close(fd);
		return loam_fail_errno(err, "truncate %s", name);
	}
	if (fd < 0 || (log->file = to_private(fd, err)) < 0)
		return -1;
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return loam_fail_errno(err, "pipe");
	log->pipe_r = to_private(pipefd[0], err);
	return log->pipe_r < 0 ? -1 : pipefd[1];
}

static void close_logs(struct jail_spec *j)
{
	for (size_t i = 0; i < JAIL_LOGS_MAX; i++) {
		if (j->logs[i].file >= 0)
			close(j->logs[i].file);
		if (j->logs[i].pipe_r >= 0)
			close(j->logs[i].pipe_r);
		j->logs[i].file = j->logs[i].pipe_r = -1;
	}
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
			 struct handover *h, struct jail_log logs[2], loam_err *err)
{
	const char *vars = LOAM_LAYOUT_VM_VARS;
	const char *seed = LOAM_LAYOUT_VM_SEED, *serial = LOAM_LAYOUT_VM_SERIAL;
	const char *console = LOAM_LAYOUT_VM_CONSOLE;
	if (open_root_files(s, h, err) < 0 ||
	    (h->used[SLOT_VARS] &&
	     take(h, SLOT_VARS, vm_file_open(dir, vars, O_RDWR, 0, err), dir, vars, err) < 0) ||
	    (h->used[SLOT_SEED] &&
	     take(h, SLOT_SEED, vm_file_open(dir, seed, O_RDONLY, 0, err), dir, seed, err) < 0) ||
	    take(h, SLOT_SERIAL, open_log(dir, serial, &logs[0], err), dir, serial, err) < 0 ||
	    take(h, SLOT_CONSOLE, open_log(dir, console, &logs[1], err), dir, console, err) < 0 ||
	    take(h, SLOT_QMP, qmp_listen(dir, p, err), dir, NULL, err) < 0)
		return -1;
	return 0;
}

/* ---- the jailed child's setup, as root: fds at their numbers, network ---- */

struct qemu_setup {
	struct handover *h;
	const struct vm_net *net; /* the VM's network namespace, or NULL */
};

static int place_fds(void *arg)
{
	const struct qemu_setup *q = arg;
	int null = open("/dev/null", O_RDWR);
	if (null < 0 || dup2(null, STDIN_FILENO) < 0 || dup2(null, STDOUT_FILENO) < 0) {
		dprintf(STDERR_FILENO, "loam jail: stdio: %s\n", strerror(errno));
		return -1;
	}
	for (int i = 0; i < SLOT_N; i++)
		if ((q->h->src[i] >= 0 && dup2(q->h->src[i], q->h->target[i]) < 0) ||
		    (q->h->ro_src[i] >= 0 && dup2(q->h->ro_src[i], q->h->ro_target[i]) < 0)) {
			dprintf(STDERR_FILENO, "loam jail: dup2: %s\n", strerror(errno));
			return -1;
		}
	/* Above the handed-over fds, up to the jail's own: the parked copies. */
	if (close_range(TAP_FD, JAIL_FD_PRIVATE - 1, 0) < 0)
		return -1;
	loam_err net_err = NULL;
	if (q->net && vm_net_enter(q->net, &net_err) < 0) {
		dprintf(STDERR_FILENO, "loam jail: %s\n", loam_err_msg(net_err));
		return -1;
	}
	/* Root opens the tap in the namespace: QEMU, unprivileged, may not
	 * open /dev/net/tun. */
	if (q->net && vm_net_open_tap(q->net, TAP_FD) < 0) {
		dprintf(STDERR_FILENO, "loam jail: open the tap: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

/* ---- root's half: start the jail, wait until QEMU answers on QMP ---- */

struct started {
	char err[STDERR_MAX + 1]; /* QEMU's stderr until then */
	size_t len;
};

static void read_stderr(int fd, struct started *st)
{
	char chunk[512];
	ssize_t n = read(fd, chunk, sizeof(chunk));
	for (ssize_t i = 0; i < n && st->len < STDERR_MAX; i++)
		st->err[st->len++] = chunk[i];
	st->err[st->len] = '\0';
}

/* A QMP client connected to the socket root made: QEMU greets it only
 * once its set-up is done and its main loop runs. */
static int qmp_probe(const struct vm_paths *p)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	memcpy(sa.sun_path, p->qmp, strlen(p->qmp) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Waits for QEMU's QMP greeting (0), or its end (-1 with its stderr). */
static int wait_started(const struct vm_paths *p, struct jail_proc *jp, int err_r, loam_err *err)
{
	struct started st = {.len = 0};
	cleanup_close int qmp = qmp_probe(p);
	int64_t deadline = loam_now_ms() + QEMU_START_TIMEOUT_MS;
	bool stderr_open = true;
	while (qmp >= 0 && stderr_open) {
		struct pollfd pfd[2] = {{.fd = qmp, .events = POLLIN},
					{.fd = err_r, .events = POLLIN}};
		int64_t left = deadline - loam_now_ms();
		if (left <= 0 || (poll(pfd, 2, (int)left) < 0 && errno != EINTR))
			break;
		if (pfd[1].revents) {
			size_t before = st.len;
			read_stderr(err_r, &st);
			stderr_open = st.len > before || (pfd[1].revents & POLLIN);
		}
		char greeting[16];
		if (pfd[0].revents && read(qmp, greeting, sizeof(greeting)) > 0)
			return 0;
		if (pfd[0].revents)
			break;
	}
	/* QEMU ended (or hangs): its status from the init, which is then
	 * killed with the whole namespace. */
	int status = jail_exit_status(jp, loam_now_ms() < deadline ? EXIT_WAIT_MS : 0);
	kill(jp->init, SIGKILL);
	char line[512];
	loam_output_last_line(st.err, line, sizeof(line));
	if (status < 0)
		return loam_fail(err, LOAM_E_IO,
				 "QEMU did not start within %d s or its jail failed: %s",
				 QEMU_START_TIMEOUT_MS / 1000, line);
	return loam_fail(err, LOAM_E_IO, "QEMU did not start (%s %d): %s",
			 WIFEXITED(status) ? "exit status" : "signal",
			 WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status), line);
}

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Who QEMU runs as, and its working directory, checked through fds. */
static int prepare_user(const struct vm_paths *p, int dir, struct jail_spec *j, int *run,
			loam_err *err)
{
	bool found = false;
	uid_t run_owner;
	if (vm_user_lookup(p->user, &j->uid, &j->groups[0], &found, err) < 0)
		return -1;
	if (!found || j->uid == 0)
		return loam_fail(err, LOAM_E_NOTFOUND, "user %s is missing; run vm-prep", p->user);
	j->n_groups = 2;
	if (vm_kvm_gid(&j->groups[1], err) < 0)
		return -1;
	int fd = vm_run_open(dir, &run_owner, err);
	/* Above the fds the child puts in place, so no dup2 lands on it. */
	*run = fd < 0 ? -1 : fcntl(fd, F_DUPFD_CLOEXEC, JAIL_FD_PRIVATE);
	if (fd >= 0)
		close(fd);
	if (*run < 0)
		return fd < 0 ? -1 : loam_fail_errno(err, "dup");
	j->view.run_fd = *run;
	if (run_owner != j->uid)
		return loam_fail(err, LOAM_E_NOTFOUND, "%s is not %s's; run vm-prep", p->run,
				 p->user);
	return vm_unlink_at(*run, LOAM_LAYOUT_VM_PIDFILE, err);
}

/* The VM's network, made again if the host lost it (a reboot clears
 * namespaces); the child enters it before it drops to the VM user. */
static int ensure_net(const struct vm_paths *p, const struct jail_spec *j, const struct vm_net *net,
		      loam_err *err)
{
	char state_dir[VM_NET_PATH_MAX];
	vm_net_state_dir_of(p->vms, state_dir);
	return vm_net_ensure(state_dir, net, j->uid, j->groups[0], err);
}

/* CPU at the vCPUs, memory at the guest's RAM plus VMM_OVERHEAD_MIB and an
 * eighth (page tables, device state, I/O buffers; TCG's translation cache
 * on top without KVM), VMM_PIDS threads. The storage daemon shares it (its
 * own share on top), so guest memory it touches first is charged with the
 * guest's. */
static int make_cgroup(const struct vm_paths *p, const struct vm_spec *s, struct jail_cgroup *cg,
		       int64_t *took_ns, loam_err *err)
{
	int64_t t0 = now_ns();
	uint64_t mib = s->memory_mib + s->memory_mib / 8 + VMM_OVERHEAD_MIB +
		       VM_STORAGE_OVERHEAD_MIB + (s->kvm ? 0 : VMM_TCG_OVERHEAD_MIB);
	struct jail_limits l = {
	    .cpus = s->vcpus, .memory_bytes = mib << 20, .pids = VMM_PIDS + VM_STORAGE_PIDS};
	char name[96];
	vm_cgroup_name(p, name, sizeof(name));
	int rc = jail_cgroup_create(name, &l, cg, err);
	*took_ns = now_ns() - t0;
	return rc;
}

void vm_cgroup_name(const struct vm_paths *p, char *out, size_t size)
{
	snprintf(out, size, "vm-%s", p->id);
}

void vm_jail_view(const struct vm_paths *p, const char *bundle, const char *prog,
		  const char *ro[VM_JAIL_RO_MAX], struct jail_view *v)
{
	size_t n = 0;
	static const char *const system[] = {"/usr",	"/lib", "/lib64", "/lib32",
					     "/libx32", "/bin", "/sbin",  "/etc/ld.so.cache"};
	for (size_t i = 0; i < sizeof(system) / sizeof(system[0]); i++)
		ro[n++] = system[i];
	if (bundle)
		ro[n++] = bundle;
	if (strncmp(prog, "/usr/", 5) != 0)
		ro[n++] = prog;
	ro[n] = NULL;
	v->mount_on = p->dir;
	v->run_path = p->run;
	v->ro = ro;
}

/* Records QEMU's host pid in the root-owned VM directory. */
static int record_pid(int dir, pid_t pid, loam_err *err)
{
	if (vm_unlink_at(dir, LOAM_LAYOUT_VM_VMM_PID, err) < 0)
		return -1;
	cleanup_close int fd =
	    vm_file_open(dir, LOAM_LAYOUT_VM_VMM_PID, O_WRONLY | O_CREAT | O_EXCL, 0, err);
	if (fd < 0)
		return -1;
	return dprintf(fd, "%d\n", (int)pid) < 0 ? loam_fail_errno(err, "write the VMM's pid") : 0;
}

/* Starts the jail and waits for QEMU; *pid its host pid, *jail_ns what the
 * jail's set-up in the child took (clone to exec). */
static int run_jail(const struct vm_paths *p, int dir, struct jail_spec *j, pid_t *pid,
		    int64_t *jail_ns, struct handover *h, loam_err *err)
{
	int64_t t0 = now_ns();
	int pipefd[2];
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return loam_fail_errno(err, "pipe");
	j->err_fd = fcntl(pipefd[1], F_DUPFD_CLOEXEC, JAIL_FD_PRIVATE);
	close(pipefd[1]);
	struct jail_proc jp = {.report_fd = -1};
	int rc = j->err_fd < 0 ? loam_fail_errno(err, "dup") : jail_spawn(j, &jp, err);
	if (j->err_fd >= 0)
		close(j->err_fd);
	handover_close(h);
	if (rc == 0)
		rc = wait_started(p, &jp, pipefd[0], err);
	close(pipefd[0]);
	*pid = rc == 0 ? jail_child_pid(&jp) : 0;
	*jail_ns = rc == 0 ? jail_exec_ns(&jp, 0) - t0 : 0;
	if (rc == 0 && !*pid)
		rc = loam_fail(err, LOAM_E_IO, "QEMU exited right after it started; see %s",
			       p->serial);
	if (rc == 0 && record_pid(dir, *pid, err) < 0) {
		kill(jp.init, SIGKILL);
		rc = -1;
	}
	jail_proc_close(&jp);
	return rc;
}

/* QEMU in its jail, once root opened its files: *jail_ms what the jail
 * added (cgroup_ns so far). */
static int start_qemu(const struct vm_paths *p, const struct vm_spec *s, int dir,
		      struct jail_spec *j, struct qemu_setup *setup, char *const *argv,
		      char *const *envp, const char *huge, pid_t *pid, double *jail_ms,
		      loam_err *err)
{
	char qemu_dir[PATH_MAX];
	const char *ro[VM_JAIL_RO_MAX], *rw[2] = {*huge ? huge : NULL, NULL};
	int64_t jail_ns = 0;
	snprintf(qemu_dir, sizeof(qemu_dir), "%s", argv[0]);
	*strrchr(qemu_dir, '/') = '\0';
	vm_jail_view(p, s->vmm_dir, qemu_dir, ro, &j->view);
	j->view.rw = rw;
	j->new_net = !setup->net; /* no network: only a loopback of its own */
	j->setup = place_fds;
	j->ctx = setup;
	j->argv = argv;
	j->envp = envp;
	int rc = run_jail(p, dir, j, pid, &jail_ns, setup->h, err);
	*jail_ms += (double)jail_ns / 1e6;
	j->view.ro = j->view.rw = NULL; /* this frame's */
	return rc;
}

int vm_launch(const struct vm_paths *p, const struct vm_spec *s, pid_t *pid, double *jail_ms,
	      loam_err *err)
{
	cleanup_close int dir = vm_dir_open(p, err);
	cleanup_close int run = -1;
	struct jail_spec j = {.max_files = VMM_MAX_FILES,
			      .keep_fds = FD_PARK,
			      .name = "loam-jail",
			      .logs = {{-1, -1}, {-1, -1}},
			      .n_logs = 2};
	struct jail_cgroup cg = {0};
	struct handover h;
	plan(p, s, &h);
	cleanup_argv struct loam_argv argv = {0}, env = {0};
	cleanup_vm_net struct vm_net net = {0};
	int has_net = vm_net_load_vm(p->vms, p->id, &net, err);
	struct qemu_setup setup = {.h = &h, .net = has_net > 0 ? &net : NULL};
	char huge[VM_PATH_MAX] = "";
	int64_t cgroup_ns = 0;
	int rc = has_net < 0 || dir < 0 || prepare_user(p, dir, &j, &run, err) < 0 ||
			 (setup.net && ensure_net(p, &j, setup.net, err) < 0) ||
			 make_cgroup(p, s, &cg, &cgroup_ns, err) < 0 ||
			 vm_storage_start(p, s, dir, &j, &cg, err) < 0
		     ? -1
		     : 0;
	bool storage = rc == 0;
	*jail_ms = (double)cgroup_ns / 1e6;
	if (rc == 0 && (open_handover(dir, s, p, &h, j.logs, err) < 0 ||
			build_argv(p, s, false, &h, setup.net, huge, &argv, err) < 0 ||
			vm_qemu_env(s, &env, err) < 0))
		rc = -1;
	static char *const no_env[] = {NULL};
	j.cgroup = &cg;
	if (rc == 0)
		rc = start_qemu(p, s, dir, &j, &setup, argv.v, env.n ? env.v : no_env, huge, pid,
				jail_ms, err);
	if (rc < 0 && storage)
		vm_storage_stop(p, NULL);
	handover_close(&h);
	close_logs(&j);
	jail_cgroup_close(&cg);
	return rc < 0 ? loam_err_wrap(err, "start QEMU for VM %s", p->id) : 0;
}
