/*
 * Detached jobs (see job.h). A job's folder is built under a hidden name
 * and renamed into place, so a half-made job is never seen under its own
 * name; the exit status is written by the monitor the same way. Nothing
 * here is fsynced: after a host crash a job is simply lost (no monitor, no
 * exit status) and the control plane starts it again, as every job is one
 * of the agent's idempotent verbs.
 */
#include "host/job.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/clock.h"
#include "host/vm.h"
#include "host/vm_files.h"
#include "lib/cleanup.h"
#include "lib/fs.h"
#include "lib/sha256.h"
#include "lib/valid.h"
#include "lib/xalloc.h"
#include "proto/agent.h"

#define JOB_POLL_MS	5
#define JOB_STDOUT_MAX	(4u << 20)
#define JOB_STDERR_TAIL 4096

static const char *const allowed_verbs[] = {LOAM_VERB_VM_PREP, LOAM_VERB_INSTALL, NULL};

bool job_verb_allowed(const char *verb)
{
	for (const char *const *v = allowed_verbs; *v; v++)
		if (verb && strcmp(verb, *v) == 0)
			return true;
	return false;
}

int job_paths_init(const char *state_dir, const char *name, struct job_paths *p, loam_err *err)
{
	memset(p, 0, sizeof(*p));
	if (loam_valid_abs_path(LOAM_OPT_STATE_DIR, state_dir, err) < 0 ||
	    loam_valid_name("job name", name, err) < 0)
		return -1;
	snprintf(p->name, sizeof(p->name), "%s", name);
	if (vm_path_join(p->jobs, state_dir, LOAM_LAYOUT_JOBS, err) < 0 ||
	    vm_path_join(p->dir, p->jobs, name, err) < 0 ||
	    vm_path_join(p->input, p->dir, LOAM_LAYOUT_JOB_INPUT, err) < 0 ||
	    vm_path_join(p->in, p->dir, LOAM_LAYOUT_JOB_STDIN, err) < 0 ||
	    vm_path_join(p->out, p->dir, LOAM_LAYOUT_JOB_STDOUT, err) < 0 ||
	    vm_path_join(p->err, p->dir, LOAM_LAYOUT_JOB_STDERR, err) < 0 ||
	    vm_path_join(p->pid, p->dir, LOAM_LAYOUT_JOB_PID, err) < 0 ||
	    vm_path_join(p->exit, p->dir, LOAM_LAYOUT_JOB_EXIT, err) < 0)
		return -1;
	return 0;
}

/* D/jobs: ours (root's), 0700, a real directory; returns it open and locked. */
static int lock_jobs_dir(const struct job_paths *p, loam_err *err)
{
	if (loam_mkdir_p(p->jobs, 0700, err) < 0)
		return -1;
	int fd = open(p->jobs, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) {
		loam_fail_errno(err, "open %s", p->jobs);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (st.st_uid != geteuid() || (st.st_mode & 077) != 0) {
		close(fd);
		return loam_fail(err, LOAM_E_CONFLICT,
				 "%s must be a directory of the agent's user with mode 0700; "
				 "refusing to use it",
				 p->jobs);
	}
	if (flock(fd, LOCK_EX) < 0) {
		loam_fail_errno(err, "lock %s", p->jobs);
		close(fd);
		return -1;
	}
	return fd;
}

/* A small file of the job, NUL-terminated; NULL when absent. */
static char *read_small(const char *path, size_t max, size_t *len)
{
	cleanup_close int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	cleanup_err loam_err err = NULL;
	char *buf = NULL;
	if (fd < 0 || loam_read_fd(fd, path, max, &buf, len, &err) < 0)
		return NULL;
	return buf;
}

static int write_new(const char *path, const void *data, size_t len, loam_err *err)
{
	cleanup_close int fd =
	    open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return loam_fail_errno(err, "create %s", path);
	for (size_t off = 0; off < len;) {
		ssize_t n = write(fd, (const char *)data + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return loam_fail_errno(err, "write %s", path);
		off += (size_t)n;
	}
	return 0;
}

/* The SHA-256 of the words (NUL-separated), a newline, then stdin. */
static int input_digest(const char *const *words, const char *in, size_t in_len,
			char hex[LOAM_SHA256_HEX_LEN + 1], loam_err *err)
{
	size_t n = in_len + 1;
	for (const char *const *w = words; *w; w++)
		n += strlen(*w) + 1;
	cleanup_free char *buf = xmalloc(n);
	size_t off = 0;
	for (const char *const *w = words; *w; w++) {
		memcpy(buf + off, *w, strlen(*w) + 1);
		off += strlen(*w) + 1;
	}
	buf[off++] = '\n';
	if (in_len)
		memcpy(buf + off, in, in_len);
	return loam_sha256_buf(buf, n, hex, err);
}

/* The monitor is alive: its pid runs and started when the pid file says. */
static bool monitor_alive(const struct job_paths *p)
{
	size_t len = 0;
	cleanup_free char *text = read_small(p->pid, 128, &len);
	long pid = 0, pgid = 0;
	unsigned long long ticks = 0, now_ticks = 0;
	if (!text || sscanf(text, "%ld %ld %llu", &pid, &pgid, &ticks) != 3 || pid <= 1)
		return false;
	char path[64];
	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	cleanup_free char *stat = read_small(path, 4096, &len);
	const char *s = stat ? strrchr(stat, ')') : NULL;
	char state = 0;
	if (!s || sscanf(s + 1,
			 " %c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d "
			 "%*d %*d %llu",
			 &state, &now_ticks) != 2)
		return false;
	return state != 'Z' && state != 'X' && now_ticks == ticks;
}

static void read_exit(const struct job_paths *p, struct job_status *st)
{
	size_t len = 0;
	cleanup_free char *text = read_small(p->exit, 64, &len);
	int n = 0;
	*st = (struct job_status){.state = JOB_RUNNING, .exit_status = -1};
	if (text && sscanf(text, "exit %d", &n) == 1)
		*st = (struct job_status){.state = JOB_DONE, .exit_status = n};
	else if (text && sscanf(text, "signal %d", &n) == 1)
		*st = (struct job_status){.state = JOB_DONE, .exit_status = -1, .signal = n};
}

static void read_state(const struct job_paths *p, struct job_status *st)
{
	struct stat sb;
	if (lstat(p->dir, &sb) < 0 || !S_ISDIR(sb.st_mode)) {
		*st = (struct job_status){.state = JOB_ABSENT, .exit_status = -1};
		return;
	}
	read_exit(p, st);
	if (st->state == JOB_RUNNING && !monitor_alive(p)) {
		read_exit(p, st); /* it may have ended between the two reads */
		if (st->state == JOB_RUNNING)
			*st = (struct job_status){.state = JOB_LOST, .exit_status = -1};
	}
}

void job_read(const struct job_paths *p, long wait_ms, struct job_status *st)
{
	int64_t until = loam_now_ms() + wait_ms;
	read_state(p, st);
	while (st->state == JOB_RUNNING && loam_now_ms() < until) {
		loam_sleep_ms(JOB_POLL_MS);
		read_state(p, st);
	}
}

/* ---- starting ---- */

/* The monitor's start time comes from its task's stat, not /proc/PID/stat:
 * under qemu-user (an emulated host) a process reading its own stat gets
 * qemu's rendering, whose start time can be one tick off the kernel's, and
 * monitor_alive (reading the kernel's) would then call a running job lost. */
static void write_pid_file(const struct job_paths *p)
{
	char path[80], line[96];
	snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", (int)getpid(), (int)getpid());
	size_t len = 0;
	cleanup_free char *stat = read_small(path, 4096, &len);
	const char *s = stat ? strrchr(stat, ')') : NULL;
	unsigned long long ticks = 0;
	if (s)
		sscanf(s + 1,
		       " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d "
		       "%*d %llu",
		       &ticks);
	int n = snprintf(line, sizeof(line), "%d %d %llu\n", (int)getpid(), (int)getsid(0), ticks);
	cleanup_err loam_err err = NULL;
	write_new(p->pid, line, (size_t)n, &err);
}

static void write_exit_file(const struct job_paths *p, int status)
{
	char tmp[JOB_PATH_MAX + 8], line[32];
	snprintf(tmp, sizeof(tmp), "%s.new", p->exit);
	int n = WIFEXITED(status) ? snprintf(line, sizeof(line), "exit %d\n", WEXITSTATUS(status))
				  : snprintf(line, sizeof(line), "signal %d\n", WTERMSIG(status));
	cleanup_err loam_err err = NULL;
	unlink(tmp);
	if (write_new(tmp, line, (size_t)n, &err) == 0 && rename(tmp, p->exit) < 0)
		unlink(tmp);
}

/* The verb itself: stdin, stdout and stderr are the job's files. */
static __attribute__((noreturn)) void exec_verb(const struct job_paths *p, const char *const *words)
{
	int in = open(p->in, O_RDONLY | O_NOFOLLOW);
	int out = open(p->out, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, 0600);
	int errfd = open(p->err, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, 0600);
	if (in < 0 || out < 0 || errfd < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 ||
	    dup2(errfd, 2) < 0)
		_exit(127);
	close_range(3, ~0U, 0);
	size_t n = 0;
	while (words[n])
		n++;
	char **argv = xcalloc(n + 2, sizeof(*argv));
	char self[4096];
	ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (len > 0)
		self[len] = '\0';
	argv[0] = len > 0 ? self : "loam-host"; /* ps shows which agent runs it */
	for (size_t i = 0; i < n; i++)
		argv[i + 1] = (char *)words[i];
	execv("/proc/self/exe", argv);
	dprintf(2, "loam-host: job %s: exec: %s\n", p->name, strerror(errno));
	_exit(127);
}

/* The monitor: records its pid file, says so on the pipe, runs the verb,
 * records its end; the pipe closes when the monitor exits, which tells a
 * starter still waiting that the job is over. */
static __attribute__((noreturn)) void run_monitor(const struct job_paths *p,
						  const char *const *words, int sync_fd)
{
	write_pid_file(p);
	while (write(sync_fd, "p", 1) < 0 && errno == EINTR)
		;
	pid_t verb = fork();
	if (verb == 0)
		exec_verb(p, words); /* sync_fd is close-on-exec */
	int status = 0;
	while (verb > 0 && waitpid(verb, &status, 0) < 0 && errno == EINTR)
		;
	write_exit_file(p, verb > 0 ? status : (127 << 8));
	_exit(0);
}

/* Leaves every descriptor of the agent's caller (the SSH channel, the
 * local spawn's pipes) behind, so the caller sees the end of its output. */
static void detach_fds(int keep)
{
	int null = open("/dev/null", O_RDWR);
	if (null >= 0) {
		dup2(null, 0);
		dup2(null, 1);
		dup2(null, 2);
	}
	if (keep > 3)
		close_range(3, (unsigned)keep - 1, 0);
	close_range((unsigned)keep + 1, ~0U, 0);
}

/* Waits up to wait_ms for the end of the file the monitor holds open. */
static void wait_for_monitor(int fd, long wait_ms)
{
	char c;
	ssize_t n;
	while ((n = read(fd, &c, 1)) < 0 && errno == EINTR)
		;
	if (n <= 0 || wait_ms <= 0)
		return; /* no monitor (its fork failed): the job reads as lost */
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	int64_t until = loam_now_ms() + wait_ms;
	for (int64_t left = wait_ms; left > 0; left = until - loam_now_ms())
		if (poll(&pfd, 1, (int)left) != 0 && (pfd.revents || errno != EINTR))
			return;
}

/* Starts the job's process tree; returns once the monitor has recorded
 * itself, or once the job ended when that takes less than wait_ms. */
static int spawn_detached(const struct job_paths *p, const char *const *words, long wait_ms,
			  loam_err *err)
{
	int sync[2];
	if (pipe2(sync, O_CLOEXEC) < 0)
		return loam_fail_errno(err, "pipe");
	pid_t leader = fork();
	if (leader < 0) {
		close(sync[0]);
		close(sync[1]);
		return loam_fail_errno(err, "fork");
	}
	if (leader == 0) {
		setsid();
		detach_fds(sync[1]);
		if (fork() == 0)
			run_monitor(p, words, sync[1]);
		_exit(0);
	}
	close(sync[1]);
	while (waitpid(leader, NULL, 0) < 0 && errno == EINTR)
		;
	wait_for_monitor(sync[0], wait_ms);
	close(sync[0]);
	return 0;
}

/* Builds the job's folder under a hidden name and renames it into place. */
static int make_job_dir(const struct job_paths *p, const char *digest, const char *in,
			size_t in_len, loam_err *err)
{
	char tmp[JOB_PATH_MAX + 96];
	snprintf(tmp, sizeof(tmp), "%s/.new-%s-%d", p->jobs, p->name, (int)getpid());
	vm_remove_tree(tmp, NULL);
	if (mkdir(tmp, 0700) < 0)
		return loam_fail_errno(err, "mkdir %s", tmp);
	char f_input[sizeof(tmp) + 32], f_in[sizeof(tmp) + 32];
	snprintf(f_input, sizeof(f_input), "%s/" LOAM_LAYOUT_JOB_INPUT, tmp);
	snprintf(f_in, sizeof(f_in), "%s/" LOAM_LAYOUT_JOB_STDIN, tmp);
	if (write_new(f_input, digest, strlen(digest), err) < 0 ||
	    write_new(f_in, in ? in : "", in_len, err) < 0 || rename(tmp, p->dir) < 0) {
		if (!*err)
			loam_fail_errno(err, "rename %s", tmp);
		vm_remove_tree(tmp, NULL);
		return -1;
	}
	return 0;
}

/* Whether the job in place was started with this digest. */
static bool same_input(const struct job_paths *p, const char *digest)
{
	size_t len = 0;
	cleanup_free char *have = read_small(p->input, 128, &len);
	return have && strcmp(have, digest) == 0;
}

int job_start(const struct job_paths *p, const char *const *words, const char *stdin_data,
	      size_t stdin_len, long wait_ms, struct job_status *st, loam_err *err)
{
	if (!job_verb_allowed(words[0]))
		return loam_fail(err, LOAM_E_INVALID, "a job runs %s or %s, not '%.32s'",
				 LOAM_VERB_VM_PREP, LOAM_VERB_INSTALL,
				 loam_has_unsafe_chars(words[0]) ? "?" : words[0]);
	char digest[LOAM_SHA256_HEX_LEN + 1];
	if (input_digest(words, stdin_data, stdin_len, digest, err) < 0)
		return -1;
	cleanup_close int lock = lock_jobs_dir(p, err);
	if (lock < 0)
		return -1;
	read_state(p, st);
	if (st->state == JOB_RUNNING && !same_input(p, digest))
		return loam_fail(err, LOAM_E_CONFLICT,
				 "job %s runs with other input; cancel it first (%s)", p->name,
				 LOAM_VERB_JOB_CANCEL);
	if (st->state == JOB_ABSENT || !same_input(p, digest)) {
		if (vm_remove_tree(p->dir, err) < 0 ||
		    make_job_dir(p, digest, stdin_data, stdin_len, err) < 0 ||
		    spawn_detached(p, words, wait_ms, err) < 0)
			return -1;
		wait_ms = 0; /* waited for its end already */
	}
	close(loam_steal_fd(&lock)); /* others may look at their jobs meanwhile */
	job_read(p, wait_ms, st);
	return 0;
}

/* ---- answering and cancelling ---- */

static const char *state_name(enum job_state s)
{
	return s == JOB_RUNNING ? LOAM_JOB_RUNNING
	       : s == JOB_DONE	? LOAM_JOB_DONE
	       : s == JOB_LOST	? LOAM_JOB_LOST
				: LOAM_JOB_ABSENT;
}

static json_t *file_text(const char *path, size_t max, bool tail)
{
	size_t len = 0;
	cleanup_free char *text = read_small(path, tail ? 0 : max, &len);
	if (!text)
		return json_string("");
	size_t from = tail && len > max ? len - max : 0;
	return json_stringn(text + from, len - from);
}

json_t *job_status_json(const struct job_paths *p, const struct job_status *st, bool reap)
{
	bool ended = st->state == JOB_DONE || st->state == JOB_LOST;
	json_t *j = json_pack(
	    "{s:s, s:s, s:o, s:o, s:o, s:o, s:b}", LOAM_KEY_NAME, p->name, LOAM_KEY_STATE,
	    state_name(st->state), LOAM_KEY_EXIT_STATUS,
	    st->state == JOB_DONE && !st->signal ? json_integer(st->exit_status) : json_null(),
	    LOAM_KEY_SIGNAL, st->signal ? json_integer(st->signal) : json_null(), LOAM_KEY_STDOUT,
	    ended ? file_text(p->out, JOB_STDOUT_MAX, false) : json_string(""), LOAM_KEY_STDERR,
	    st->state != JOB_ABSENT ? file_text(p->err, JOB_STDERR_TAIL, true) : json_string(""),
	    LOAM_KEY_REAPED, reap && ended);
	if (reap && ended)
		vm_remove_tree(p->dir, NULL);
	return j;
}

/* The job's session: its leader called setsid(), and every process the
 * job starts stays in it (loam_spawn gives children process groups of
 * their own, not sessions). */
static long session_of(const struct job_paths *p)
{
	size_t len = 0;
	cleanup_free char *text = read_small(p->pid, 128, &len);
	long pid = 0, sid = 0;
	return text && sscanf(text, "%ld %ld", &pid, &sid) == 2 && sid > 1 ? sid : 0;
}

static bool live_in_session(pid_t pid, const void *arg)
{
	long sid = *(const long *)arg;
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	size_t len = 0;
	cleanup_free char *stat = read_small(path, 4096, &len);
	const char *s = stat ? strrchr(stat, ')') : NULL;
	char state = 0;
	long session = 0;
	return s && sscanf(s + 1, " %c %*d %*d %ld", &state, &session) == 2 && session == sid &&
	       state != 'Z' && state != 'X';
}

int job_cancel(const struct job_paths *p, bool *existed, loam_err *err)
{
	cleanup_close int lock = lock_jobs_dir(p, err);
	if (lock < 0)
		return -1;
	struct job_status st;
	read_state(p, &st);
	*existed = st.state != JOB_ABSENT;
	long sid = st.state == JOB_RUNNING ? session_of(p) : 0;
	if (sid && vm_kill_until_gone(live_in_session, &sid, "the job's processes", err) < 0)
		return -1;
	return vm_remove_tree(p->dir, err);
}
