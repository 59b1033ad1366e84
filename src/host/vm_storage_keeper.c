/*
 * The storage daemon's supervisor (vm_storage.h): a root process, detached
 * from vm-start, that only starts the daemon's jail (host/jail.h), waits on
 * its init, and starts it again at once when the daemon dies under a
 * running VM, so that QEMU reconnects within a second. It holds the fds the
 * daemon gets, the VM directory, run/ and the VM's cgroup, and nothing
 * else: a restart opens nothing by path. Staying the jail's parent is what
 * makes the restart immediate without holding a loamd worker or waiting
 * for a checkup. The daemon's host pid comes from the kernel (the init's
 * one child), never from a file the VM's user can write.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "host/vm_files.h"
#include "host/vm_storage.h"
#include "lib/clock.h"
#include "proto/agent.h"

#define SUPERVISOR_NAME "loam-storage"
/* dir, run/, log, ready, disk, image and the cgroup's fds, kept above
 * the fds the jail puts in place. */
#define KEEP_FIRST     JAIL_FD_PRIVATE
#define KEEP_N	       (6 + JAIL_CGROUP_MAX)
#define POLL_MS	       1000
#define RETRY_MS       500
#define TERM_WAIT_MS   3000
#define QEMU_APPEAR_MS 150000 /* vm-start gives QEMU 120 s */
#define LOG_CAP	       (1 << 20)
#define REASON_MAX     (VM_STORAGE_LOG_TAIL + 256)

struct keeper {
	struct vm_keeper *k;
	int sig;	       /* signalfd: SIGCHLD and the stop signals */
	struct jail_proc jail; /* the daemon's jail; jail.init 0 when none */
	pid_t daemon;	       /* its host pid once it serves */
	int64_t started_at, serving_since;
	unsigned restarts, failures;
	bool qemu_seen;
};

static __attribute__((noreturn)) void bail(void)
{
	_exit(127);
}

/* Moves the fds the supervisor keeps to KEEP_FIRST.. and closes every
 * other one (the agent's lock on the VM dir and its SSH session's pipes
 * included). */
static void settle_fds(struct vm_keeper *k)
{
	int *slots[KEEP_N] = {&k->dir, &k->run, &k->log, &k->ready_w, &k->disk, &k->image};
	size_t n = 6;
	for (size_t i = 0; i < k->cg.n; i++)
		slots[n++] = &k->cg.procs[i];
	int high[KEEP_N];
	for (size_t i = 0; i < n; i++)
		if ((high[i] = fcntl(*slots[i], F_DUPFD_CLOEXEC, KEEP_FIRST + KEEP_N)) < 0)
			bail();
	for (size_t i = 0; i < n; i++) {
		int fd = KEEP_FIRST + (int)i;
		if (dup2(high[i], fd) < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
			bail();
		*slots[i] = fd;
	}
	if (close_range(3, KEEP_FIRST - 1, 0) < 0 ||
	    close_range(KEEP_FIRST + (unsigned)n, ~0U, 0) < 0)
		bail();
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null < 0 || dup2(null, STDIN_FILENO) < 0 || dup2(null, STDOUT_FILENO) < 0 ||
	    dup2(null, STDERR_FILENO) < 0)
		bail();
	close(null);
	k->jail.err_fd = k->log;
	k->jail.view.run_fd = k->run;
	k->jail.cgroup = &k->cg;
}

static int catch_signals(void)
{
	sigset_t set;
	sigemptyset(&set);
	int stops[] = {SIGCHLD, SIGTERM, SIGINT, SIGHUP};
	for (size_t i = 0; i < sizeof(stops) / sizeof(stops[0]); i++)
		sigaddset(&set, stops[i]);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -1;
	return signalfd(-1, &set, SFD_CLOEXEC);
}

/* name in the VM directory, replaced whole (the directory is root's). */
static void write_root_file(int dir, const char *name, const char *text)
{
	char tmp[64];
	snprintf(tmp, sizeof(tmp), "%s.tmp", name);
	unlinkat(dir, tmp, 0);
	int fd = openat(dir, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	bool ok = write(fd, text, strlen(text)) == (ssize_t)strlen(text);
	close(fd);
	if (!ok || renameat(dir, tmp, dir, name) < 0)
		unlinkat(dir, tmp, 0);
}

static void write_pids(const struct keeper *s)
{
	char text[64];
	snprintf(text, sizeof(text), "%d %d %u\n", (int)getpid(), (int)s->daemon, s->restarts);
	write_root_file(s->k->dir, LOAM_LAYOUT_VM_STORAGE_PID, text);
}

/* The daemon's log tail, printable ASCII, into out. */
static void log_tail(const struct vm_keeper *k, char *out, size_t cap)
{
	struct stat st;
	out[0] = '\0';
	if (fstat(k->log, &st) < 0)
		return;
	off_t from = st.st_size > VM_STORAGE_LOG_TAIL ? st.st_size - VM_STORAGE_LOG_TAIL : 0;
	char buf[VM_STORAGE_LOG_TAIL];
	ssize_t n = pread(k->log, buf, sizeof(buf), from);
	size_t len = 0;
	for (ssize_t i = 0; i < n && len + 1 < cap; i++)
		out[len++] = buf[i] == '\n' || (buf[i] >= 0x20 && buf[i] < 0x7f) ? buf[i] : '?';
	out[len] = '\0';
}

/* The daemon made its socket in run/, as the VM's user. */
static bool serving(const struct vm_keeper *k)
{
	struct stat st;
	return fstatat(k->run, LOAM_LAYOUT_VM_DISK_SOCK, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	       S_ISSOCK(st.st_mode) && st.st_uid == k->jail.uid;
}

/* Reaps the jail's init (its end ends the daemon's PID namespace). */
static void reap(struct keeper *s)
{
	while (waitpid(s->jail.init, NULL, 0) < 0 && errno == EINTR)
		;
	jail_proc_close(&s->jail);
	s->jail.init = s->daemon = 0;
}

/* The jail's init ended: reaped. */
static bool jail_ended(struct keeper *s)
{
	if (!s->jail.init || waitpid(s->jail.init, NULL, WNOHANG) != s->jail.init)
		return false;
	jail_proc_close(&s->jail);
	s->jail.init = s->daemon = 0;
	return true;
}

/* Starts a jailed daemon and waits until it serves; -1 when it exits or
 * does not serve in time (then its jail is gone). */
static int start_daemon(struct keeper *s)
{
	struct vm_keeper *k = s->k;
	unlinkat(k->run, LOAM_LAYOUT_VM_DISK_SOCK, 0);
	struct stat st;
	if (fstat(k->log, &st) == 0 && st.st_size > LOG_CAP)
		ftruncate(k->log, 0);
	loam_err err = NULL;
	if (jail_spawn(&k->jail, &s->jail, &err) < 0) {
		dprintf(k->log, "loam-storage: %s\n", loam_err_msg(err));
		loam_err_free(&err);
		return -1;
	}
	s->daemon = 0;
	write_pids(s);
	/* Polled often: QEMU, and so the boot, waits on it. */
	for (int64_t deadline = loam_now_ms() + VM_STORAGE_START_MS; loam_now_ms() < deadline;
	     loam_sleep_ms(2)) {
		if (serving(k) && (s->daemon = jail_child_pid(&s->jail)) > 0) {
			s->serving_since = loam_now_ms();
			write_pids(s);
			return 0;
		}
		if (jail_ended(s))
			return -1;
	}
	kill(s->jail.init, SIGKILL);
	reap(s);
	return -1;
}

/* SIGTERM to the daemon (the init's child still, so no recycled pid),
 * then SIGKILL to its init, which ends the namespace. */
static void stop_daemon(struct keeper *s)
{
	if (!s->jail.init)
		return;
	pid_t daemon = jail_child_pid(&s->jail);
	if (daemon)
		kill(daemon, SIGTERM);
	for (int waited = 0; daemon && waited < TERM_WAIT_MS; waited += 20) {
		if (jail_ended(s))
			return;
		loam_sleep_ms(20);
	}
	kill(s->jail.init, SIGKILL);
	reap(s);
}

static __attribute__((noreturn)) void finish(struct keeper *s, int code)
{
	stop_daemon(s);
	unlinkat(s->k->dir, LOAM_LAYOUT_VM_STORAGE_PID, 0);
	_exit(code);
}

static __attribute__((noreturn)) void give_up(struct keeper *s)
{
	char tail[VM_STORAGE_LOG_TAIL + 1], reason[REASON_MAX];
	log_tail(s->k, tail, sizeof(tail));
	snprintf(reason, sizeof(reason),
		 "the storage daemon failed %u times in a row; its log ends:\n%s", s->failures,
		 *tail ? tail : "(empty)");
	write_root_file(s->k->dir, LOAM_LAYOUT_VM_STORAGE_FAILED, reason);
	finish(s, 1);
}

/* QEMU came up and is gone again (or never came): the daemon goes too. */
static void watch_qemu(struct keeper *s)
{
	if (vm_running_pid(s->k->p))
		s->qemu_seen = true;
	else if (s->qemu_seen || loam_now_ms() - s->started_at > QEMU_APPEAR_MS)
		finish(s, 0);
}

/* The daemon died under the VM: a new one at once. A daemon that served
 * less than VM_STORAGE_STABLE_MS counts as a failed restart. */
static void restart(struct keeper *s)
{
	watch_qemu(s);
	if (loam_now_ms() - s->serving_since >= VM_STORAGE_STABLE_MS)
		s->failures = 0;
	else
		s->failures++;
	while (s->failures < VM_STORAGE_MAX_FAILURES) {
		s->restarts++;
		if (start_daemon(s) == 0) {
			write_pids(s);
			return;
		}
		if (++s->failures < VM_STORAGE_MAX_FAILURES)
			loam_sleep_ms(RETRY_MS);
	}
	give_up(s);
}

static void first_start(struct keeper *s)
{
	struct vm_keeper *k = s->k;
	if (start_daemon(s) < 0) {
		char tail[VM_STORAGE_LOG_TAIL + 1], msg[REASON_MAX];
		log_tail(k, tail, sizeof(tail));
		snprintf(msg, sizeof(msg), "it did not serve %s; its log ends:\n%s",
			 LOAM_LAYOUT_VM_DISK_SOCK, *tail ? tail : "(empty)");
		(void)!write(k->ready_w, msg, strlen(msg));
		finish(s, 1);
	}
	(void)!write(k->ready_w, "ok", 2);
	close(k->ready_w);
	k->ready_w = -1; /* a later jail's fd may take its number */
}

void vm_keeper_run(struct vm_keeper *k)
{
	prctl(PR_SET_NAME, SUPERVISOR_NAME, 0, 0, 0);
	if (setsid() < 0)
		bail();
	settle_fds(k);
	struct keeper s = {.k = k, .jail = {.report_fd = -1}, .started_at = loam_now_ms()};
	if ((s.sig = catch_signals()) < 0)
		bail();
	first_start(&s);
	for (;;) {
		struct pollfd pfd = {.fd = s.sig, .events = POLLIN};
		struct signalfd_siginfo si;
		if (poll(&pfd, 1, POLL_MS) > 0 && read(s.sig, &si, sizeof(si)) == sizeof(si) &&
		    si.ssi_signo != SIGCHLD)
			finish(&s, 0);
		if (jail_ended(&s))
			restart(&s);
		watch_qemu(&s);
	}
}
