/*
 * The API's view of strands (strand_view.h): one column list, read the same
 * way whether a strand is listed alone or joined into a host's row.
 */
#include "db/strand_view.h"

#include <stdlib.h>

#include "lib/cleanup.h"
#include "lib/xalloc.h"

void loam_strand_view_read(const struct loam_db_rows *r, size_t i, size_t c,
			   struct loam_strand_view *s)
{
	*s = (struct loam_strand_view){
	    .id = loam_db_rows_dup(r, i, c),
	    .prog = loam_db_rows_dup(r, i, c + 1),
	    .label = loam_db_rows_dup(r, i, c + 2),
	    .done = loam_db_rows_int(r, i, c + 3) != 0,
	    .tries = loam_db_rows_int(r, i, c + 4),
	    .last_error = loam_db_rows_dup(r, i, c + 5),
	    .stuck = loam_db_rows_int(r, i, c + 6) != 0,
	    .schedule = loam_db_rows_int(r, i, c + 7),
	    .lease_owner = loam_db_rows_dup(r, i, c + 8),
	    .lease_expires_at = loam_db_rows_int(r, i, c + 9),
	    .has_lease_expiry = !loam_db_rows_null(r, i, c + 9),
	    .parent_id = loam_db_rows_dup(r, i, c + 10),
	    .exitval = loam_db_rows_dup(r, i, c + 11),
	    .created_at = loam_db_rows_int(r, i, c + 12),
	    .updated_at = loam_db_rows_int(r, i, c + 13),
	};
}

void loam_strand_view_free(struct loam_strand_view *s)
{
	free(s->id);
	free(s->prog);
	free(s->label);
	free(s->last_error);
	free(s->lease_owner);
	free(s->parent_id);
	free(s->exitval);
	*s = (struct loam_strand_view){0};
}

void loam_strand_views_free(struct loam_strand_views *l)
{
	for (size_t i = 0; i < l->n; i++)
		loam_strand_view_free(&l->v[i]);
	free(l->v);
	*l = (struct loam_strand_views){0};
}

int loam_strand_view_get(struct loam_db *db, const char *id, struct loam_strand_view *out,
			 loam_err *err)
{
	cleanup_rows struct loam_db_rows *rows = NULL;
	if (loam_db_query(db, "SELECT " LOAM_STRAND_VIEW_COLS " FROM strand s WHERE s.id = ?",
			  DB_ARGS(DB_TEXT(id)), &rows, err) < 0)
		return -1;
	if (loam_db_rows_count(rows) == 0)
		return 0;
	loam_strand_view_read(rows, 0, 0, out);
	return 1;
}

int loam_strand_view_list(struct loam_db *db, const struct loam_db_page *page,
			  struct loam_strand_views *out, loam_err *err)
{
	cleanup_rows struct loam_db_rows *rows = NULL;
	*out = (struct loam_strand_views){0};
	if (loam_db_query(
		db,
		"SELECT " LOAM_STRAND_VIEW_COLS
		" FROM strand s WHERE s.id > ? ORDER BY s.id LIMIT ?",
		DB_ARGS(DB_TEXT(loam_db_page_after(page)), DB_INT(loam_db_page_limit(page))), &rows,
		err) < 0)
		return -1;
	out->n = loam_db_rows_count(rows);
	out->v = xcalloc(out->n, sizeof(*out->v));
	for (size_t i = 0; i < out->n; i++)
		loam_strand_view_read(rows, i, 0, &out->v[i]);
	return 0;
}

int loam_strand_is_live(struct loam_db *db, const char *id, bool *live, loam_err *err)
{
	cleanup_rows struct loam_db_rows *rows = NULL;
	if (loam_db_query(db, "SELECT 1 FROM strand WHERE id = ? AND done = 0",
			  DB_ARGS(DB_TEXT(id)), &rows, err) < 0)
		return -1;
	*live = loam_db_rows_count(rows) > 0;
	return 0;
}
