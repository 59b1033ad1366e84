/*
 * /v1/sizes (the per-arch size tables, from the arch recipes, with the
 * storage the size table records) and /v1/strands (the prog engine's
 * durable state machines, for watching progress and failures).
 */
#include "api/internal.h"

#include <string.h>

#include "arch/arch.h"
#include "lib/cleanup.h"
#include "lib/json.h"

static json_t *size_storage(struct loam_db *db, const char *arch, const char *name)
{
	cleanup_rows struct loam_db_rows *rows = NULL;
	cleanup_err loam_err err = NULL;
	if (loam_db_query(db, "SELECT storage_gib FROM size WHERE arch = ? AND name = ?",
			  DB_ARGS(DB_TEXT(arch), DB_TEXT(name)), &rows, &err) < 0 ||
	    loam_db_rows_count(rows) == 0)
		return json_null();
	return json_integer(loam_db_rows_int(rows, 0, 0));
}

int api_sizes_list(struct api_req *r, loam_err *err)
{
	(void)err;
	json_t *list = json_array();
	for (const struct loam_arch *const *a = loam_arches; *a; a++)
		for (const struct loam_size *s = (*a)->sizes; s->name; s++)
			json_array_append_new(
			    list, json_pack("{s:s, s:s, s:i, s:i, s:o}", "arch", (*a)->name, "name",
					    s->name, "vcpus", (int)s->vcpus, "memory_gib",
					    (int)s->memory_gib, "storage_gib",
					    size_storage(r->db, (*a)->name, s->name)));
	r->out = list;
	return 0;
}

static json_t *opt_int(const struct loam_db_rows *rows, size_t i, const char *col)
{
	return api_null(rows, i, col) ? json_null() : json_integer(api_int(rows, i, col));
}

json_t *api_strand_view(const struct loam_db_rows *rows, size_t i)
{
	json_t *v = json_object();
	json_object_set_new(v, "id", api_json_text(rows, i, "id"));
	json_object_set_new(v, "prog", api_json_text(rows, i, "prog"));
	json_object_set_new(v, "label", api_json_text(rows, i, "label"));
	json_object_set_new(v, "done", json_boolean(api_int(rows, i, "done")));
	json_object_set_new(v, "tries", json_integer(api_int(rows, i, "tries")));
	json_object_set_new(v, "last_error", api_json_text(rows, i, "last_error"));
	json_object_set_new(v, "stuck", json_boolean(api_int(rows, i, "stuck")));
	json_object_set_new(v, "schedule", opt_int(rows, i, "schedule"));
	json_object_set_new(v, "lease_owner", api_json_text(rows, i, "lease_owner"));
	json_object_set_new(v, "lease_expires_at", opt_int(rows, i, "lease_expires_at"));
	json_object_set_new(v, "parent_id", api_json_text(rows, i, "parent_id"));
	const char *exitval = api_text(rows, i, "exitval");
	cleanup_err loam_err err = NULL;
	json_t *ev = *exitval ? loam_json_parse(exitval, strlen(exitval), "exitval", &err) : NULL;
	json_object_set_new(v, "exitval", ev ? ev : json_null());
	json_object_set_new(v, "created_at", opt_int(rows, i, "created_at"));
	json_object_set_new(v, "updated_at", opt_int(rows, i, "updated_at"));
	return v;
}

int api_strands_list(struct api_req *r, loam_err *err)
{
	json_t *list = json_array();
	r->out = list;
	if (!api_table_exists(r->db, "strand"))
		return 0;
	cleanup_rows struct loam_db_rows *rows = NULL;
	if (loam_db_query(r->db, "SELECT " API_STRAND_COLS " FROM strand ORDER BY created_at, id",
			  DB_NOARGS, &rows, err) < 0)
		return -1;
	for (size_t i = 0; i < loam_db_rows_count(rows); i++)
		json_array_append_new(list, api_strand_view(rows, i));
	return 0;
}

int api_strands_show(struct api_req *r, loam_err *err)
{
	const char *id = r->seg[1];
	if (strlen(id) != 26 || strspn(id, "abcdefghijklmnopqrstuvwxyz0123456789") != 26)
		return loam_fail(err, LOAM_E_INVALID,
				 "a strand id is 26 lower-case letters and digits");
	cleanup_rows struct loam_db_rows *rows = NULL;
	if (api_table_exists(r->db, "strand") &&
	    loam_db_query(r->db, "SELECT " API_STRAND_COLS " FROM strand WHERE id = ?",
			  DB_ARGS(DB_TEXT(id)), &rows, err) < 0)
		return -1;
	if (!rows || loam_db_rows_count(rows) == 0)
		return loam_fail(err, LOAM_E_NOTFOUND, "no strand %s; see: GET /v1/strands", id);
	r->out = api_strand_view(rows, 0);
	return 0;
}
