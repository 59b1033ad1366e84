/*
 * The dispatcher's core: lease one due strand, run its current label
 * outside any transaction, then apply the outcome in one transaction that
 * first proves we still hold the lease.
 *
 * Leasing. PostgreSQL picks the candidate with SELECT ... FOR UPDATE SKIP
 * LOCKED, so concurrent dispatchers pass over each other's rows instead of
 * queueing on them. SQLite has no row locks; there the candidate is taken
 * by a conditional UPDATE (... WHERE id = ? AND (lease_owner IS NULL OR
 * lease_expires_at < now)) inside BEGIN IMMEDIATE, which holds SQLite's
 * single write lock, so no other connection can read-then-lease the same
 * row in between: the conditional UPDATE is the equivalent of the row lock
 * and the `changes == 1` check is the equivalent of having won it. On both
 * backends the UPDATE's condition alone would keep two owners apart; the
 * PostgreSQL lock only spares the losers the wait.
 *
 * Every lease gets a fresh random token. The apply transaction starts with
 * UPDATE ... WHERE id = ? AND lease_token = ?; if that touches no row the
 * lease expired and another worker took the strand, so the outcome is
 * dropped (the label is idempotent and will run again there). That UPDATE
 * also takes the row lock on PostgreSQL, so checks that follow it (pending
 * signals, unfinished children) cannot race a writer that wakes us.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/internal.h"
#include "lib/cleanup.h"
#include "lib/fault.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/metrics.h"
#include "lib/xalloc.h"

#define REAP_POLL_MS 60000 /* a backstop only: finishing children wake the parent */

struct strand_run {
	struct loam_strand_ctx ctx; /* first: labels get &ctx */
	char id[27];
	char token[27];
	const char *owner;
	char *parent_id;
	json_t *stack;	 /* the whole stack; ctx.frame points into its top frame */
	json_t *top;	 /* borrowed: last frame */
	json_t *signals; /* raised when we loaded the strand */
	json_t *taken;	 /* names taken by the label */
	json_t *reap;	 /* child ids when the frame waits on buds */
	json_t *reaped;	 /* child exit values in bud order */
	int tries;
	int64_t schedule; /* when loaded: a different one at apply means a wake */
};

static void run_free(struct strand_run *r)
{
	free(r->parent_id);
	json_decref(r->stack);
	json_decref(r->signals);
	json_decref(r->taken);
	json_decref(r->reaped);
	json_decref(r->reap);
}

static void outcome_free(struct loam_outcome *o)
{
	json_decref(o->child_frame);
	json_decref(o->pop_value);
	json_decref(o->buds);
	o->child_frame = o->pop_value = o->buds = NULL;
}

bool loam_strand_take_signal(struct loam_strand_ctx *ctx, const char *signal)
{
	struct strand_run *r = (struct strand_run *)ctx;
	size_t i;
	json_t *v;
	json_array_foreach(r->taken, i, v)
	{
		if (strcmp(json_string_value(v), signal) == 0)
			return false;
	}
	json_array_foreach(r->signals, i, v)
	{
		if (strcmp(json_string_value(v), signal) == 0) {
			json_array_append_new(r->taken, json_string(signal));
			return true;
		}
	}
	return false;
}

/* ---- leasing ---- */

struct take {
	const char *owner;
	int lease_ms;
	char id[27];
	char token[27];
	bool took;
};

/* Leases are stamped and compared with the database's clock, so that
 * loamds whose clocks differ agree on when one runs out; schedules are
 * this process's clock, as the labels that nap set them. */
static int take_tx(struct loam_db *db, void *p, loam_err *err)
{
	struct take *t = p;
	int64_t now = loam_db_now_ms(), db_now = 0;
	t->took = false;
	if (loam_db_clock_ms(db, &db_now, err) < 0)
		return -1;
	const char *pick =
	    loam_db_backend_of(db) == LOAM_DB_POSTGRES
		? "SELECT id FROM strand WHERE done = 0 AND schedule <= ? AND (lease_owner IS "
		  "NULL OR lease_expires_at < ?) ORDER BY schedule LIMIT 1 FOR UPDATE SKIP "
		  "LOCKED"
		: "SELECT id FROM strand WHERE done = 0 AND schedule <= ? AND (lease_owner IS "
		  "NULL OR lease_expires_at < ?) ORDER BY schedule LIMIT 1";
	cleanup_rows struct loam_db_rows *rows = NULL;
	if (loam_db_query(db, pick, DB_ARGS(DB_INT(now), DB_INT(db_now)), &rows, err) < 0)
		return -1;
	if (loam_db_rows_count(rows) == 0)
		return 0;
	snprintf(t->id, sizeof(t->id), "%s", loam_db_rows_text(rows, 0, 0));
	loam_db_new_id(t->token);
	int64_t changed = 0;
	if (loam_db_exec(
		db,
		"UPDATE strand SET lease_owner = ?, lease_token = ?, lease_expires_at = ? "
		"WHERE id = ? AND done = 0 AND (lease_owner IS NULL OR lease_expires_at < ?)",
		DB_ARGS(DB_TEXT(t->owner), DB_TEXT(t->token), DB_INT(db_now + t->lease_ms),
			DB_TEXT(t->id), DB_INT(db_now)),
		&changed, err) < 0)
		return -1;
	t->took = changed == 1;
	return 0;
}

static int load_run(struct loam_db *db, struct strand_run *r, loam_err *err)
{
	cleanup_rows struct loam_db_rows *rows = NULL;
	if (loam_db_query(db, "SELECT stack, tries, parent_id, schedule FROM strand WHERE id = ?",
			  DB_ARGS(DB_TEXT(r->id)), &rows, err) < 0)
		return -1;
	if (loam_db_rows_count(rows) != 1)
		return loam_fail(err, LOAM_E_NOTFOUND, "strand %s vanished", r->id);
	const char *stack = loam_db_rows_text(rows, 0, 0);
	r->stack = loam_json_parse(stack, strlen(stack), "strand stack", err);
	if (!r->stack)
		return -1;
	if (!json_is_array(r->stack) || json_array_size(r->stack) == 0)
		return loam_fail(err, LOAM_E_INTERNAL, "strand %s has an empty stack", r->id);
	r->tries = (int)loam_db_rows_int(rows, 0, 1);
	if (!loam_db_rows_null(rows, 0, 2))
		r->parent_id = xstrdup(loam_db_rows_text(rows, 0, 2));
	r->schedule = loam_db_rows_int(rows, 0, 3);
	r->top = json_array_get(r->stack, json_array_size(r->stack) - 1);
	if (!json_is_object(json_object_get(r->top, "state")))
		json_object_set_new(r->top, "state", json_object());
	r->signals = loam_strand_signals(db, r->id, err);
	r->taken = json_array();
	return r->signals ? 0 : -1;
}

/* ---- applying outcomes ---- */

/* What the apply transaction writes; computed before it, so that a retried
 * transaction writes the same thing. */
struct plan {
	struct strand_run *run;
	bool failed;
	const char *error;
	bool done;
	char *exitval; /* JSON */
	char *stack;   /* JSON */
	const char *prog, *label;
	bool label_changed;
	int64_t schedule;
	json_t *buds;	/* [{id, prog, label, state}] to insert */
	bool reap_wait; /* children unfinished: no label ran */
	bool lease_lost;
	bool handoff_consumed; /* child_exit / reaped children used up */
};

static int lease_check(struct loam_db *db, struct plan *p, int64_t now, loam_err *err)
{
	int64_t changed = 0;
	if (loam_db_exec(db, "UPDATE strand SET updated_at = ? WHERE id = ? AND lease_token = ?",
			 DB_ARGS(DB_INT(now), DB_TEXT(p->run->id), DB_TEXT(p->run->token)),
			 &changed, err) < 0)
		return -1;
	p->lease_lost = changed != 1;
	return 0;
}

static int count_of(struct loam_db *db, const char *sql, const char *id, int64_t *n, loam_err *err)
{
	cleanup_rows struct loam_db_rows *rows = NULL;
	if (loam_db_query(db, sql, DB_ARGS(DB_TEXT(id)), &rows, err) < 0)
		return -1;
	*n = loam_db_rows_int(rows, 0, 0);
	return 0;
}

static int delete_taken_signals(struct loam_db *db, struct strand_run *r, loam_err *err)
{
	size_t i;
	json_t *v;
	json_array_foreach(r->taken, i, v)
	{
		if (loam_db_exec(db, "DELETE FROM strand_signal WHERE strand_id = ? AND name = ?",
				 DB_ARGS(DB_TEXT(r->id), DB_TEXT(json_string_value(v))), NULL,
				 err) < 0)
			return -1;
	}
	return 0;
}

static int delete_reaped(struct loam_db *db, struct strand_run *r, loam_err *err)
{
	size_t i;
	json_t *v;
	json_array_foreach(r->reap, i, v)
	{
		const char *cid = json_string_value(v);
		if (loam_db_exec(db, "DELETE FROM strand_signal WHERE strand_id = ?",
				 DB_ARGS(DB_TEXT(cid)), NULL, err) < 0 ||
		    loam_db_exec(db, "DELETE FROM strand WHERE id = ? AND parent_id = ?",
				 DB_ARGS(DB_TEXT(cid), DB_TEXT(r->id)), NULL, err) < 0)
			return -1;
	}
	return 0;
}

static int insert_buds(struct loam_db *db, struct plan *p, int64_t now, loam_err *err)
{
	size_t i;
	json_t *b;
	json_array_foreach(p->buds, i, b)
	{
		if (loam_strand_insert(db, json_string_value(json_object_get(b, "id")),
				       json_string_value(json_object_get(b, "prog")),
				       json_string_value(json_object_get(b, "label")),
				       json_object_get(b, "state"), p->run->id, now, err) < 0)
			return -1;
	}
	return 0;
}

static int write_failure(struct loam_db *db, struct plan *p, int64_t now, loam_err *err)
{
	int tries = p->run->tries + 1;
	return loam_db_exec(db,
			    "UPDATE strand SET tries = ?, last_error = ?, schedule = ?, "
			    "lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL, "
			    "updated_at = ? WHERE id = ?",
			    DB_ARGS(DB_INT(tries), DB_TEXT(p->error),
				    DB_INT(now + loam_engine_backoff_ms(tries)), DB_INT(now),
				    DB_TEXT(p->run->id)),
			    NULL, err);
}

static int write_reap_wait(struct loam_db *db, struct plan *p, int64_t now, loam_err *err)
{
	int64_t unfinished = 0;
	if (count_of(db, "SELECT count(*) FROM strand WHERE parent_id = ? AND done = 0", p->run->id,
		     &unfinished, err) < 0)
		return -1;
	int64_t at = unfinished ? now + REAP_POLL_MS : now;
	return loam_db_exec(
	    db,
	    "UPDATE strand SET schedule = ?, lease_owner = NULL, lease_token = NULL, "
	    "lease_expires_at = NULL WHERE id = ?",
	    DB_ARGS(DB_INT(at), DB_TEXT(p->run->id)), NULL, err);
}

static int write_done(struct loam_db *db, struct plan *p, int64_t now, loam_err *err)
{
	if (loam_db_exec(
		db,
		"UPDATE strand SET done = 1, exitval = ?, stack = ?, tries = 0, "
		"last_error = NULL, stuck = 0, deadline_at = NULL, lease_owner = NULL, "
		"lease_token = NULL, lease_expires_at = NULL, updated_at = ? WHERE id = ?",
		DB_ARGS(DB_TEXT(p->exitval), DB_TEXT(p->stack), DB_INT(now), DB_TEXT(p->run->id)),
		NULL, err) < 0)
		return -1;
	if (!p->run->parent_id)
		return 0;
	return loam_db_exec(db, "UPDATE strand SET schedule = ? WHERE id = ? AND done = 0",
			    DB_ARGS(DB_INT(now), DB_TEXT(p->run->parent_id)), NULL, err);
}

/* Whether the strand was signalled or woken (loam_strand_wake) while its
 * label ran: then its nap must not be slept through. */
static int woken_meanwhile(struct loam_db *db, struct plan *p, bool *woken, loam_err *err)
{
	cleanup_rows struct loam_db_rows *rows = NULL;
	if (loam_db_query(db,
			  "SELECT schedule, (SELECT count(*) FROM strand_signal WHERE strand_id = "
			  "strand.id) FROM strand WHERE id = ?",
			  DB_ARGS(DB_TEXT(p->run->id)), &rows, err) < 0)
		return -1;
	*woken = loam_db_rows_count(rows) == 1 &&
		 (loam_db_rows_int(rows, 0, 0) != p->run->schedule || loam_db_rows_int(rows, 0, 1));
	return 0;
}

static int write_next(struct loam_db *db, struct plan *p, int64_t now, loam_err *err)
{
	bool woken = false;
	if (woken_meanwhile(db, p, &woken, err) < 0)
		return -1;
	int64_t at = woken && p->schedule > now ? now : p->schedule;
	if (p->label_changed)
		return loam_db_exec(
		    db,
		    "UPDATE strand SET prog = ?, label = ?, stack = ?, schedule = ?, tries = 0, "
		    "last_error = NULL, label_since = ?, deadline_at = ?, stuck = 0, "
		    "lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL, "
		    "updated_at = ? WHERE id = ?",
		    DB_ARGS(DB_TEXT(p->prog), DB_TEXT(p->label), DB_TEXT(p->stack), DB_INT(at),
			    DB_INT(now), loam_deadline_val(p->prog, p->label, now), DB_INT(now),
			    DB_TEXT(p->run->id)),
		    NULL, err);
	return loam_db_exec(
	    db,
	    "UPDATE strand SET stack = ?, schedule = ?, tries = 0, last_error = NULL, "
	    "lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL, "
	    "updated_at = ? WHERE id = ?",
	    DB_ARGS(DB_TEXT(p->stack), DB_INT(at), DB_INT(now), DB_TEXT(p->run->id)), NULL, err);
}

static int apply_tx(struct loam_db *db, void *ctx, loam_err *err)
{
	struct plan *p = ctx;
	int64_t now = loam_db_now_ms();
	if (lease_check(db, p, now, err) < 0 || p->lease_lost)
		return p->lease_lost ? 0 : -1;
	if (p->failed)
		return write_failure(db, p, now, err);
	if (p->reap_wait)
		return write_reap_wait(db, p, now, err);
	if (delete_taken_signals(db, p->run, err) < 0 ||
	    (p->handoff_consumed && delete_reaped(db, p->run, err) < 0) ||
	    insert_buds(db, p, now, err) < 0)
		return -1;
	return p->done ? write_done(db, p, now, err) : write_next(db, p, now, err);
}

static int plan_push(struct plan *p, const char *cur_prog, struct loam_outcome *o, loam_err *err)
{
	struct strand_run *r = p->run;
	const struct loam_prog *child = loam_engine_find_prog(o->child_prog ? o->child_prog : "");
	if (!child)
		return loam_fail(err, LOAM_E_INVALID, "push: no prog named '%s'",
				 o->child_prog ? o->child_prog : "(null)");
	if (loam_check_prog_label(cur_prog, o->label, err) < 0)
		return -1;
	json_object_set_new(r->top, "label", json_string(o->label));
	json_array_append_new(r->stack, loam_frame_new(child->name, child->labels[0].name,
						       loam_steal(&o->child_frame)));
	p->label_changed = true;
	return 0;
}

static void plan_pop(struct plan *p, struct loam_outcome *o)
{
	struct strand_run *r = p->run;
	json_t *value = o->pop_value ? loam_steal(&o->pop_value) : json_null();
	json_array_remove(r->stack, json_array_size(r->stack) - 1);
	r->top = NULL;
	if (json_array_size(r->stack) == 0) {
		p->done = true;
		p->exitval = loam_json_dump(value);
		json_decref(value);
		return;
	}
	json_t *below = json_array_get(r->stack, json_array_size(r->stack) - 1);
	json_object_set_new(below, "child_exit", value);
	p->label_changed = true;
}

static int plan_bud(struct plan *p, const char *cur_prog, struct loam_outcome *o, loam_err *err)
{
	struct strand_run *r = p->run;
	if (!json_is_array(o->buds))
		return loam_fail(err, LOAM_E_INVALID, "bud: buds must be an array");
	if (loam_check_prog_label(cur_prog, o->label, err) < 0)
		return -1;
	p->buds = json_array();
	cleanup_json json_t *ids = json_array();
	size_t i;
	json_t *b;
	json_array_foreach(o->buds, i, b)
	{
		const char *prog = json_string_value(json_object_get(b, "prog"));
		const struct loam_prog *bp = loam_engine_find_prog(prog ? prog : "");
		json_t *state = json_object_get(b, "frame");
		if (!bp || (state && !json_is_object(state)))
			return loam_fail(err, LOAM_E_INVALID,
					 "bud %zu: needs a registered prog and an object frame", i);
		char id[27];
		loam_db_new_id(id);
		json_array_append_new(ids, json_string(id));
		json_array_append_new(p->buds,
				      json_pack("{s:s, s:s, s:s, s:o}", "id", id, "prog", bp->name,
						"label", bp->labels[0].name, "state",
						state ? json_incref(state) : json_object()));
	}
	json_object_set_new(r->top, "label", json_string(o->label));
	/* Woken by the last child to finish; the backstop poll covers none. */
	p->schedule += json_array_size(ids) ? REAP_POLL_MS : 0;
	json_object_set_new(r->top, "reap", loam_steal(&ids));
	p->label_changed = true;
	return 0;
}

static int plan_kind(struct plan *p, const char *cur_prog, struct loam_outcome *o, loam_err *err)
{
	switch (o->kind) {
	case LOAM_OUT_HOP:
		if (loam_check_prog_label(cur_prog, o->label, err) < 0)
			return -1;
		json_object_set_new(p->run->top, "label", json_string(o->label));
		p->label_changed = true; /* even to itself: a hop is progress */
		return 0;
	case LOAM_OUT_NAP:
		p->schedule += o->nap_ms;
		return 0;
	case LOAM_OUT_PUSH:
		return plan_push(p, cur_prog, o, err);
	case LOAM_OUT_POP:
		plan_pop(p, o);
		return 0;
	case LOAM_OUT_BUD:
		return plan_bud(p, cur_prog, o, err);
	default:
		return loam_fail(err, LOAM_E_INTERNAL, "unknown outcome kind %d", (int)o->kind);
	}
}

/* Turns the outcome into the stack and columns to write. Consumes o. */
static int plan_outcome(struct plan *p, const struct loam_label *cur, struct loam_outcome *o,
			loam_err *err)
{
	struct strand_run *r = p->run;
	const char *cur_prog = json_string_value(json_object_get(r->top, "prog"));
	/* What this label was handed (a child's exit value, reaped children)
	 * stays while it naps and is used up by any other outcome. */
	p->handoff_consumed = o->kind != LOAM_OUT_NAP;
	if (p->handoff_consumed) {
		json_object_del(r->top, "child_exit");
		json_object_del(r->top, "reap");
	}
	p->schedule = loam_db_now_ms();
	if ((o->kind == LOAM_OUT_HOP || o->kind == LOAM_OUT_PUSH || o->kind == LOAM_OUT_BUD) &&
	    (!o->label || loam_check_next(cur, cur_prog, o->label, err) < 0))
		return o->label ? -1
				: loam_fail(err, LOAM_E_INVALID, "%s: outcome without a label",
					    cur_prog);
	if (plan_kind(p, cur_prog, o, err) < 0)
		return -1;
	if (!p->done) {
		json_t *top = json_array_get(r->stack, json_array_size(r->stack) - 1);
		p->prog = json_string_value(json_object_get(top, "prog"));
		p->label = json_string_value(json_object_get(top, "label"));
		p->stack = loam_json_dump(r->stack);
	} else {
		p->stack = xstrdup("[]");
	}
	return 0;
}

static void plan_free(struct plan *p)
{
	free(p->exitval);
	free(p->stack);
	json_decref(p->buds);
}

static int apply(struct loam_db *db, struct plan *p, loam_err *err)
{
	if (loam_db_tx(db, apply_tx, p, err) < 0)
		return loam_err_wrap(err, "strand %s: apply outcome", p->run->id);
	if (p->lease_lost)
		log_warn("strand %s: lease lost while its label ran; outcome dropped", p->run->id);
	else if (p->done)
		log_info("strand %s: done", p->run->id);
	else if (p->label_changed)
		log_info("strand %s: %s.%s", p->run->id, p->prog, p->label);
	return 0;
}

/* ---- running one label ---- */

static void record_failure(struct loam_db *db, struct strand_run *r, const char *label,
			   const char *msg)
{
	log_warn("strand %s: label %s failed (try %d): %s", r->id, label, r->tries + 1, msg);
	const char *prog = r->top ? json_string_value(json_object_get(r->top, "prog")) : NULL;
	LOAM_METRIC_INC(LOAM_METRIC_STRAND_RETRIES, prog ? prog : "?", label);
	struct plan p = {.run = r, .failed = true, .error = msg};
	cleanup_err loam_err e = NULL;
	if (apply(db, &p, &e) < 0)
		log_error("%s", loam_err_msg(e));
}

/* Frames waiting on buds: collect children's exit values, or keep waiting. */
static int gather_reaped(struct loam_db *db, struct strand_run *r, bool *ready, loam_err *err)
{
	*ready = true;
	json_t *reap = json_object_get(r->top, "reap");
	if (!json_is_array(reap))
		return 0;
	r->reap = json_incref(reap);
	r->reaped = json_array();
	size_t i;
	json_t *v;
	json_array_foreach(r->reap, i, v)
	{
		cleanup_rows struct loam_db_rows *rows = NULL;
		if (loam_db_query(db, "SELECT done, exitval FROM strand WHERE id = ?",
				  DB_ARGS(DB_TEXT(json_string_value(v))), &rows, err) < 0)
			return -1;
		if (loam_db_rows_count(rows) == 0) {
			json_array_append_new(r->reaped, json_null());
			continue;
		}
		if (!loam_db_rows_int(rows, 0, 0)) {
			*ready = false;
			return 0;
		}
		const char *ev = loam_db_rows_text(rows, 0, 1);
		json_t *j = json_loads(ev, JSON_DECODE_ANY, NULL);
		json_array_append_new(r->reaped, j ? j : json_null());
	}
	return 0;
}

/*
 * Test builds only: the fault point "engine-label-done" (any label) and
 * "engine-label-done/PROG.LABEL" (that one) SIGKILL this process right
 * after a label ran and before its outcome is applied, the worst moment
 * for a crash (LOAM_FAULT, lib/fault.h; docs/crash.md).
 */
static void fault_after_label(const char *prog, const char *label)
{
#ifdef LOAM_TEST_BUILD
	char point[160];
	snprintf(point, sizeof(point), "engine-label-done/%s.%s", prog, label);
	loam_fault_point(point);
#else
	(void)prog;
	(void)label;
#endif
	loam_fault_point("engine-label-done");
}

/* The prog's before hook, then (unless it decided) the label itself. */
static int run_hook_and_label(const struct loam_prog *p, const struct loam_label *l,
			      struct loam_strand_ctx *ctx, struct loam_outcome *o, loam_err *err)
{
	ctx->idle_workers = loam_engines_label_begin();
	int pre = p->before ? p->before(ctx, o, err) : 0;
	int rc = pre < 0 ? -1 : pre > 0 ? 0 : l->fn(ctx, o, err);
	loam_engines_label_end();
	if (p->subject_free && ctx->subject)
		p->subject_free(ctx->subject);
	ctx->subject = NULL;
	return rc;
}

static int run_label(struct loam_db *db, struct strand_run *r, void *app, loam_err *err)
{
	const char *prog = json_string_value(json_object_get(r->top, "prog"));
	const char *label = json_string_value(json_object_get(r->top, "label"));
	const struct loam_prog *p = loam_engine_find_prog(prog ? prog : "");
	const struct loam_label *l = p ? loam_engine_find_label(p, label ? label : "") : NULL;
	if (!l) {
		cleanup_free char *msg = xasprintf("prog %s has no label %s in this loamd",
						   prog ? prog : "?", label ? label : "?");
		record_failure(db, r, label ? label : "?", msg);
		return 0;
	}
	r->ctx = (struct loam_strand_ctx){
	    .db = db,
	    .id = r->id,
	    .prog = p->name,
	    .label = l->name,
	    .frame = json_object_get(r->top, "state"),
	    .child_exit = r->reaped ? r->reaped : json_object_get(r->top, "child_exit"),
	    .tries = r->tries,
	    .app = app,
	    .owner = r->owner,
	};
	struct loam_outcome o = {0};
	cleanup_err loam_err lerr = NULL;
	int rc = run_hook_and_label(p, l, &r->ctx, &o, &lerr);
	fault_after_label(p->name, l->name);
	struct plan pl = {.run = r};
	if (rc == 0 && plan_outcome(&pl, l, &o, &lerr) == 0) {
		rc = apply(db, &pl, err);
	} else {
		record_failure(db, r, l->name, lerr ? loam_err_msg(lerr) : "label failed");
		rc = 0; /* the label's failure is the strand's, not the dispatcher's */
	}
	outcome_free(&o);
	plan_free(&pl);
	return rc < 0 ? -1 : 0;
}

int loam_engine_run_one(struct loam_db *db, const char *owner, int lease_ms, void *app,
			loam_err *err)
{
	struct take t = {.owner = owner,
			 .lease_ms = lease_ms > 0 ? lease_ms : LOAM_DEFAULT_LEASE_MS};
	if (loam_db_tx(db, take_tx, &t, err) < 0)
		return loam_err_wrap(err, "lease a due strand");
	if (!t.took)
		return 0;
	struct strand_run r = {.owner = owner};
	memcpy(r.id, t.id, sizeof(r.id));
	memcpy(r.token, t.token, sizeof(r.token));
	int rc = load_run(db, &r, err);
	if (rc < 0 && loam_err_kind_of(*err) != LOAM_E_UNAVAILABLE) {
		/* A row this loamd cannot read: say so on the strand and back off,
		 * rather than re-leasing it every lease period. */
		record_failure(db, &r, "(load)", loam_err_msg(*err));
		loam_err_free(err);
		run_free(&r);
		return 1;
	}
	bool ready = true;
	if (rc == 0)
		rc = gather_reaped(db, &r, &ready, err);
	if (rc == 0 && !ready) {
		struct plan p = {.run = &r, .reap_wait = true};
		rc = apply(db, &p, err);
	} else if (rc == 0) {
		rc = run_label(db, &r, app, err);
	}
	run_free(&r);
	return rc < 0 ? -1 : 1;
}

int loam_engine_run_due(struct loam_db *db, const char *owner, void *app, loam_err *err)
{
	int ran = 0;
	for (;;) {
		if (loam_engine_flag_stuck(db, err) < 0)
			return -1;
		int rc = loam_engine_run_one(db, owner, LOAM_DEFAULT_LEASE_MS, app, err);
		if (rc < 0)
			return -1;
		if (rc == 0)
			return ran;
		ran++;
	}
}

int loam_engine_flag_stuck(struct loam_db *db, loam_err *err)
{
	int64_t now = loam_db_now_ms();
	cleanup_rows struct loam_db_rows *rows = NULL;
	if (loam_db_query(
		db,
		"SELECT id, prog, label, label_since, deadline_at FROM strand WHERE stuck = 0 "
		"AND done = 0 AND deadline_at IS NOT NULL AND deadline_at < ?",
		DB_ARGS(DB_INT(now)), &rows, err) < 0)
		return -1;
	int flagged = 0;
	for (size_t i = 0; i < loam_db_rows_count(rows); i++) {
		int64_t changed = 0;
		if (loam_db_exec(db,
				 "UPDATE strand SET stuck = 1 WHERE id = ? AND stuck = 0 AND "
				 "deadline_at = ?",
				 DB_ARGS(DB_TEXT(loam_db_rows_text(rows, i, 0)),
					 DB_INT(loam_db_rows_int(rows, i, 4))),
				 &changed, err) < 0)
			return -1;
		if (changed != 1)
			continue;
		flagged++;
		log_warn("strand %s (%s) is stuck: label %s current for %lld s, past its deadline",
			 loam_db_rows_text(rows, i, 0), loam_db_rows_text(rows, i, 1),
			 loam_db_rows_text(rows, i, 2),
			 (long long)((now - loam_db_rows_int(rows, i, 3)) / 1000));
	}
	return flagged;
}
