/*
 * The operator's writes to hosts (host.h): adding one, the knobs of `loam
 * host set` and removing one with its strand. The API runs them inside its
 * transactions and tells the allocator afterwards.
 */
#include "db/host.h"

#include "lib/cleanup.h"
#include "lib/xalloc.h"

int loam_host_insert(struct loam_db *db, const struct loam_host_new *h, loam_err *err)
{
	return loam_db_exec(
	    db,
	    "INSERT INTO host (id, name, transport, address, ssh_port, ssh_user, "
	    "ssh_key_file, host_key, state_dir, location, created_at) "
	    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
	    DB_ARGS(DB_TEXT(h->id), DB_TEXT(h->name), DB_TEXT(h->local ? "local" : "ssh"),
		    loam_db_text_or_null(h->address), DB_INT(h->ssh_port), DB_TEXT(h->ssh_user),
		    loam_db_text_or_null(h->ssh_key_file), loam_db_text_or_null(h->host_key),
		    DB_TEXT(h->state_dir), DB_TEXT(h->location), DB_INT(loam_db_now_ms())),
	    NULL, err);
}

int loam_host_find_clash(struct loam_db *db, const char *name, bool local, char **other,
			 loam_err *err)
{
	cleanup_rows struct loam_db_rows *rows = NULL;
	if (loam_db_query(db,
			  "SELECT name FROM host WHERE name = ? OR (? = 1 AND transport = "
			  "'local') ORDER BY name = ? DESC",
			  DB_ARGS(DB_TEXT(name), DB_INT(local), DB_TEXT(name)), &rows, err) < 0)
		return -1;
	if (loam_db_rows_count(rows) == 0)
		return 0;
	*other = xstrdup(loam_db_rows_text(rows, 0, 0));
	return 1;
}

static int set_text(struct loam_db *db, const char *sql, const char *id, const char *value,
		    loam_err *err)
{
	return loam_db_exec(db, sql, DB_ARGS(DB_TEXT(value), DB_TEXT(id)), NULL, err);
}

int loam_host_set_state(struct loam_db *db, const char *id, enum loam_host_state state,
			loam_err *err)
{
	return set_text(db, "UPDATE host SET allocation_state = ? WHERE id = ?", id,
			loam_host_state_name(state), err);
}

int loam_host_set_location(struct loam_db *db, const char *id, const char *location, loam_err *err)
{
	return set_text(db, "UPDATE host SET location = ? WHERE id = ?", id, location, err);
}

int loam_host_set_emulation(struct loam_db *db, const char *id, const char *const *arches, size_t n,
			    loam_err *err)
{
	if (loam_db_exec(db, "DELETE FROM host_emulation WHERE host_id = ?", DB_ARGS(DB_TEXT(id)),
			 NULL, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (loam_db_exec(db, "INSERT INTO host_emulation (host_id, arch) VALUES (?, ?)",
				 DB_ARGS(DB_TEXT(id), DB_TEXT(arches[i])), NULL, err) < 0)
			return -1;
	return 0;
}

int loam_host_set_allow_tcg(struct loam_db *db, const char *id, bool allow, loam_err *err)
{
	return loam_db_exec(db,
			    "UPDATE host SET allow_tcg = ?, accel = CASE WHEN kvm = 1 THEN 'kvm' "
			    "WHEN ? = 1 THEN 'tcg' ELSE 'none' END WHERE id = ?",
			    DB_ARGS(DB_INT(allow), DB_INT(allow), DB_TEXT(id)), NULL, err);
}

int loam_host_set_overcommit(struct loam_db *db, const char *id, double factor, loam_err *err)
{
	return loam_db_exec(db, "UPDATE host SET cpu_overcommit = ? WHERE id = ?",
			    DB_ARGS(DB_REAL(factor), DB_TEXT(id)), NULL, err);
}

int loam_host_bump_generation(struct loam_db *db, const char *id, loam_err *err)
{
	return loam_db_exec(db, "UPDATE host SET generation = generation + 1 WHERE id = ?",
			    DB_ARGS(DB_TEXT(id)), NULL, err);
}

int loam_host_count_vms(struct loam_db *db, const char *id, int64_t *n, loam_err *err)
{
	cleanup_rows struct loam_db_rows *rows = NULL;
	if (loam_db_query(db, "SELECT count(*) FROM vm WHERE host_id = ?", DB_ARGS(DB_TEXT(id)),
			  &rows, err) < 0)
		return -1;
	*n = loam_db_rows_int(rows, 0, 0);
	return 0;
}

int loam_host_delete(struct loam_db *db, const char *id, loam_err *err)
{
	static const char *const sql[] = {
	    "DELETE FROM strand_signal WHERE strand_id = ?",
	    "DELETE FROM strand WHERE id = ?",
	    "DELETE FROM host WHERE id = ?",
	};
	for (size_t i = 0; i < sizeof(sql) / sizeof(*sql); i++)
		if (loam_db_exec(db, sql[i], DB_ARGS(DB_TEXT(id)), NULL, err) < 0)
			return -1;
	return 0;
}
