/*
 * The storage daemon's supervisor (vm_storage.h): a root process, detached
 * from vm-start, that only forks the jailed daemon, waits on it, and forks
 * it again at once when it dies under a running VM, so that QEMU
 * reconnects within a second. It holds the fds the daemon gets, the VM
 * directory and run/, and nothing else: a restart opens nothing by path.
 * Staying the daemon's parent is what makes the restart immediate without
 * holding a loamd worker or waiting for a checkup.
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
#define KEEP_FIRST	3 /* dir, run/, log, ready, disk, image */
#define KEEP_N		6
#define POLL_MS		1000
#define RETRY_MS	500
#define TERM_WAIT_MS	3000
#define QEMU_APPEAR_MS	150000 /* vm-start gives QEMU 120 s */
#define LOG_CAP		(1 << 20)
#define REASON_MAX	(VM_STORAGE_LOG_TAIL + 256)

struct keeper {
	struct vm_keeper *k;
	int sig; /* signalfd: SIGCHLD and the stop signals */
	pid_t daemon;
	int64_t started_at, serving_since;
	unsigned restarts, failures;
	bool qemu_seen;
};

static __attribute__((noreturn)) void bail(void)
{
	_exit(127);
}

/* Moves the fds the supervisor keeps to 3..8 and closes every other one
 * (the agent's lock on the VM dir and its SSH session's pipes included). */
static void settle_fds(struct vm_keeper *k)
{
	int *slots[KEEP_N] = {&k->dir,	   &k->jail.run,	&k->log,
			      &k->ready_w, &k->jail.fds[0].src, &k->jail.fds[1].src};
	int high[KEEP_N];
	for (int i = 0; i < KEEP_N; i++)
		if ((high[i] = fcntl(*slots[i], F_DUPFD_CLOEXEC, 100)) < 0)
			bail();
	for (int i = 0; i < KEEP_N; i++) {
		if (dup2(high[i], KEEP_FIRST + i) < 0 ||
		    fcntl(KEEP_FIRST + i, F_SETFD, FD_CLOEXEC) < 0)
			bail();
		*slots[i] = KEEP_FIRST + i;
	}
	if (close_range(KEEP_FIRST + KEEP_N, ~0U, 0) < 0)
		for (int fd = KEEP_FIRST + KEEP_N; fd < 4096; fd++)
			close(fd);
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null < 0 || dup2(null, STDIN_FILENO) < 0 || dup2(null, STDOUT_FILENO) < 0 ||
	    dup2(null, STDERR_FILENO) < 0)
		bail();
	close(null);
	k->jail.err_w = k->log;
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
	return fstatat(k->jail.run, LOAM_LAYOUT_VM_DISK_SOCK, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	       S_ISSOCK(st.st_mode) && st.st_uid == k->jail.uid;
}

static void reap(pid_t pid)
{
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

/* Forks a daemon and waits until it serves; -1 when it exits or does not
 * serve in time (then it is gone). */
static int start_daemon(struct keeper *s)
{
	struct vm_keeper *k = s->k;
	unlinkat(k->jail.run, LOAM_LAYOUT_VM_DISK_SOCK, 0);
	struct stat st;
	if (fstat(k->log, &st) == 0 && st.st_size > LOG_CAP)
		ftruncate(k->log, 0);
	pid_t pid = fork();
	if (pid == 0)
		vm_jail_exec(&k->jail);
	if (pid < 0)
		return -1;
	s->daemon = pid;
	write_pids(s);
	for (int64_t deadline = loam_now_ms() + VM_STORAGE_START_MS; loam_now_ms() < deadline;
	     loam_sleep_ms(10)) {
		if (serving(k)) {
			s->serving_since = loam_now_ms();
			return 0;
		}
		if (waitpid(pid, NULL, WNOHANG) == pid) {
			s->daemon = 0;
			return -1;
		}
	}
	kill(pid, SIGKILL);
	reap(pid);
	s->daemon = 0;
	return -1;
}

static void stop_daemon(struct keeper *s)
{
	if (!s->daemon)
		return;
	kill(s->daemon, SIGTERM);
	for (int waited = 0; waited < TERM_WAIT_MS; waited += 20) {
		if (waitpid(s->daemon, NULL, WNOHANG) == s->daemon) {
			s->daemon = 0;
			return;
		}
		loam_sleep_ms(20);
	}
	kill(s->daemon, SIGKILL);
	reap(s->daemon);
	s->daemon = 0;
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
}

void vm_keeper_run(struct vm_keeper *k)
{
	prctl(PR_SET_NAME, SUPERVISOR_NAME, 0, 0, 0);
	if (setsid() < 0)
		bail();
	settle_fds(k);
	struct keeper s = {.k = k, .started_at = loam_now_ms()};
	if ((s.sig = catch_signals()) < 0)
		bail();
	first_start(&s);
	for (;;) {
		struct pollfd pfd = {.fd = s.sig, .events = POLLIN};
		struct signalfd_siginfo si;
		if (poll(&pfd, 1, POLL_MS) > 0 && read(s.sig, &si, sizeof(si)) == sizeof(si) &&
		    si.ssi_signo != SIGCHLD)
			finish(&s, 0);
		if (s.daemon && waitpid(s.daemon, NULL, WNOHANG) == s.daemon) {
			s.daemon = 0;
			restart(&s);
		}
		watch_qemu(&s);
	}
}
