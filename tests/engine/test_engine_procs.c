/*
 * The engine across processes, on SQLite and PostgreSQL:
 *  - crash-resume: a child process runs a strand and is SIGKILLed inside
 *    each label in turn, before and after the label's side effect; a
 *    restarted child finishes the strand exactly once, every effect is
 *    recorded once, and only the killed label ran twice;
 *  - two dispatcher processes (two workers each) on one database never run
 *    one strand at once, and apply every step exactly once;
 *  - a SIGKILLed worker's lease runs out and the other process takes its
 *    strand over, while a live one keeps its lease renewed;
 *  - loam_engine_wake makes idle workers take new work at once, not at
 *    their next poll.
 * Children are forked before any engine thread exists in the parent, with
 * the parent's connection closed across the fork (fork_clean).
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <sys/wait.h>

#include "engine_t.h"
#include "lib/log.h"
#include "lib/spawn.h"
#include "t.h"

#define HANG_GUARD_MS (240 * 1000) /* only to fail instead of hanging forever */

static const char *base;
static int round_no;

/* Set in a child before it runs: where its labels stop and wait to die. */
static const char *block_label, *block_point, *block_owner_prefix;
static int block_fd = -1;

static void maybe_block(struct loam_strand_ctx *c, const char *point)
{
	if (!block_label || strcmp(block_label, c->label) != 0 || strcmp(block_point, point) != 0)
		return;
	if (block_owner_prefix && strncmp(c->owner, block_owner_prefix, strlen(block_owner_prefix)))
		return;
	if (write(block_fd, "x", 1) != 1)
		_exit(3);
	for (;;)
		pause(); /* until SIGKILL */
}

/* ---- crash prog: a -> b -> push sub (s1) -> c -> d ---- */

static int crash_common(struct loam_strand_ctx *c, loam_err *e)
{
	if (t_count_exec(c->db, c->id, c->label, e) < 0)
		return -1;
	maybe_block(c, "before");
	if (t_record_effect(c->db, c->id, c->label, e) < 0)
		return -1;
	maybe_block(c, "after");
	return 0;
}

static int crash_a(struct loam_strand_ctx *c, struct loam_outcome *o, loam_err *e)
{
	if (crash_common(c, e) < 0)
		return -1;
	*o = loam_hop("b");
	return 0;
}

static int crash_b(struct loam_strand_ctx *c, struct loam_outcome *o, loam_err *e)
{
	if (crash_common(c, e) < 0)
		return -1;
	*o = loam_push("t_crash_sub", NULL, "c");
	return 0;
}

static int crash_c(struct loam_strand_ctx *c, struct loam_outcome *o, loam_err *e)
{
	if (crash_common(c, e) < 0)
		return -1;
	json_object_set(c->frame, "got", c->child_exit);
	*o = loam_hop("d");
	return 0;
}

static int crash_d(struct loam_strand_ctx *c, struct loam_outcome *o, loam_err *e)
{
	if (crash_common(c, e) < 0)
		return -1;
	*o = loam_pop(json_incref(json_object_get(c->frame, "got")));
	return 0;
}

static int crash_s1(struct loam_strand_ctx *c, struct loam_outcome *o, loam_err *e)
{
	if (crash_common(c, e) < 0)
		return -1;
	*o = loam_pop(json_integer(7));
	return 0;
}

static const struct loam_label crash_labels[] = {{"a", crash_a, 0, NULL},
						 {"b", crash_b, 0, NULL},
						 {"c", crash_c, 0, NULL},
						 {"d", crash_d, 0, NULL},
						 {0}};
static const struct loam_prog crash_prog = {"t_crash", crash_labels, NULL, NULL};
static const struct loam_label crash_sub_labels[] = {{"s1", crash_s1, 0, NULL}, {0}};
static const struct loam_prog crash_sub_prog = {"t_crash_sub", crash_sub_labels, NULL, NULL};

/* ---- steps prog: s1..s4, each logging (strand, label, owner, start, end) ---- */

static int log_step(struct loam_strand_ctx *c, int64_t start, loam_err *e)
{
	return loam_db_exec(
	    c->db,
	    "INSERT INTO t_step (strand, label, owner, start_ms, end_ms) VALUES (?, "
	    "?, ?, ?, ?)",
	    DB_ARGS(DB_TEXT(c->id), DB_TEXT(c->label), DB_TEXT(c->owner), DB_INT(start),
		    DB_INT(loam_db_now_ms())),
	    NULL, e);
}

static int step(struct loam_strand_ctx *c, struct loam_outcome *o, loam_err *e)
{
	int64_t start = loam_db_now_ms();
	maybe_block(c, "before");
	usleep(2000); /* a little work, so that overlaps would show */
	if (log_step(c, start, e) < 0)
		return -1;
	static const char *const next[] = {"s2", "s3", "s4"};
	int i = c->label[1] - '1';
	*o = i < 3 ? loam_hop(next[i]) : loam_pop(json_string(c->owner));
	return 0;
}

static const struct loam_label steps_labels[] = {{"s1", step, 0, NULL},
						 {"s2", step, 0, NULL},
						 {"s3", step, 0, NULL},
						 {"s4", step, 0, NULL},
						 {0}};
static const struct loam_prog steps_prog = {"t_steps", steps_labels, NULL, NULL};

/* ---- process plumbing ---- */

static struct loam_db *fresh(const char *name, char **url)
{
	char tag[48];
	snprintf(tag, sizeof(tag), "%s_%d_%d", name, round_no, (int)getpid());
	return t_fresh_db(base, tag, url);
}

/* Child: runs due strands one by one until none is left unfinished. */
static void __attribute__((noreturn))
child_run_until_done(const char *url, const char *owner, int lease_ms)
{
	struct loam_db *db = NULL;
	cleanup_err loam_err err = NULL;
	if (loam_db_open(url, &db, &err) < 0)
		_exit(4);
	for (;;) {
		int rc = loam_engine_run_one(db, owner, lease_ms, NULL, &err);
		if (rc < 0) {
			fprintf(stderr, "child %s: %s\n", owner, loam_err_msg(err));
			loam_err_free(&err);
		}
		if (rc == 1)
			continue;
		if (t_int(db, "SELECT count(*) FROM strand WHERE done = 0", NULL) == 0)
			break;
		usleep(20 * 1000);
	}
	loam_db_close(db);
	_exit(0);
}

/* Child: a threaded engine until SIGTERM, then a clean stop. */
static void __attribute__((noreturn))
child_engine(const char *url, const char *owner, int workers, int lease_ms)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigprocmask(SIG_BLOCK, &set, NULL);
	struct loam_engine *e = NULL;
	cleanup_err loam_err err = NULL;
	struct loam_engine_opts opts = {
	    .db_url = url, .owner = owner, .workers = workers, .lease_ms = lease_ms, .poll_ms = 20};
	if (loam_engine_start(&opts, &e, &err) < 0)
		_exit(4);
	int sig = 0;
	sigwait(&set, &sig);
	loam_engine_stop(e);
	_exit(0);
}

#define WAKE_TEST_POLL_MS 120000

/* Child: an engine whose workers poll only every 2 minutes, a strand made
 * while they sleep, and a wake; exits 0 when the strand finished long
 * before the workers would have polled. */
static void __attribute__((noreturn)) child_wake(const char *url)
{
	struct loam_engine *e = NULL;
	cleanup_err loam_err err = NULL;
	struct loam_engine_opts opts = {
	    .db_url = url, .owner = "pW", .workers = 2, .poll_ms = WAKE_TEST_POLL_MS};
	struct loam_db *db = NULL;
	if (loam_db_open(url, &db, &err) < 0 || loam_engine_start(&opts, &e, &err) < 0)
		_exit(4);
	usleep(500 * 1000); /* both workers found nothing and sleep */
	if (loam_strand_create(db, "t_steps", NULL, NULL, NULL, NULL, &err) < 0)
		_exit(5);
	loam_engine_wake(e);
	int64_t until = loam_db_now_ms() + WAKE_TEST_POLL_MS / 2;
	bool done = false;
	while (!done && loam_db_now_ms() < until) {
		done = t_int(db, "SELECT count(*) FROM strand WHERE done = 0", NULL) == 0;
		usleep(20 * 1000);
	}
	loam_engine_stop(e);
	loam_db_close(db);
	_exit(done ? 0 : 1);
}

/* The child's exit status (128 + signal when killed); a child still there
 * after the guard is SIGKILLed and reported, so that a hang fails the case
 * it is in instead of the whole test at CTest's timeout. */
static int wait_exit(pid_t pid)
{
	int st = 0;
	for (int64_t until = loam_db_now_ms() + HANG_GUARD_MS;;) {
		pid_t r = waitpid(pid, &st, WNOHANG);
		if (r == pid)
			break;
		if (r < 0 && errno != EINTR)
			return -1;
		if (loam_db_now_ms() > until) {
			fprintf(stderr, "  child %d still running after %d s: killed\n", (int)pid,
				HANG_GUARD_MS / 1000);
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			return -1;
		}
		usleep(20 * 1000);
	}
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* fork() with the parent's connection closed across it and opened again
 * in the parent: SQLite's file and WAL lock state must not be carried into
 * a child that opens the same database (sqlite.org/howtocorrupt.html 2.6). */
static pid_t fork_clean(struct loam_db **db, const char *url)
{
	loam_db_close(*db);
	*db = NULL;
	pid_t pid = fork();
	if (pid != 0) {
		cleanup_err loam_err err = NULL;
		if (loam_db_open(url, db, &err) < 0) {
			fprintf(stderr, "reopen %s: %s\n", url, loam_err_msg(err));
			abort();
		}
	}
	return pid;
}

/* Waits for the child's "I am blocked" byte. */
static bool wait_blocked(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	char c;
	return poll(&p, 1, HANG_GUARD_MS) == 1 && read(fd, &c, 1) == 1;
}

static bool wait_all_done(struct loam_db *db)
{
	for (int64_t until = loam_db_now_ms() + HANG_GUARD_MS; loam_db_now_ms() < until;) {
		if (t_int(db, "SELECT count(*) FROM strand WHERE done = 0", NULL) == 0)
			return true;
		usleep(50 * 1000);
	}
	return false;
}

/* ---- cases ---- */

static void crash_at(const char *label, const char *point)
{
	cleanup_free char *url = NULL;
	char name[32];
	snprintf(name, sizeof(name), "crash_%s_%c", label, point[0]);
	struct loam_db *db = fresh(name, &url);
	char id[27];
	cleanup_err loam_err err = NULL;
	if (loam_strand_create(db, "t_crash", NULL, NULL, NULL, id, &err) < 0)
		abort();
	int fds[2];
	if (pipe(fds) < 0)
		abort();
	pid_t pid = fork_clean(&db, url);
	if (pid == 0) {
		close(fds[0]);
		block_label = label, block_point = point, block_fd = fds[1];
		child_run_until_done(url, "victim", 300);
	}
	close(fds[1]);
	CHECK(wait_blocked(fds[0]));
	close(fds[0]);
	kill(pid, SIGKILL);
	CHECK_INT(wait_exit(pid), 128 + SIGKILL);
	CHECK_INT(t_int(db, "SELECT done FROM strand WHERE id = ?", id), 0);

	pid = fork_clean(&db, url);
	if (pid == 0)
		child_run_until_done(url, "survivor", 300);
	CHECK_INT(wait_exit(pid), 0);

	CHECK_INT(t_int(db, "SELECT count(*) FROM strand", NULL), 1);
	CHECK_INT(t_int(db, "SELECT done FROM strand WHERE id = ?", id), 1);
	cleanup_free char *ev = t_text(db, "SELECT exitval FROM strand WHERE id = ?", id);
	CHECK_STR(ev, "7");
	CHECK_INT(t_int(db, "SELECT count(*) FROM t_effect", NULL), 5);
	CHECK_INT(t_int(db, "SELECT count(*) FROM t_exec", NULL), 5);
	/* Only the label we killed ran twice. */
	CHECK_INT(t_int(db, "SELECT sum(n) FROM t_exec", NULL), 6);
	CHECK_INT(t_int(db, "SELECT n FROM t_exec WHERE label = ?", label), 2);
	loam_db_close(db);
}

static void test_crash_resume_each_label(void)
{
	static const char *const labels[] = {"a", "b", "s1", "c", "d"};
	for (size_t i = 0; i < sizeof(labels) / sizeof(*labels); i++) {
		crash_at(labels[i], "before");
		crash_at(labels[i], "after");
	}
}

static void test_two_dispatchers(void)
{
	cleanup_free char *url = NULL;
	struct loam_db *db = fresh("two", &url);
	enum { STRANDS = 16 };
	cleanup_err loam_err err = NULL;
	for (int i = 0; i < STRANDS; i++)
		if (loam_strand_create(db, "t_steps", NULL, NULL, NULL, NULL, &err) < 0)
			abort();
	pid_t a = fork_clean(&db, url);
	if (a == 0)
		child_engine(url, "pA", 2, 5000);
	pid_t b = fork_clean(&db, url);
	if (b == 0)
		child_engine(url, "pB", 2, 5000);
	CHECK(wait_all_done(db));
	kill(a, SIGTERM);
	kill(b, SIGTERM);
	CHECK_INT(wait_exit(a), 0); /* loam_engine_stop returned */
	CHECK_INT(wait_exit(b), 0);
	CHECK_INT(t_int(db, "SELECT count(*) FROM t_step", NULL), STRANDS * 4);
	CHECK_INT(
	    t_int(db, "SELECT count(*) FROM (SELECT DISTINCT strand, label FROM t_step) x", NULL),
	    STRANDS * 4);
	CHECK_INT(t_int(db,
			"SELECT count(*) FROM t_step x JOIN t_step y ON x.strand = y.strand AND "
			"x.label < y.label AND x.start_ms < y.end_ms AND y.start_ms < x.end_ms",
			NULL),
		  0);
	fprintf(stderr, "  steps by pA: %lld, by pB: %lld\n",
		(long long)t_int(db, "SELECT count(*) FROM t_step WHERE owner LIKE 'pA/%'", NULL),
		(long long)t_int(db, "SELECT count(*) FROM t_step WHERE owner LIKE 'pB/%'", NULL));
	loam_db_close(db);
}

static void test_lease_expiry_hands_over(void)
{
	cleanup_free char *url = NULL;
	struct loam_db *db = fresh("expiry", &url);
	char stuck_id[27], other_id[27];
	cleanup_err loam_err err = NULL;
	if (loam_strand_create(db, "t_steps", NULL, NULL, NULL, stuck_id, &err) < 0)
		abort();
	int fds[2];
	if (pipe(fds) < 0)
		abort();
	pid_t a = fork_clean(&db, url);
	if (a == 0) {
		close(fds[0]);
		block_label = "s1", block_point = "before", block_fd = fds[1];
		block_owner_prefix = "pA/";
		child_engine(url, "pA", 1, 1000);
	}
	close(fds[1]);
	CHECK(wait_blocked(fds[0]));
	close(fds[0]);
	pid_t b = fork_clean(&db, url);
	if (b == 0)
		child_engine(url, "pB", 1, 1000);
	/* B is live (it runs another strand to the end) yet leaves A's alone:
	 * A's renewer keeps extending the lease of the label still running. */
	if (loam_strand_create(db, "t_steps", NULL, NULL, NULL, other_id, &err) < 0)
		abort();
	bool other_done = false;
	for (int64_t until = loam_db_now_ms() + HANG_GUARD_MS;
	     !other_done && loam_db_now_ms() < until; usleep(50 * 1000))
		other_done = t_int(db, "SELECT done FROM strand WHERE id = ?", other_id) == 1;
	CHECK(other_done);
	usleep(1500 * 1000); /* longer than a lease: only renewal keeps it */
	cleanup_free char *holder =
	    t_text(db, "SELECT lease_owner FROM strand WHERE id = ?", stuck_id);
	CHECK_STR(holder, "pA/0");
	CHECK_INT(t_int(db, "SELECT count(*) FROM t_step WHERE strand = ?", stuck_id), 0);
	kill(a, SIGKILL);
	CHECK_INT(wait_exit(a), 128 + SIGKILL);
	CHECK(wait_all_done(db));
	kill(b, SIGTERM);
	CHECK_INT(wait_exit(b), 0);
	CHECK_INT(
	    t_int(db, "SELECT count(*) FROM t_step WHERE strand = ? AND owner = 'pB/0'", stuck_id),
	    4);
	cleanup_free char *ev = t_text(db, "SELECT exitval FROM strand WHERE id = ?", stuck_id);
	CHECK_STR(ev, "\"pB/0\"");
	loam_db_close(db);
}

static void test_wake_runs_new_work_at_once(void)
{
	cleanup_free char *url = NULL;
	struct loam_db *db = fresh("wake", &url);
	pid_t pid = fork_clean(&db, url);
	if (pid == 0)
		child_wake(url);
	CHECK_INT(wait_exit(pid), 0);
	CHECK_INT(t_int(db, "SELECT count(*) FROM t_step", NULL), 4);
	loam_db_close(db);
}

int main(void)
{
	loam_log_init("test_engine_procs", false, LOAM_LOG_WARN);
	loam_engine_register(&crash_prog);
	loam_engine_register(&crash_sub_prog);
	loam_engine_register(&steps_prog);
	const char *bases[2];
	int n = t_backends(bases);
	for (round_no = 0; round_no < n; round_no++) {
		base = bases[round_no];
		fprintf(stderr, "== backend %s\n", round_no ? "postgresql" : "sqlite");
		RUN(test_crash_resume_each_label);
		RUN(test_two_dispatchers);
		RUN(test_lease_expiry_hands_over);
		RUN(test_wake_runs_new_work_at_once);
	}
	t_cleanup_dir();
	return t_summary();
}
