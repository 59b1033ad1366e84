/*
 * The jail's processes (see jail.h). The agent clones the init straight
 * into new mount, PID and IPC namespaces, so it is pid 1 there and the
 * agent knows its host pid. The init, still root, runs the caller's setup
 * (fds, network namespace), joins the cgroup, lowers rlimits, pivots into
 * the view and drops to the jail's user; only then it forks the process
 * that execs. It stays as that user to reap, writes the exec'd process's
 * wait status to the report pipe, and exits when nothing is left, which
 * ends the namespace. Namespaces the host refuses (jail_caps) are left
 * out; without the minimal root the init only changes into run/.
 */
#include "host/jail.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/fs.h"

#define NS_FLAGS (CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC)

static __attribute__((noreturn)) void die(const char *what)
{
	dprintf(STDERR_FILENO, "loam jail: %s: %s\n", what, strerror(errno));
	_exit(127);
}

static void join_cgroup(const struct jail_cgroup *cg)
{
	for (size_t i = 0; cg && i < cg->n; i++)
		if (write(cg->procs[i], "0", 1) != 1)
			die("join the cgroup");
}

static void limit(unsigned max_files)
{
	struct rlimit none = {0, 0}, files = {max_files, max_files};
	if (setrlimit(RLIMIT_CORE, &none) < 0 ||
	    (max_files && setrlimit(RLIMIT_NOFILE, &files) < 0))
		die("rlimits");
}

static void drop(const struct jail_spec *j)
{
	if (setgroups(j->n_groups, j->groups) < 0 ||
	    setresgid(j->groups[0], j->groups[0], j->groups[0]) < 0 ||
	    setresuid(j->uid, j->uid, j->uid) < 0)
		die("drop to the jail's user");
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		die("no_new_privs");
	if (getuid() == 0 || geteuid() == 0 || setresuid(0, 0, 0) == 0)
		die("still root");
}

static void close_private(const struct jail_spec *j)
{
	for (size_t i = 0; j->cgroup && i < j->cgroup->n; i++)
		close(j->cgroup->procs[i]);
	close(j->err_fd);
	close(j->view.run_fd);
}

/* The init's stdio: /dev/null of the view. */
static void quiet(void)
{
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	for (int fd = 0; fd < 3; fd++)
		if (null < 0 || dup2(null, fd) < 0)
			close(fd);
	if (null > 2)
		close(null);
}

/* The minimal root, or only run/ as the working directory without one. */
static void enter_view(const struct jail_spec *j, bool view)
{
	const char *what = NULL;
	if (view && jail_view_enter(&j->view, &what) < 0)
		die(what);
	if (!view && fchdir(j->view.run_fd) < 0)
		die("chdir run/");
}

static __attribute__((noreturn)) void init(const struct jail_spec *j, int report, bool view)
{
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	if (dup2(j->err_fd, STDERR_FILENO) < 0 || setsid() < 0)
		die("stderr, setsid");
	if (j->setup && j->setup(j->ctx) < 0)
		_exit(127);
	join_cgroup(j->cgroup);
	limit(j->max_files);
	enter_view(j, view);
	drop(j);
	/* Not dumpable: the jailed process, the same user, may not ptrace it. */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0 || prctl(PR_SET_NAME, j->name, 0, 0, 0) < 0)
		die("prctl");
	if (close_range((unsigned)j->keep_fds, JAIL_FD_PRIVATE - 1, 0) < 0)
		die("close fds");
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	int64_t exec_ns = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
	if (write(report, &exec_ns, sizeof(exec_ns)) != (ssize_t)sizeof(exec_ns))
		die("report");
	pid_t pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		if (close_range(JAIL_FD_PRIVATE, ~0U, 0) < 0)
			die("close fds");
		execve(j->argv[0], j->argv, j->envp);
		die(j->argv[0]);
	}
	close_private(j);
	if (close_range(3, JAIL_FD_PRIVATE - 1, 0) < 0)
		die("close fds");
	quiet();
	jail_init_loop(pid, report, j->logs, j->n_logs);
	_exit(0);
}

int jail_spawn(const struct jail_spec *j, struct jail_proc *out, loam_err *err)
{
	int pipefd[2];
	*out = (struct jail_proc){.report_fd = -1};
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return loam_fail_errno(err, "pipe");
	int w = fcntl(pipefd[1], F_DUPFD_CLOEXEC, JAIL_FD_PRIVATE);
	close(pipefd[1]);
	if (w < 0) {
		close(pipefd[0]);
		return loam_fail_errno(err, "dup");
	}
	const struct jail_caps *caps = jail_caps();
	unsigned long ns = caps->ns_flags & (NS_FLAGS | (j->new_net ? CLONE_NEWNET : 0));
	fflush(NULL);
	pid_t pid = (pid_t)syscall(SYS_clone, ns | SIGCHLD, NULL, NULL, NULL, NULL);
	if (pid == 0)
		init(j, w, caps->pivot_root);
	close(w);
	if (pid < 0) {
		close(pipefd[0]);
		return loam_fail_errno(err, "clone the jail's init");
	}
	*out = (struct jail_proc){.init = pid, .report_fd = pipefd[0]};
	return 0;
}

pid_t jail_child_pid(const struct jail_proc *p)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)p->init, (int)p->init);
	cleanup_free char *buf = NULL;
	loam_err err = NULL;
	if (loam_read_file(path, 4096, &buf, NULL, &err) < 0) {
		loam_err_free(&err);
		return 0;
	}
	long pid = strtol(buf, NULL, 10);
	return pid > 1 ? (pid_t)pid : 0;
}

/* The next size bytes of the report pipe, waiting up to timeout_ms. */
static bool read_report(const struct jail_proc *p, void *out, size_t size, int timeout_ms)
{
	ssize_t n = -1;
	struct pollfd pfd = {.fd = p->report_fd, .events = POLLIN};
	if (poll(&pfd, 1, timeout_ms) > 0)
		while ((n = read(p->report_fd, out, size)) < 0 && errno == EINTR)
			;
	return n == (ssize_t)size;
}

int64_t jail_exec_ns(struct jail_proc *p, int timeout_ms)
{
	if (!p->exec_ns && !read_report(p, &p->exec_ns, sizeof(p->exec_ns), timeout_ms))
		p->exec_ns = -1;
	return p->exec_ns;
}

int jail_exit_status(struct jail_proc *p, int timeout_ms)
{
	int status;
	if (jail_exec_ns(p, timeout_ms) < 0)
		return -1;
	return read_report(p, &status, sizeof(status), timeout_ms) ? status : -1;
}

void jail_proc_close(struct jail_proc *p)
{
	if (p->report_fd >= 0)
		close(p->report_fd);
	p->report_fd = -1;
}
