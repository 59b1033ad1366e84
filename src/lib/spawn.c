/*
 * posix_spawn with pipes and a poll loop. The child gets its own process
 * group so that a timeout can kill everything it started, not only itself.
 */
#include "lib/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/xalloc.h"

extern char **environ;

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void loam_output_append(struct loam_output *o, const char *data, size_t n)
{
	if (o->len + n > o->max)
		n = o->max > o->len ? o->max - o->len : 0;
	if (o->len + n + 1 > o->cap) {
		size_t cap = o->cap ? o->cap : 4096;
		while (cap < o->len + n + 1)
			cap *= 2;
		o->buf = xrealloc(o->buf, cap);
		o->cap = cap;
	}
	if (n)
		memcpy(o->buf + o->len, data, n);
	o->len += n;
	o->buf[o->len] = '\0';
}

char *loam_output_take(struct loam_output *o, size_t *len)
{
	if (!o->buf)
		loam_output_append(o, "", 0);
	char *text = o->buf;
	*len = o->len;
	*o = (struct loam_output){.max = o->max};
	return text;
}

const char *loam_output_last_line(const char *s, char *buf, size_t cap)
{
	size_t n = s ? strlen(s) : 0;
	while (n && (s[n - 1] == '\n' || s[n - 1] == '\r'))
		n--;
	size_t start = n;
	while (start && s[start - 1] != '\n')
		start--;
	size_t len = n - start < cap - 1 ? n - start : cap - 1;
	if (len)
		memcpy(buf, s + start, len);
	buf[len] = '\0';
	return buf;
}

struct pipes {
	int in[2], out[2], err[2];
};

static void close_pair(int p[2])
{
	for (int i = 0; i < 2; i++)
		if (p[i] >= 0) {
			close(p[i]);
			p[i] = -1;
		}
}

static int open_pipes(const struct loam_spawn_opts *o, struct pipes *p, loam_err *err)
{
	p->in[0] = p->in[1] = p->out[0] = p->out[1] = p->err[0] = p->err[1] = -1;
	if ((o->stdin_data && pipe2(p->in, O_CLOEXEC) < 0) ||
	    (!o->inherit_stdout && pipe2(p->out, O_CLOEXEC) < 0) ||
	    (!o->inherit_stderr && pipe2(p->err, O_CLOEXEC) < 0)) {
		loam_fail_errno(err, "pipe");
		close_pair(p->in);
		close_pair(p->out);
		close_pair(p->err);
		return -1;
	}
	return 0;
}

static int setup_actions(const struct loam_spawn_opts *o, struct pipes *p,
			 posix_spawn_file_actions_t *fa)
{
	posix_spawn_file_actions_init(fa);
	if (o->stdin_data)
		posix_spawn_file_actions_adddup2(fa, p->in[0], 0);
	else
		posix_spawn_file_actions_addopen(fa, 0, "/dev/null", O_RDONLY, 0);
	if (!o->inherit_stdout)
		posix_spawn_file_actions_adddup2(fa, p->out[1], 1);
	if (!o->inherit_stderr)
		posix_spawn_file_actions_adddup2(fa, p->err[1], 2);
	if (o->cwd)
		posix_spawn_file_actions_addchdir_np(fa, o->cwd);
	return 0;
}

static int start_child(const struct loam_spawn_opts *o, struct pipes *p, pid_t *pid, loam_err *err)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	setup_actions(o, p, &fa);
	posix_spawnattr_init(&attr);
	posix_spawnattr_setpgroup(&attr, 0);
	sigset_t none;
	sigemptyset(&none);
	posix_spawnattr_setsigmask(&attr, &none);
	sigset_t dfl;
	sigemptyset(&dfl);
	sigaddset(&dfl, SIGPIPE);
	posix_spawnattr_setsigdefault(&attr, &dfl);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
					    POSIX_SPAWN_SETSIGDEF);
	char *const *argv = (char *const *)o->argv;
	char *const *envp = o->envp ? (char *const *)o->envp : environ;
	int rc = strchr(o->argv[0], '/') ? posix_spawn(pid, o->argv[0], &fa, &attr, argv, envp)
					 : posix_spawnp(pid, o->argv[0], &fa, &attr, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (rc != 0) {
		errno = rc;
		return loam_fail_errno(err, "run %s", o->argv[0]);
	}
	return 0;
}

struct pump {
	const char *in;
	size_t in_len, in_off;
	struct loam_output out, err;
};

/* Moves data between the pipes until both outputs close or time runs out. */
static bool pump_io(struct pipes *p, struct pump *st, long long deadline)
{
	for (;;) {
		struct pollfd fds[3];
		int n = 0, iin = -1, iout = -1, ierr = -1;
		if (p->in[1] >= 0) {
			fds[n] = (struct pollfd){.fd = p->in[1], .events = POLLOUT};
			iin = n++;
		}
		if (p->out[0] >= 0) {
			fds[n] = (struct pollfd){.fd = p->out[0], .events = POLLIN};
			iout = n++;
		}
		if (p->err[0] >= 0) {
			fds[n] = (struct pollfd){.fd = p->err[0], .events = POLLIN};
			ierr = n++;
		}
		if (n == 0)
			return true;
		int wait = -1;
		if (deadline) {
			long long left = deadline - now_ms();
			if (left <= 0)
				return false;
			wait = (int)left;
		}
		int r = poll(fds, (nfds_t)n, wait);
		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0)
			return false;
		if (iin >= 0 && fds[iin].revents) {
			ssize_t w =
			    fds[iin].revents & POLLOUT
				? write(p->in[1], st->in + st->in_off, st->in_len - st->in_off)
				: -1;
			if (w > 0)
				st->in_off += (size_t)w;
			if (w < 0 || st->in_off >= st->in_len) {
				close(p->in[1]);
				p->in[1] = -1;
			}
		}
		struct {
			int idx;
			int *fd;
			struct loam_output *s;
		} rd[2] = {{iout, &p->out[0], &st->out}, {ierr, &p->err[0], &st->err}};
		for (int i = 0; i < 2; i++) {
			if (rd[i].idx < 0 || !fds[rd[i].idx].revents)
				continue;
			char buf[16384];
			ssize_t got = read(*rd[i].fd, buf, sizeof(buf));
			if (got > 0)
				loam_output_append(rd[i].s, buf, (size_t)got);
			else if (got == 0 || errno != EINTR) {
				close(*rd[i].fd);
				*rd[i].fd = -1;
			}
		}
	}
}

static void reap(pid_t pid, bool timed_out, struct loam_spawn_result *res)
{
	int status = 0;
	if (timed_out)
		kill(-pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	res->timed_out = timed_out;
	if (WIFSIGNALED(status)) {
		res->signaled = true;
		res->term_signal = WTERMSIG(status);
	} else {
		res->exit_status = WEXITSTATUS(status);
	}
}

int loam_spawn(const struct loam_spawn_opts *o, struct loam_spawn_result *res, loam_err *err)
{
	memset(res, 0, sizeof(*res));
	if (!o->argv || !o->argv[0] || !*o->argv[0])
		return loam_fail(err, LOAM_E_INTERNAL, "spawn: empty argv");
	struct pipes p;
	if (open_pipes(o, &p, err) < 0)
		return -1;
	pid_t pid;
	if (start_child(o, &p, &pid, err) < 0) {
		close_pair(p.in);
		close_pair(p.out);
		close_pair(p.err);
		return -1;
	}
	/* Close the child's ends so EOF arrives when it exits. */
	if (p.in[0] >= 0)
		close(p.in[0]), p.in[0] = -1;
	if (p.out[1] >= 0)
		close(p.out[1]), p.out[1] = -1;
	if (p.err[1] >= 0)
		close(p.err[1]), p.err[1] = -1;
	size_t max = o->max_output ? o->max_output : (size_t)64 << 20;
	struct pump st = {
	    .in = o->stdin_data, .in_len = o->stdin_len, .out.max = max, .err.max = max};
	long long deadline = o->timeout_ms > 0 ? now_ms() + o->timeout_ms : 0;
	bool finished = pump_io(&p, &st, deadline);
	close_pair(p.in);
	close_pair(p.out);
	close_pair(p.err);
	reap(pid, !finished, res);
	res->out = loam_output_take(&st.out, &res->out_len);
	res->err = loam_output_take(&st.err, &res->err_len);
	return 0;
}

int loam_spawn_ok(const struct loam_spawn_opts *o, struct loam_spawn_result *res, loam_err *err)
{
	if (loam_spawn(o, res, err) < 0)
		return -1;
	char line[512];
	if (res->timed_out)
		return loam_fail(err, LOAM_E_TIMEOUT, "%s timed out after %d ms", o->argv[0],
				 o->timeout_ms);
	if (res->signaled)
		return loam_fail(err, LOAM_E_IO, "%s killed by signal %d", o->argv[0],
				 res->term_signal);
	if (res->exit_status != 0)
		return loam_fail(err, LOAM_E_IO, "%s exited with status %d%s%s", o->argv[0],
				 res->exit_status, res->err && *res->err ? ": " : "",
				 loam_output_last_line(res->err, line, sizeof(line)));
	return 0;
}

void loam_spawn_result_free(struct loam_spawn_result *res)
{
	free(res->out);
	free(res->err);
	res->out = res->err = NULL;
}
