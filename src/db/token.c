/*
 * API tokens (project.h): only their SHA-256 is stored, found by it on
 * every request (so a revoked token is refused at its next request), and
 * listed and deleted by id. Making the token itself is the API's (auth.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/project.h"
#include "lib/cleanup.h"
#include "lib/xalloc.h"

#define TOKEN_SELECT                                                                               \
	"SELECT t.id, t.scope, t.project_id, p.name, t.hint, t.created_at FROM api_token t "       \
	"LEFT JOIN project p ON p.id = t.project_id "

void loam_token_free(struct loam_token *t)
{
	free(t->scope);
	free(t->project_id);
	free(t->project);
	free(t->hint);
	*t = (struct loam_token){0};
}

void loam_tokens_free(struct loam_tokens *l)
{
	for (size_t i = 0; i < l->n; i++)
		loam_token_free(&l->v[i]);
	free(l->v);
	*l = (struct loam_tokens){0};
}

static void token_from_row(const struct loam_db_rows *r, size_t i, struct loam_token *t)
{
	*t = (struct loam_token){0};
	snprintf(t->id, sizeof(t->id), "%s", loam_db_rows_text(r, i, 0));
	t->scope = xstrdup(loam_db_rows_text(r, i, 1));
	t->project_id = loam_db_rows_dup(r, i, 2);
	t->project = loam_db_rows_dup(r, i, 3);
	t->hint = xstrdup(loam_db_rows_text(r, i, 4));
	t->created_at = loam_db_rows_int(r, i, 5);
}

int loam_token_insert(struct loam_db *db, const struct loam_token_new *t, loam_err *err)
{
	return loam_db_exec(
	    db,
	    "INSERT INTO api_token (id, scope, project_id, sha256, hint, created_at) "
	    "VALUES (?, ?, ?, ?, ?, ?)",
	    DB_ARGS(DB_TEXT(t->id), DB_TEXT(t->scope), loam_db_text_or_null(t->project_id),
		    DB_TEXT(t->sha256_hex), DB_TEXT(t->hint), DB_INT(loam_db_now_ms())),
	    NULL, err);
}

int loam_token_find(struct loam_db *db, const char *sha256_hex, struct loam_token *out,
		    loam_err *err)
{
	cleanup_rows struct loam_db_rows *r = NULL;
	if (loam_db_query(db, TOKEN_SELECT "WHERE t.sha256 = ?", DB_ARGS(DB_TEXT(sha256_hex)), &r,
			  err) < 0)
		return -1;
	if (loam_db_rows_count(r) == 0)
		return 0;
	token_from_row(r, 0, out);
	return 1;
}

int loam_token_list(struct loam_db *db, const struct loam_db_page *page, struct loam_tokens *out,
		    loam_err *err)
{
	cleanup_rows struct loam_db_rows *r = NULL;
	*out = (struct loam_tokens){0};
	if (loam_db_query(
		db, TOKEN_SELECT "WHERE t.id > ? ORDER BY t.id LIMIT ?",
		DB_ARGS(DB_TEXT(loam_db_page_after(page)), DB_INT(loam_db_page_limit(page))), &r,
		err) < 0)
		return -1;
	out->n = loam_db_rows_count(r);
	out->v = xcalloc(out->n ? out->n : 1, sizeof(*out->v));
	for (size_t i = 0; i < out->n; i++)
		token_from_row(r, i, &out->v[i]);
	return 0;
}

int loam_token_delete(struct loam_db *db, const char *id, bool *deleted, loam_err *err)
{
	int64_t changes = 0;
	if (loam_db_exec(db, "DELETE FROM api_token WHERE id = ?", DB_ARGS(DB_TEXT(id)), &changes,
			 err) < 0)
		return -1;
	*deleted = changes > 0;
	return 0;
}
