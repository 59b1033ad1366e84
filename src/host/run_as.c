/*
 * Fork, drop to a user, exec (run_as.h). The child only calls
 * async-signal-safe functions between fork and exec; what it cannot do it
 * reports on the stderr pipe and exits 127.
 */
#include "host/run_as.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "host/vm.h"
#include "lib/cleanup.h"
#include "lib/clock.h"
#include "lib/spawn.h"

#define OUTPUT_MAX 65536
#define GROUPS_MAX 32
#define ENV_MAX	   16

int host_user_groups(const char *user, gid_t gid, gid_t *out, size_t max, size_t *n, loam_err *err)
{
	*n = 0;
	if (max == 0)
		return 0;
	out[(*n)++] = gid;
	cleanup_fclose FILE *f = fopen("/etc/group", "re");
	if (!f)
		return loam_fail_errno(err, "open /etc/group");
	char line[4096];
	while (fgets(line, sizeof line, f) && *n < max) {
		char *save = NULL, *name = strtok_r(line, ":", &save);
		char *pw = name ? strtok_r(NULL, ":", &save) : NULL;
		char *id = pw ? strtok_r(NULL, ":", &save) : NULL;
		char *members = id ? strtok_r(NULL, "\n", &save) : NULL;
		char *msave = NULL;
		for (char *m = members ? strtok_r(members, ",", &msave) : NULL; m;
		     m = strtok_r(NULL, ",", &msave))
			if (strcmp(m, user) == 0 && (gid_t)atol(id) != gid) {
				out[(*n)++] = (gid_t)atol(id);
				break;
			}
	}
	return 0;
}

static void child_fail(int fd, const char *what)
{
	const char *why = strerror(errno);
	if (write(fd, what, strlen(what)) < 0 || write(fd, ": ", 2) < 0 ||
	    write(fd, why, strlen(why)) < 0 || write(fd, "\n", 1) < 0)
		_exit(127);
	_exit(127);
}

static void child(const char *const *argv, const char *const *envp, uid_t uid, gid_t gid,
		  const gid_t *groups, size_t ngroups, int out)
{
	int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (null < 0 || dup2(null, STDIN_FILENO) < 0 || dup2(out, STDOUT_FILENO) < 0 ||
	    dup2(out, STDERR_FILENO) < 0)
		child_fail(out, "redirect");
	if (setgroups(ngroups, groups) < 0)
		child_fail(STDERR_FILENO, "setgroups");
	if (setgid(gid) < 0)
		child_fail(STDERR_FILENO, "setgid");
	if (setuid(uid) < 0)
		child_fail(STDERR_FILENO, "setuid");
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		child_fail(STDERR_FILENO, "no_new_privs");
	execve(argv[0], (char *const *)argv, (char *const *)envp);
	child_fail(STDERR_FILENO, argv[0]);
}

/* Reads fd until EOF or the deadline; false on a timeout. */
static bool read_all(int fd, int64_t deadline, struct loam_output *o)
{
	for (;;) {
		int64_t left = deadline - loam_now_ms();
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (left <= 0)
			return false;
		int r = poll(&p, 1, (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r == 0 ? false : true;
		char buf[4096];
		ssize_t n = read(fd, buf, sizeof buf);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return true;
		loam_output_append(o, buf, (size_t)n);
	}
}

int host_run_as(const char *const *argv, const char *const *envp, uid_t uid, gid_t gid,
		const gid_t *groups, size_t ngroups, int timeout_ms, loam_err *err)
{
	int fds[2];
	if (pipe2(fds, O_CLOEXEC) < 0)
		return loam_fail_errno(err, "pipe");
	pid_t pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return loam_fail_errno(err, "fork");
	}
	if (pid == 0)
		child(argv, envp, uid, gid, groups, ngroups, fds[1]);
	close(fds[1]);
	struct loam_output o = {.max = OUTPUT_MAX};
	bool done = read_all(fds[0], loam_now_ms() + timeout_ms, &o);
	close(fds[0]);
	if (!done)
		kill(pid, SIGKILL);
	int status = 0;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	size_t len = 0;
	cleanup_free char *text = loam_output_take(&o, &len);
	char line[512];
	if (!done)
		return loam_fail(err, LOAM_E_TIMEOUT, "%s timed out after %d ms", argv[0],
				 timeout_ms);
	if (WIFSIGNALED(status))
		return loam_fail(err, LOAM_E_IO, "%s killed by signal %d", argv[0],
				 WTERMSIG(status));
	if (WEXITSTATUS(status) != 0)
		return loam_fail(err, LOAM_E_IO, "%s exited with status %d%s%s", argv[0],
				 WEXITSTATUS(status), *text ? ": " : "",
				 loam_output_last_line(text, line, sizeof line));
	return 0;
}

int vm_serial_log_reset(const struct vm_paths *p, gid_t gid, loam_err *err)
{
	if (unlink(p->serial) < 0 && errno != ENOENT)
		return loam_fail_errno(err, "remove %s", p->serial);
	cleanup_close int fd =
	    open(p->serial, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0 || fchown(fd, 0, gid) < 0 || fchmod(fd, 0620) < 0)
		return loam_fail_errno(err, "make %s", p->serial);
	return 0;
}

int vm_start_as_user(const struct vm_paths *p, const char *const *argv, const char *const *env,
		     int timeout_ms, loam_err *err)
{
	uid_t uid;
	gid_t gid;
	bool found = false;
	if (vm_user_lookup(p->user, &uid, &gid, &found, err) < 0)
		return -1;
	if (!found)
		return loam_fail(err, LOAM_E_NOTFOUND, "VM %s has no user %s; run vm-prep", p->id,
				 p->user);
	const char *envp[ENV_MAX + 2] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin"};
	for (size_t i = 0; env && env[i]; i++) {
		if (i == ENV_MAX)
			return loam_fail(err, LOAM_E_INVALID, "more than %d environment words",
					 ENV_MAX);
		envp[i + 1] = env[i];
	}
	gid_t groups[GROUPS_MAX];
	size_t ngroups = 0;
	if (vm_serial_log_reset(p, gid, err) < 0 ||
	    host_user_groups(p->user, gid, groups, GROUPS_MAX, &ngroups, err) < 0)
		return -1;
	return host_run_as(argv, envp, uid, gid, groups, ngroups, timeout_ms, err);
}
