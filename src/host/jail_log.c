/*
 * The jail's init as a logger (see jail.h): a jailed process writes its
 * logs into pipes, and the init, its unprivileged pid 1, copies them into
 * the root-owned log files it holds open, so a guest that floods its
 * console fills no disk. A log keeps its first JAIL_LOG_HEAD bytes (the
 * boot, with the readiness line) and, once it reaches JAIL_LOG_CAP, only
 * the latest quarter of the cap after a line saying what was dropped.
 * RLIMIT_FSIZE would not do: it kills the writer. The init is not dumpable,
 * so the jailed process, the same user, cannot ptrace it or reach its fds,
 * and as pid 1 it ignores that process's signals.
 */
#include "host/jail.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHUNK	  (64u << 10)
#define TRIM_NOTE "\n[loam: older output dropped here: the log is capped]\n"

static void write_all_at(int fd, const char *buf, size_t n, off_t at)
{
	while (n > 0) {
		ssize_t w = pwrite(fd, buf, n, at);
		if (w <= 0 && errno != EINTR)
			return;
		if (w > 0) {
			buf += w;
			n -= (size_t)w;
			at += w;
		}
	}
}

/* Keeps the head and the latest quarter of the cap, the note between. */
static off_t trim(int fd, off_t size)
{
	static char buf[CHUNK];
	off_t keep = JAIL_LOG_CAP / 4, dst = JAIL_LOG_HEAD;
	write_all_at(fd, TRIM_NOTE, strlen(TRIM_NOTE), dst);
	dst += (off_t)strlen(TRIM_NOTE);
	for (off_t src = size - keep; src < size;) {
		ssize_t r = pread(fd, buf, CHUNK, src);
		if (r <= 0)
			break;
		write_all_at(fd, buf, (size_t)r, dst);
		src += r;
		dst += r;
	}
	return ftruncate(fd, dst) < 0 ? size : dst;
}

static void append(const struct jail_log *l, const char *buf, size_t n)
{
	off_t size = lseek(l->file, 0, SEEK_END);
	if (size < 0)
		return;
	if (size + (off_t)n > JAIL_LOG_CAP && size > JAIL_LOG_HEAD + JAIL_LOG_CAP / 4)
		size = trim(l->file, size);
	write_all_at(l->file, buf, n, size);
}

/* Copies what is there; false at the end of the pipe. */
static bool copy_log(const struct jail_log *l)
{
	static char buf[CHUNK];
	ssize_t r = read(l->pipe_r, buf, sizeof(buf));
	if (r < 0 && errno == EINTR)
		return true;
	if (r <= 0)
		return false;
	append(l, buf, (size_t)r);
	return true;
}

/* Reaps whatever ended; the status of `child` goes to *report once.
 * False when no child is left. */
static bool reap(pid_t child, int *report)
{
	for (;;) {
		int status;
		pid_t pid = waitpid(-1, &status, WNOHANG);
		if (pid == 0)
			return true;
		if (pid < 0)
			return errno == EINTR;
		if (pid == child && *report >= 0) {
			(void)!write(*report, &status, sizeof(status));
			close(*report);
			*report = -1;
		}
	}
}

void jail_init_loop(pid_t child, int report, const struct jail_log *logs, size_t n_logs)
{
	sigset_t chld;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, NULL);
	signal(SIGPIPE, SIG_IGN);
	struct pollfd pfd[1 + JAIL_LOGS_MAX];
	pfd[0] = (struct pollfd){.fd = signalfd(-1, &chld, SFD_CLOEXEC), .events = POLLIN};
	for (size_t i = 0; i < n_logs; i++)
		pfd[1 + i] = (struct pollfd){.fd = logs[i].pipe_r, .events = POLLIN};
	bool children = true;
	while (children) {
		if (poll(pfd, 1 + n_logs, pfd[0].fd < 0 ? 100 : -1) < 0 && errno != EINTR)
			break;
		for (size_t i = 0; i < n_logs; i++)
			if (pfd[1 + i].revents && !copy_log(&logs[i]))
				pfd[1 + i].fd = -1;
		if (pfd[0].revents) {
			struct signalfd_siginfo si;
			(void)!read(pfd[0].fd, &si, sizeof(si));
		}
		children = reap(child, &report);
	}
	/* Whatever the last writer left in the pipes. */
	for (size_t i = 0; i < n_logs; i++)
		while (pfd[1 + i].fd >= 0 && copy_log(&logs[i]))
			;
}
