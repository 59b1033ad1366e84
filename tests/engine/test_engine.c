/*
 * The prog engine in one process, on SQLite and PostgreSQL: each outcome
 * kind (hop, nap, push/pop, bud/reap), failures with backoff, the stuck
 * flag, signals, leases held by others or lost mid-label, creating strands
 * inside a caller's transaction, the status view, a wake that lands while
 * a label runs (its nap is cut short), the before hook, and hops to labels
 * a label does not declare.
 */
#include <stdint.h>

#include "engine_t.h"
#include "lib/log.h"
#include "lib/spawn.h"
#include "t.h"

static const char *base; /* the backend of the current round */
static int round_no;

static struct loam_db *fresh(const char *name, char **url)
{
	char tag[48];
	snprintf(tag, sizeof(tag), "%s_%d_%d", name, round_no, (int)getpid());
	return t_fresh_db(base, tag, url);
}

static int run_due(struct loam_db *db)
{
	cleanup_err loam_err err = NULL;
	int n = loam_engine_run_due(db, "test", NULL, &err);
	if (n < 0)
		fprintf(stderr, "run_due: %s\n", loam_err_msg(err));
	return n;
}

static char *make(struct loam_db *db, const char *prog, json_t *frame)
{
	char id[27];
	cleanup_err loam_err err = NULL;
	if (loam_strand_create(db, prog, NULL, frame, NULL, id, &err) < 0) {
		fprintf(stderr, "create %s: %s\n", prog, loam_err_msg(err));
		return strdup("none");
	}
	return strdup(id);
}

static json_t *status(struct loam_db *db, const char *id)
{
	json_t *j = NULL;
	cleanup_err loam_err err = NULL;
	if (loam_strand_status_json(db, id, &j, &err) < 0)
		fprintf(stderr, "status: %s\n", loam_err_msg(err));
	return j ? j : json_object();
}

static void make_due(struct loam_db *db, const char *id)
{
	t_exec_sql(db, "UPDATE strand SET schedule = 0 WHERE id = ?", id);
}

/* ---- progs ---- */

static int hop_start(struct loam_strand_ctx *c, struct loam_outcome *o, loam_err *e)
{
	(void)e;
	json_object_set_new(c->frame, "visited", json_string(c->label));
	*o = loam_hop("finish");
	return 0;
}

static int hop_finish(struct loam_strand_ctx *c, struct loam_outcome *o, loam_err *e)
{
	(void)e;
	/* The state written by the previous label arrives here. */
	*o = loam_pop(json_pack("{s:O}", "saw", json_object_get(c->frame, "visited")));
	return 0;
}

static const struct loam_label hop_labels[] = {
    {"start", hop_start, 0, NULL}, {"finish", hop_finish, 0, NULL}, {0}};
static const struct loam_prog hop_prog = {"t_hop", hop_labels, NULL, NULL};

static int nap_start(struct loam_strand_ctx *c, struct loam_outcome *o, loam_err *e)
{
	(void)e;
	json_int_t n = json_integer_value(json_object_get(c->frame, "naps"));
	if (n >= 1) {
		*o = loam_pop(json_integer(n));
		return 0;
	}
	json_object_set_new(c->frame, "naps", json_integer(n + 1));
	*o = loam_nap(3600 * 1000);
	return 0;
}

static const struct loam_label nap_labels[] = {{"start", nap_start, 0, NULL}, {0}};
static const struct loam_prog nap_prog = {"t_nap", nap_labels, NULL, NULL};

static int child_start(struct loam_strand_ctx *c, struct loam_outcome *o, loam_err *e)
{
	(void)e;
	*o = loam_pop(json_integer(10 * json_integer_value(json_object_get(c->frame, "x"))));
	return 0;
}

static const struct loam_label child_labels[] = {{"start", child_start, 0, NULL}, {0}};
static const struct loam_prog child_prog = {"t_child", child_labels, NULL, NULL};

static int push_start(struct loam_strand_ctx *c, struct loam_outcome *o, loam_err *e)
{
	(void)c;
	(void)e;
	*o = loam_push("t_child", json_pack("{s:i}", "x", 4), "after");
	return 0;
}

static int push_after(struct loam_strand_ctx *c, struct loam_outcome *o, loam_err *e)
{
	if (!json_is_integer(c->child_exit))
		return loam_fail(e, LOAM_E_INTERNAL, "no child exit value");
	*o = loam_pop(json_pack("{s:O, s:O}", "child", c->child_exit, "mine",
				json_object_get(c->frame, "mine")));
	return 0;
}

static const struct loam_label push_labels[] = {
    {"start", push_start, 0, NULL}, {"after", push_after, 0, NULL}, {0}};
static const struct loam_prog push_prog = {"t_push", push_labels, NULL, NULL};

static int bud_start(struct loam_strand_ctx *c, struct loam_outcome *o, loam_err *e)
{
	(void)c;
	(void)e;
	json_t *buds = json_array();
	for (int x = 1; x <= 3; x++)
		json_array_append_new(
		    buds, json_pack("{s:s, s:{s:i}}", "prog", "t_child", "frame", "x", x));
	json_array_append_new(buds, json_pack("{s:s}", "prog", "t_child")); /* no frame: {} */
	*o = loam_bud(buds, "reaped");
	return 0;
}

static int bud_reaped(struct loam_strand_ctx *c, struct loam_outcome *o, loam_err *e)
{
	if (!json_is_array(c->child_exit))
		return loam_fail(e, LOAM_E_INTERNAL, "no reaped values");
	*o = loam_pop(json_incref(c->child_exit));
	return 0;
}

static const struct loam_label bud_labels[] = {
    {"start", bud_start, 0, NULL}, {"reaped", bud_reaped, 0, NULL}, {0}};
static const struct loam_prog bud_prog = {"t_bud", bud_labels, NULL, NULL};

/* Fails until the frame says how many failures to stage are done. */
static int flaky_start(struct loam_strand_ctx *c, struct loam_outcome *o, loam_err *e)
{
	json_object_set_new(c->frame, "discarded", json_true()); /* dropped with the failure */
	if (c->tries < 2)
		return loam_fail(e, LOAM_E_UNAVAILABLE, "flaky failure number %d", c->tries + 1);
	*o = loam_pop(json_integer(c->tries));
	return 0;
}

static const struct loam_label flaky_labels[] = {{"start", flaky_start, 5, NULL}, {0}};
static const struct loam_prog flaky_prog = {"t_flaky", flaky_labels, NULL, NULL};

static int loop_start(struct loam_strand_ctx *c, struct loam_outcome *o, loam_err *e)
{
	bool fail_once = json_is_true(json_object_get(c->frame, "fail_once"));
	if (loam_strand_take_signal(c, "stop")) {
		/* Taking a signal and then failing must not lose the signal. */
		if (fail_once && c->tries == 0)
			return loam_fail(e, LOAM_E_IO, "failed after taking the signal");
		*o = loam_pop(json_string("stopped"));
		return 0;
	}
	*o = loam_nap(3600 * 1000);
	return 0;
}

static const struct loam_label loop_labels[] = {{"start", loop_start, 0, NULL}, {0}};
static const struct loam_prog loop_prog = {"t_loop", loop_labels, NULL, NULL};

/* Steals its own lease mid-label, as a worker elsewhere would after
 * expiry: the outcome must then be dropped. */
static int thief_start(struct loam_strand_ctx *c, struct loam_outcome *o, loam_err *e)
{
	if (loam_db_exec(
		c->db,
		"UPDATE strand SET lease_owner = 'other', lease_token = 'other' WHERE id = ?",
		DB_ARGS(DB_TEXT(c->id)), NULL, e) < 0)
		return -1;
	*o = loam_hop("never");
	return 0;
}

static int thief_never(struct loam_strand_ctx *c, struct loam_outcome *o, loam_err *e)
{
	(void)c;
	(void)e;
	*o = loam_pop(NULL);
	return 0;
}

static const struct loam_label thief_labels[] = {
    {"start", thief_start, 0, NULL}, {"never", thief_never, 0, NULL}, {0}};
static const struct loam_prog thief_prog = {"t_thief", thief_labels, NULL, NULL};

static int badhop_start(struct loam_strand_ctx *c, struct loam_outcome *o, loam_err *e)
{
	(void)e;
	*o = loam_hop(json_is_true(json_object_get(c->frame, "null")) ? NULL : "nowhere");
	return 0;
}

static const struct loam_label badhop_labels[] = {{"start", badhop_start, 0, NULL}, {0}};
static const struct loam_prog badhop_prog = {"t_badhop", badhop_labels, NULL, NULL};

/* ---- cases ---- */

static void test_hop_and_pop(void)
{
	cleanup_free char *url = NULL;
	struct loam_db *db = fresh("hop", &url);
	cleanup_free char *id = make(db, "t_hop", NULL);
	CHECK_INT(run_due(db), 2);
	cleanup_json json_t *st = status(db, id);
	CHECK(json_is_true(json_object_get(st, "done")));
	CHECK_STR(json_string_value(json_object_get(json_object_get(st, "exitval"), "saw")),
		  "start");
	CHECK(json_is_null(json_object_get(st, "lease_owner")));
	CHECK_INT(run_due(db), 0); /* finished strands never run again */
	loam_db_close(db);
}

static void test_nap_keeps_state(void)
{
	cleanup_free char *url = NULL;
	struct loam_db *db = fresh("nap", &url);
	cleanup_free char *id = make(db, "t_nap", NULL);
	int64_t before = loam_db_now_ms();
	CHECK_INT(run_due(db), 1);
	int64_t sched = t_int(db, "SELECT schedule FROM strand WHERE id = ?", id);
	CHECK(sched >= before + 3600 * 1000);
	CHECK_INT(t_int(db, "SELECT done FROM strand WHERE id = ?", id), 0);
	CHECK_INT(run_due(db), 0); /* not due yet */
	make_due(db, id);
	CHECK_INT(run_due(db), 1);
	cleanup_json json_t *st = status(db, id);
	CHECK_INT(json_integer_value(json_object_get(st, "exitval")), 1);
	loam_db_close(db);
}

static void test_push_and_pop(void)
{
	cleanup_free char *url = NULL;
	struct loam_db *db = fresh("push", &url);
	cleanup_json json_t *frame = json_pack("{s:s}", "mine", "kept");
	cleanup_free char *id = make(db, "t_push", frame);
	cleanup_err loam_err err = NULL;
	/* One step at a time, to see the child's frame on this strand's stack. */
	CHECK_INT(loam_engine_run_one(db, "test", 30000, NULL, &err), 1);
	cleanup_json json_t *mid = status(db, id);
	CHECK_INT(json_integer_value(json_object_get(mid, "depth")), 2);
	CHECK_STR(json_string_value(json_object_get(mid, "prog")), "t_child");
	CHECK_INT(run_due(db), 2);
	cleanup_json json_t *st = status(db, id);
	CHECK_INT(json_integer_value(json_object_get(json_object_get(st, "exitval"), "child")), 40);
	CHECK_STR(json_string_value(json_object_get(json_object_get(st, "exitval"), "mine")),
		  "kept");
	CHECK_INT(t_int(db, "SELECT count(*) FROM strand", NULL), 1); /* same strand */
	loam_db_close(db);
}

static void test_bud_and_reap(void)
{
	cleanup_free char *url = NULL;
	struct loam_db *db = fresh("bud", &url);
	cleanup_free char *id = make(db, "t_bud", NULL);
	cleanup_err loam_err err = NULL;
	CHECK_INT(loam_engine_run_one(db, "test", 30000, NULL, &err), 1);
	CHECK_INT(t_int(db, "SELECT count(*) FROM strand WHERE parent_id = ?", id), 4);
	/* Four children, then the woken parent (which may also have been
	 * leased early, between children, and gone back to waiting). */
	CHECK(run_due(db) >= 5);
	cleanup_json json_t *st = status(db, id);
	json_t *ev = json_object_get(st, "exitval");
	CHECK_INT(json_array_size(ev), 4);
	CHECK_INT(json_integer_value(json_array_get(ev, 0)), 10);
	CHECK_INT(json_integer_value(json_array_get(ev, 1)), 20);
	CHECK_INT(json_integer_value(json_array_get(ev, 2)), 30);
	CHECK(json_is_integer(json_array_get(ev, 3)));
	CHECK_INT(json_integer_value(json_array_get(ev, 3)), 0);
	/* Reaped children are gone. */
	CHECK_INT(t_int(db, "SELECT count(*) FROM strand WHERE parent_id = ?", id), 0);
	loam_db_close(db);
}

static void test_parent_waits_for_all_children(void)
{
	cleanup_free char *url = NULL;
	struct loam_db *db = fresh("reapwait", &url);
	cleanup_free char *id = make(db, "t_bud", NULL);
	cleanup_err loam_err err = NULL;
	CHECK_INT(loam_engine_run_one(db, "test", 30000, NULL, &err), 1);
	/* Hold one child back; the others finish, the parent must not resume. */
	t_exec_sql(db,
		   "UPDATE strand SET schedule = 9000000000000 WHERE id = (SELECT min(id) FROM "
		   "strand WHERE parent_id = ?)",
		   id);
	make_due(db, id);
	run_due(db);
	CHECK_INT(t_int(db, "SELECT done FROM strand WHERE id = ?", id), 0);
	cleanup_json json_t *st = status(db, id);
	CHECK_STR(json_string_value(json_object_get(st, "label")), "reaped");
	CHECK(t_int(db, "SELECT schedule FROM strand WHERE id = ?", id) > loam_db_now_ms());
	t_exec_sql(db, "UPDATE strand SET schedule = 0 WHERE parent_id = ?", id);
	CHECK_INT(run_due(db), 2);
	CHECK_INT(t_int(db, "SELECT done FROM strand WHERE id = ?", id), 1);
	loam_db_close(db);
}

static void test_failure_backoff(void)
{
	cleanup_free char *url = NULL;
	struct loam_db *db = fresh("flaky", &url);
	cleanup_free char *id = make(db, "t_flaky", NULL);
	for (int attempt = 1; attempt <= 2; attempt++) {
		int64_t before = loam_db_now_ms();
		CHECK_INT(run_due(db), 1);
		int64_t after = loam_db_now_ms();
		int64_t sched = t_int(db, "SELECT schedule FROM strand WHERE id = ?", id);
		CHECK_INT(t_int(db, "SELECT tries FROM strand WHERE id = ?", id), attempt);
		CHECK(sched >= before + loam_engine_backoff_ms(attempt));
		CHECK(sched <= after + loam_engine_backoff_ms(attempt));
		cleanup_free char *msg =
		    t_text(db, "SELECT last_error FROM strand WHERE id = ?", id);
		CHECK_CONTAINS(msg, "flaky failure number");
		cleanup_free char *stack = t_text(db, "SELECT stack FROM strand WHERE id = ?", id);
		CHECK(!strstr(stack, "discarded"));
		make_due(db, id);
	}
	CHECK_INT(run_due(db), 1);
	cleanup_json json_t *st = status(db, id);
	CHECK_INT(json_integer_value(json_object_get(st, "exitval")), 2);
	CHECK_INT(json_integer_value(json_object_get(st, "tries")), 0);
	CHECK(json_is_null(json_object_get(st, "last_error")));
	loam_db_close(db);
}

static void test_backoff_curve(void)
{
	CHECK_INT(loam_engine_backoff_ms(1), 1000);
	CHECK_INT(loam_engine_backoff_ms(2), 2000);
	CHECK_INT(loam_engine_backoff_ms(6), 32000);
	CHECK_INT(loam_engine_backoff_ms(7), 60000);
	CHECK_INT(loam_engine_backoff_ms(1000), 60000);
}

static void test_stuck_deadline(void)
{
	cleanup_free char *url = NULL;
	struct loam_db *db = fresh("stuck", &url);
	cleanup_free char *id = make(db, "t_flaky", NULL);
	int64_t since = t_int(db, "SELECT label_since FROM strand WHERE id = ?", id);
	CHECK_INT(t_int(db, "SELECT deadline_at FROM strand WHERE id = ?", id), since + 5000);
	cleanup_err loam_err err = NULL;
	CHECK_INT(loam_engine_flag_stuck(db, &err), 0);
	/* Five seconds at this label have passed (moved back, not waited for). */
	t_exec_sql(
	    db,
	    "UPDATE strand SET label_since = label_since - 6000, deadline_at = deadline_at - "
	    "6000 WHERE id = ?",
	    id);
	CHECK_INT(loam_engine_flag_stuck(db, &err), 1);
	CHECK_INT(loam_engine_flag_stuck(db, &err), 0); /* flagged (and logged) once */
	cleanup_json json_t *st = status(db, id);
	CHECK(json_is_true(json_object_get(st, "stuck")));
	/* Progress clears the flag. */
	t_exec_sql(db, "UPDATE strand SET tries = 2 WHERE id = ?", id);
	CHECK_INT(run_due(db), 1);
	CHECK_INT(t_int(db, "SELECT stuck FROM strand WHERE id = ?", id), 0);
	loam_db_close(db);
}

static void test_signals(void)
{
	cleanup_free char *url = NULL;
	struct loam_db *db = fresh("signal", &url);
	cleanup_json json_t *frame = json_pack("{s:b}", "fail_once", 1);
	cleanup_free char *id = make(db, "t_loop", frame);
	cleanup_err loam_err err = NULL;
	CHECK_INT(loam_strand_signal(db, "nosuchstrand", "stop", &err), -1);
	CHECK_INT(loam_err_kind_of(err), LOAM_E_NOTFOUND);
	CHECK_INT(run_due(db), 1); /* no signal yet: naps for an hour */
	CHECK_INT(run_due(db), 0);
	CHECK_INT(loam_strand_signal(db, id, "stop", &err), 0);
	CHECK_INT(loam_strand_signal(db, id, "stop", &err), 0); /* raising twice is one signal */
	CHECK_INT(run_due(db), 1);				/* woken; takes it, then fails */
	CHECK_INT(t_int(db, "SELECT count(*) FROM strand_signal WHERE strand_id = ?", id), 1);
	make_due(db, id);
	CHECK_INT(run_due(db), 1);
	cleanup_json json_t *st = status(db, id);
	CHECK_STR(json_string_value(json_object_get(st, "exitval")), "stopped");
	CHECK_INT(t_int(db, "SELECT count(*) FROM strand_signal WHERE strand_id = ?", id), 0);
	loam_db_close(db);
}

static void test_lease_held_elsewhere(void)
{
	cleanup_free char *url = NULL;
	struct loam_db *db = fresh("lease", &url);
	cleanup_free char *id = make(db, "t_hop", NULL);
	t_exec_sql(db,
		   "UPDATE strand SET lease_owner = 'other/0', lease_token = 'x', lease_expires_at "
		   "= 9000000000000 WHERE id = ?",
		   id);
	CHECK_INT(run_due(db), 0);
	t_exec_sql(db, "UPDATE strand SET lease_expires_at = 1 WHERE id = ?", id); /* expired */
	CHECK_INT(run_due(db), 2);
	loam_db_close(db);
}

static void test_lease_lost_drops_outcome(void)
{
	cleanup_free char *url = NULL;
	struct loam_db *db = fresh("thief", &url);
	cleanup_free char *id = make(db, "t_thief", NULL);
	cleanup_err loam_err err = NULL;
	CHECK_INT(loam_engine_run_one(db, "test", 30000, NULL, &err), 1);
	cleanup_free char *label = t_text(db, "SELECT label FROM strand WHERE id = ?", id);
	CHECK_STR(label, "start");
	cleanup_free char *owner = t_text(db, "SELECT lease_owner FROM strand WHERE id = ?", id);
	CHECK_STR(owner, "other");
	loam_db_close(db);
}

struct create_in_tx {
	const char *id;
	bool fail_after;
};

static int create_tx(struct loam_db *db, void *p, loam_err *err)
{
	struct create_in_tx *c = p;
	if (loam_strand_create(db, "t_hop", "finish", NULL, c->id, NULL, err) < 0)
		return -1;
	if (c->fail_after)
		return loam_fail(err, LOAM_E_CONFLICT, "caller changed its mind");
	return 0;
}

static void test_create_in_caller_tx(void)
{
	cleanup_free char *url = NULL;
	struct loam_db *db = fresh("create", &url);
	cleanup_err loam_err err = NULL;
	struct create_in_tx c = {.id = "aaaaaaaaaaaaaaaaaaaaaaaaaa", .fail_after = true};
	CHECK_INT(loam_db_tx(db, create_tx, &c, &err), -1);
	CHECK_INT(t_int(db, "SELECT count(*) FROM strand", NULL), 0); /* rolled back */
	loam_err_free(&err);
	c.fail_after = false;
	CHECK_INT(loam_db_tx(db, create_tx, &c, &err), 0);
	cleanup_free char *label = t_text(db, "SELECT label FROM strand WHERE id = ?", c.id);
	CHECK_STR(label, "finish");
	CHECK_INT(loam_strand_create(db, "t_hop", NULL, NULL, c.id, NULL, &err), -1);
	CHECK_INT(loam_err_kind_of(err), LOAM_E_CONFLICT); /* one strand per id */
	loam_err_free(&err);
	CHECK_INT(loam_strand_create(db, "nosuchprog", NULL, NULL, NULL, NULL, &err), -1);
	CHECK_INT(loam_err_kind_of(err), LOAM_E_INVALID);
	CHECK_INT(loam_strand_create(db, "t_hop", "nosuchlabel", NULL, NULL, NULL, &err), -1);
	CHECK_INT(loam_err_kind_of(err), LOAM_E_INVALID);
	CHECK_INT(t_int(db, "SELECT count(*) FROM strand", NULL), 1);
	loam_db_close(db);
}

static void test_unreadable_strand_backs_off(void)
{
	cleanup_free char *url = NULL;
	struct loam_db *db = fresh("corrupt", &url);
	cleanup_free char *id = make(db, "t_hop", NULL);
	t_exec_sql(db, "UPDATE strand SET stack = '{not json' WHERE id = ?", id);
	CHECK_INT(run_due(db), 1);
	CHECK_INT(run_due(db), 0); /* backing off, not spinning */
	cleanup_free char *last = t_text(db, "SELECT last_error FROM strand WHERE id = ?", id);
	CHECK_CONTAINS(last, "strand stack");
	CHECK_INT(t_int(db, "SELECT tries FROM strand WHERE id = ?", id), 1);
	CHECK_INT(t_int(db, "SELECT count(*) FROM strand WHERE id = ? AND lease_owner IS NULL", id),
		  1);
	loam_db_close(db);
}

static void test_bad_outcome_is_a_failure(void)
{
	cleanup_free char *url = NULL;
	struct loam_db *db = fresh("badhop", &url);
	cleanup_free char *id = make(db, "t_badhop", NULL);
	cleanup_json json_t *frame = json_pack("{s:b}", "null", 1);
	cleanup_free char *id2 = make(db, "t_badhop", frame);
	CHECK_INT(run_due(db), 2);
	cleanup_free char *last = t_text(db, "SELECT last_error FROM strand WHERE id = ?", id);
	cleanup_free char *last2 = t_text(db, "SELECT last_error FROM strand WHERE id = ?", id2);
	cleanup_free char *label = t_text(db, "SELECT label FROM strand WHERE id = ?", id);
	CHECK_CONTAINS(last, "no label 'nowhere'");
	CHECK_CONTAINS(last2, "without a label");
	CHECK_STR(label, "start");
	CHECK_INT(t_int(db, "SELECT tries FROM strand WHERE id = ?", id), 1);
	loam_db_close(db);
}

static void test_status_list(void)
{
	cleanup_free char *url = NULL;
	struct loam_db *db = fresh("status", &url);
	cleanup_free char *a = make(db, "t_hop", NULL);
	cleanup_free char *b = make(db, "t_nap", NULL);
	json_t *all = NULL;
	cleanup_err loam_err err = NULL;
	CHECK_INT(loam_strand_status_json(db, NULL, &all, &err), 0);
	CHECK_INT(json_array_size(all), 2);
	const char *first = json_string_value(json_object_get(json_array_get(all, 0), "id"));
	const char *second = json_string_value(json_object_get(json_array_get(all, 1), "id"));
	CHECK((!strcmp(first, a) && !strcmp(second, b)) ||
	      (!strcmp(first, b) && !strcmp(second, a)));
	json_decref(all);
	CHECK_INT(loam_strand_status_json(db, "missing", &all, &err), -1);
	CHECK_INT(loam_err_kind_of(err), LOAM_E_NOTFOUND);
	loam_db_close(db);
}

/* ---- woken while its label runs: the nap is cut short ---- */

static const char *woken_url; /* the current round's database */

static int woken_start(struct loam_strand_ctx *c, struct loam_outcome *o, loam_err *e)
{
	if (json_is_true(json_object_get(c->frame, "woken"))) {
		*o = loam_pop(json_string("woken"));
		return 0;
	}
	/* a watcher elsewhere learns what this label waits for, meanwhile */
	struct loam_db *other = NULL;
	if (loam_db_open(woken_url, &other, e) < 0)
		return -1;
	int rc = loam_strand_wake(other, c->id, e);
	loam_db_close(other);
	json_object_set_new(c->frame, "woken", json_true());
	*o = loam_nap(3600 * 1000);
	return rc;
}

static const struct loam_label woken_labels[] = {{"start", woken_start, 0, NULL}, {0}};
static const struct loam_prog woken_prog = {"t_woken", woken_labels, NULL, NULL};

/* ---- before hook: loads a subject, may decide for the label ---- */

static int before_frees;

static void before_free(void *subject)
{
	before_frees++;
	free(subject);
}

static int before_hook(struct loam_strand_ctx *c, struct loam_outcome *o, loam_err *e)
{
	const char *mode = json_string_value(json_object_get(c->frame, "mode")) ?: "";
	c->subject = strdup(c->label);
	if (strcmp(mode, "fail") == 0)
		return loam_fail(e, LOAM_E_IO, "the subject cannot be loaded");
	if (strcmp(mode, "skip") == 0 && strcmp(c->label, "a") == 0) {
		*o = loam_hop("b");
		return 1;
	}
	return 0;
}

static int before_a(struct loam_strand_ctx *c, struct loam_outcome *o, loam_err *e)
{
	(void)e;
	json_object_set_new(c->frame, "a_saw", json_string(c->subject));
	*o = loam_hop("b");
	return 0;
}

static int before_b(struct loam_strand_ctx *c, struct loam_outcome *o, loam_err *e)
{
	(void)e;
	*o = loam_pop(json_pack("{s:O, s:s}", "a_saw",
				json_object_get(c->frame, "a_saw") ?: json_null(), "b_saw",
				(const char *)c->subject));
	return 0;
}

static const struct loam_label before_labels[] = {
    {"a", before_a, 0, LOAM_NEXT("b")}, {"b", before_b, 0, LOAM_NEXT_NONE}, {0}};
static const struct loam_prog before_prog = {"t_before", before_labels, before_hook, before_free};

/* ---- a hop the label does not declare ---- */

static int undeclared_start(struct loam_strand_ctx *c, struct loam_outcome *o, loam_err *e)
{
	(void)c;
	(void)e;
	*o = loam_hop("other");
	return 0;
}

static const struct loam_label undeclared_labels[] = {
    {"start", undeclared_start, 0, LOAM_NEXT("declared")},
    {"declared", undeclared_start, 0, LOAM_NEXT_NONE},
    {"other", undeclared_start, 0, LOAM_NEXT_NONE},
    {0}};
static const struct loam_prog undeclared_prog = {"t_undeclared", undeclared_labels, NULL, NULL};

static void test_wake_cuts_a_nap_short(void)
{
	cleanup_free char *url = NULL;
	struct loam_db *db = fresh("woken", &url);
	woken_url = url;
	cleanup_free char *id = make(db, "t_woken", NULL);
	/* woken while it ran: due again at once, not in an hour */
	CHECK_INT(run_due(db), 2);
	CHECK_INT(t_int(db, "SELECT done FROM strand WHERE id = ?", id), 1);
	cleanup_free char *ev = t_text(db, "SELECT exitval FROM strand WHERE id = ?", id);
	CHECK_STR(ev, "\"woken\"");
	/* a napping strand is made due; a finished one is left alone */
	cleanup_free char *n = make(db, "t_nap", NULL);
	CHECK_INT(run_due(db), 1);
	CHECK_INT(run_due(db), 0);
	cleanup_err loam_err err = NULL;
	CHECK_INT(loam_strand_wake(db, n, &err), 0);
	CHECK_INT(run_due(db), 1);
	CHECK_INT(loam_strand_wake(db, id, &err), 0);
	CHECK_INT(run_due(db), 0);
	bool live = true;
	CHECK_INT(loam_strand_live(db, id, &live, &err), 0);
	CHECK(!live);
	CHECK_INT(loam_strand_live(db, "nosuchstrand", &live, &err), 0);
	CHECK(!live);
	loam_db_close(db);
}

static void test_before_hook(void)
{
	cleanup_free char *url = NULL;
	struct loam_db *db = fresh("before", &url);
	before_frees = 0;
	cleanup_free char *plain = make(db, "t_before", NULL);
	cleanup_json json_t *skip = json_pack("{s:s}", "mode", "skip");
	cleanup_free char *skipped = make(db, "t_before", skip);
	cleanup_json json_t *fail = json_pack("{s:s}", "mode", "fail");
	cleanup_free char *failing = make(db, "t_before", fail);
	CHECK_INT(run_due(db), 5); /* a, b; hook's hop, b; the failing one once */
	cleanup_free char *ev = t_text(db, "SELECT exitval FROM strand WHERE id = ?", plain);
	CHECK_CONTAINS(ev, "\"a_saw\":\"a\"");
	CHECK_CONTAINS(ev, "\"b_saw\":\"b\"");
	cleanup_free char *ev2 = t_text(db, "SELECT exitval FROM strand WHERE id = ?", skipped);
	CHECK_CONTAINS(ev2, "\"a_saw\":null"); /* the hook decided; label a did not run */
	cleanup_free char *last = t_text(db, "SELECT last_error FROM strand WHERE id = ?", failing);
	CHECK_CONTAINS(last, "cannot be loaded");
	CHECK_INT(t_int(db, "SELECT tries FROM strand WHERE id = ?", failing), 1);
	CHECK_INT(before_frees, 5); /* every subject freed, whatever happened */
	loam_db_close(db);
}

static void test_undeclared_hop_is_a_failure(void)
{
	cleanup_free char *url = NULL;
	struct loam_db *db = fresh("undeclared", &url);
	cleanup_free char *id = make(db, "t_undeclared", NULL);
	CHECK_INT(run_due(db), 1);
	cleanup_free char *last = t_text(db, "SELECT last_error FROM strand WHERE id = ?", id);
	cleanup_free char *label = t_text(db, "SELECT label FROM strand WHERE id = ?", id);
	CHECK_CONTAINS(last, "does not declare");
	CHECK_STR(label, "start");
	loam_db_close(db);
}

int main(void)
{
	loam_log_init("test_engine", false, LOAM_LOG_WARN);
	loam_engine_register(&hop_prog);
	loam_engine_register(&nap_prog);
	loam_engine_register(&child_prog);
	loam_engine_register(&push_prog);
	loam_engine_register(&bud_prog);
	loam_engine_register(&flaky_prog);
	loam_engine_register(&loop_prog);
	loam_engine_register(&thief_prog);
	loam_engine_register(&badhop_prog);
	loam_engine_register(&woken_prog);
	loam_engine_register(&before_prog);
	loam_engine_register(&undeclared_prog);
	RUN(test_backoff_curve);
	const char *bases[2];
	int n = t_backends(bases);
	for (round_no = 0; round_no < n; round_no++) {
		base = bases[round_no];
		fprintf(stderr, "== backend %s\n", round_no ? "postgresql" : "sqlite");
		RUN(test_hop_and_pop);
		RUN(test_nap_keeps_state);
		RUN(test_push_and_pop);
		RUN(test_bud_and_reap);
		RUN(test_parent_waits_for_all_children);
		RUN(test_failure_backoff);
		RUN(test_stuck_deadline);
		RUN(test_signals);
		RUN(test_lease_held_elsewhere);
		RUN(test_lease_lost_drops_outcome);
		RUN(test_create_in_caller_tx);
		RUN(test_unreadable_strand_backs_off);
		RUN(test_bad_outcome_is_a_failure);
		RUN(test_status_list);
		RUN(test_wake_cuts_a_nap_short);
		RUN(test_before_hook);
		RUN(test_undeclared_hop_is_a_failure);
	}
	t_cleanup_dir();
	return t_summary();
}
