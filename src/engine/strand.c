/*
 * Strand rows: creating them (inside a caller's transaction, so that the
 * API can create a host row and its strand atomically), raising signals,
 * and the status view the API shows.
 */
#include <string.h>

#include "engine/internal.h"
#include "lib/cleanup.h"
#include "lib/json.h"

json_t *loam_frame_new(const char *prog, const char *label, json_t *state)
{
	return json_pack("{s:s, s:s, s:o}", "prog", prog, "label", label, "state",
			 state ? state : json_object());
}

struct loam_db_val loam_deadline_val(const char *prog, const char *label, int64_t since)
{
	const struct loam_prog *p = loam_engine_find_prog(prog);
	const struct loam_label *l = p ? loam_engine_find_label(p, label) : NULL;
	if (!l || l->deadline_s <= 0)
		return DB_NULL;
	return DB_INT(since + (int64_t)l->deadline_s * 1000);
}

int loam_strand_insert(struct loam_db *db, const char *id, const char *prog, const char *label,
		       json_t *state, const char *parent_id, int64_t now, loam_err *err)
{
	cleanup_json json_t *stack = json_array();
	json_array_append_new(stack, loam_frame_new(prog, label, json_incref(state)));
	cleanup_free char *stack_s = loam_json_dump(stack);
	return loam_db_exec(
	    db,
	    "INSERT INTO strand (id, prog, label, stack, schedule, parent_id, label_since, "
	    "deadline_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
	    DB_ARGS(DB_TEXT(id), DB_TEXT(prog), DB_TEXT(label), DB_TEXT(stack_s), DB_INT(now),
		    parent_id ? DB_TEXT(parent_id) : DB_NULL, DB_INT(now),
		    loam_deadline_val(prog, label, now), DB_INT(now), DB_INT(now)),
	    NULL, err);
}

int loam_strand_create(struct loam_db *db, const char *prog, const char *label, json_t *frame,
		       const char *id, char out_id[27], loam_err *err)
{
	if (loam_check_prog_label(prog, label, err) < 0)
		return -1;
	if (frame && !json_is_object(frame))
		return loam_fail(err, LOAM_E_INVALID, "strand frame must be a JSON object");
	if (!label)
		label = loam_engine_find_prog(prog)->labels[0].name;
	char new_id[27];
	if (!id) {
		loam_db_new_id(new_id);
		id = new_id;
	}
	cleanup_json json_t *state = frame ? json_incref(frame) : json_object();
	if (loam_strand_insert(db, id, prog, label, state, NULL, loam_db_now_ms(), err) < 0)
		return loam_err_wrap(err, "create strand %s (%s)", id, prog);
	if (out_id)
		memcpy(out_id, id, 27);
	return 0;
}

int loam_strand_signal(struct loam_db *db, const char *strand_id, const char *signal, loam_err *err)
{
	int64_t now = loam_db_now_ms(), changed = 0;
	/* Making it due first also tells us whether the strand exists. */
	if (loam_db_exec(db, "UPDATE strand SET schedule = ? WHERE id = ? AND done = 0",
			 DB_ARGS(DB_INT(now), DB_TEXT(strand_id)), &changed, err) < 0)
		return -1;
	if (changed == 0)
		return loam_fail(err, LOAM_E_NOTFOUND, "no running strand %s", strand_id);
	return loam_db_exec(
	    db,
	    "INSERT INTO strand_signal (strand_id, name, created_at) VALUES (?, ?, ?) "
	    "ON CONFLICT DO NOTHING",
	    DB_ARGS(DB_TEXT(strand_id), DB_TEXT(signal), DB_INT(now)), NULL, err);
}

int loam_strand_wake(struct loam_db *db, const char *strand_id, loam_err *err)
{
	/* An unconditional write: a running label's apply sees the schedule it
	 * loaded has changed and keeps the strand due (dispatch.c). */
	if (loam_db_exec(db, "UPDATE strand SET schedule = ? WHERE id = ? AND done = 0",
			 DB_ARGS(DB_INT(loam_db_now_ms()), DB_TEXT(strand_id)), NULL, err) < 0)
		return -1;
	loam_engines_wake_all();
	return 0;
}

int loam_strand_live(struct loam_db *db, const char *strand_id, bool *live, loam_err *err)
{
	cleanup_rows struct loam_db_rows *rows = NULL;
	if (loam_db_query(db, "SELECT 1 FROM strand WHERE id = ? AND done = 0",
			  DB_ARGS(DB_TEXT(strand_id)), &rows, err) < 0)
		return -1;
	*live = loam_db_rows_count(rows) > 0;
	return 0;
}

static json_t *int_or_null(const struct loam_db_rows *r, size_t row, size_t col)
{
	return loam_db_rows_null(r, row, col) ? json_null()
					      : json_integer(loam_db_rows_int(r, row, col));
}

static json_t *text_or_null(const struct loam_db_rows *r, size_t row, size_t col)
{
	return loam_db_rows_null(r, row, col) ? json_null()
					      : json_string(loam_db_rows_text(r, row, col));
}

static json_t *parsed_or_null(const struct loam_db_rows *r, size_t row, size_t col)
{
	if (loam_db_rows_null(r, row, col))
		return json_null();
	const char *s = loam_db_rows_text(r, row, col);
	json_t *j = json_loads(s, JSON_DECODE_ANY, NULL);
	return j ? j : json_string(s);
}

json_t *loam_strand_signals(struct loam_db *db, const char *id, loam_err *err)
{
	cleanup_rows struct loam_db_rows *rows = NULL;
	if (loam_db_query(db, "SELECT name FROM strand_signal WHERE strand_id = ? ORDER BY name",
			  DB_ARGS(DB_TEXT(id)), &rows, err) < 0)
		return NULL;
	json_t *a = json_array();
	for (size_t i = 0; i < loam_db_rows_count(rows); i++)
		json_array_append_new(a, json_string(loam_db_rows_text(rows, i, 0)));
	return a;
}

#define STATUS_COLS                                                                                \
	"id, prog, label, stack, schedule, lease_owner, lease_expires_at, parent_id, done, "       \
	"exitval, tries, last_error, label_since, deadline_at, stuck, created_at, updated_at"

static json_t *status_row(struct loam_db *db, const struct loam_db_rows *r, size_t i, loam_err *err)
{
	cleanup_json json_t *stack = parsed_or_null(r, i, 3);
	json_t *signals = loam_strand_signals(db, loam_db_rows_text(r, i, 0), err);
	if (!signals)
		return NULL;
	return json_pack("{s:o, s:o, s:o, s:I, s:o, s:o, s:o, s:o, s:b, s:o, s:I, s:o, s:o, s:o, "
			 "s:b, s:o, s:o, s:o}",
			 "id", text_or_null(r, i, 0), "prog", text_or_null(r, i, 1), "label",
			 text_or_null(r, i, 2), "depth",
			 (json_int_t)(json_is_array(stack) ? json_array_size(stack) : 0),
			 "schedule", int_or_null(r, i, 4), "lease_owner", text_or_null(r, i, 5),
			 "lease_expires_at", int_or_null(r, i, 6), "parent_id",
			 text_or_null(r, i, 7), "done", (int)loam_db_rows_int(r, i, 8), "exitval",
			 parsed_or_null(r, i, 9), "tries", (json_int_t)loam_db_rows_int(r, i, 10),
			 "last_error", text_or_null(r, i, 11), "label_since", int_or_null(r, i, 12),
			 "deadline_at", int_or_null(r, i, 13), "stuck",
			 (int)loam_db_rows_int(r, i, 14), "signals", signals, "created_at",
			 int_or_null(r, i, 15), "updated_at", int_or_null(r, i, 16));
}

int loam_strand_status_json(struct loam_db *db, const char *id, json_t **out, loam_err *err)
{
	cleanup_rows struct loam_db_rows *rows = NULL;
	int rc =
	    id ? loam_db_query(db, "SELECT " STATUS_COLS " FROM strand WHERE id = ?",
			       DB_ARGS(DB_TEXT(id)), &rows, err)
	       : loam_db_query(db, "SELECT " STATUS_COLS " FROM strand ORDER BY created_at, id",
			       DB_NOARGS, &rows, err);
	if (rc < 0)
		return -1;
	if (id && loam_db_rows_count(rows) == 0)
		return loam_fail(err, LOAM_E_NOTFOUND, "no strand %s", id);
	cleanup_json json_t *all = json_array();
	for (size_t i = 0; i < loam_db_rows_count(rows); i++) {
		json_t *one = status_row(db, rows, i, err);
		if (!one)
			return -1;
		json_array_append_new(all, one);
	}
	*out = id ? json_incref(json_array_get(all, 0)) : loam_steal(&all);
	return 0;
}
