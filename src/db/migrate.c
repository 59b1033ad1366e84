/*
 * Applies the numbered migrations in order and records each in
 * schema_version, one transaction per migration, so a second run is a
 * no-op and a failed migration leaves nothing half-applied. Two processes
 * starting at once are serialized: SQLite by BEGIN IMMEDIATE (the version
 * check and the DDL share one write transaction), PostgreSQL by a session
 * advisory lock held around the whole run (its concurrent CREATE TABLE IF
 * NOT EXISTS can otherwise fail on the catalog's unique index).
 * Afterwards the `arch` and `size` tables are refreshed from the arch
 * modules, so a migrated database knows every arch and can always take VMs.
 */
#include "db/migrate.h"

#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/db.h"
#include "db/records.h"
#include "lib/cleanup.h"
#include "lib/fs.h"
#include "lib/xalloc.h"

/* An arbitrary constant naming "loam migrations" among advisory locks. */
#define PG_MIGRATE_LOCK "7437301"

struct migration {
	int version;
	char *name;
	char *sql;
};

struct migration_set {
	struct migration *v;
	size_t n;
};

static void set_free(struct migration_set *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->v[i].name);
		free(s->v[i].sql);
	}
	free(s->v);
}

/* NNNN_something.sql → NNNN, else -1. */
static int version_of(const char *name)
{
	size_t n = strlen(name);
	if (n < 10 || strcmp(name + n - 4, ".sql") != 0 || name[4] != '_')
		return -1;
	for (int i = 0; i < 4; i++)
		if (!isdigit((unsigned char)name[i]))
			return -1;
	return atoi(name);
}

static void set_add(struct migration_set *s, const char *name, char *sql)
{
	s->v = xrealloc(s->v, (s->n + 1) * sizeof(*s->v));
	s->v[s->n].version = version_of(name);
	s->v[s->n].name = xstrdup(name);
	s->v[s->n].sql = sql;
	s->n++;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct migration *)a)->name, ((const struct migration *)b)->name);
}

static int load_dir(const char *dir, struct migration_set *s, loam_err *err)
{
	cleanup_dir DIR *d = opendir(dir);
	if (!d)
		return loam_fail_errno(err, "open migrations directory %s", dir);
	struct dirent *e;
	while ((e = readdir(d))) {
		if (version_of(e->d_name) < 0)
			continue;
		cleanup_free char *path = xasprintf("%s/%s", dir, e->d_name);
		char *sql = NULL;
		if (loam_read_file(path, 0, &sql, NULL, err) < 0)
			return -1;
		set_add(s, e->d_name, sql);
	}
	if (s->n > 1)
		qsort(s->v, s->n, sizeof(*s->v), by_name);
	return 0;
}

static void load_embedded(struct migration_set *s)
{
	for (const struct loam_migration *m = loam_embedded_migrations; m->name; m++)
		set_add(s, m->name, xstrdup(m->sql));
}

static int check_versions(const struct migration_set *s, loam_err *err)
{
	for (size_t i = 0; i < s->n; i++) {
		if (s->v[i].version <= 0)
			return loam_fail(err, LOAM_E_INTERNAL,
					 "migration %s: name must be NNNN_name.sql with NNNN > 0",
					 s->v[i].name);
		if (i > 0 && s->v[i].version == s->v[i - 1].version)
			return loam_fail(err, LOAM_E_INTERNAL,
					 "migrations %s and %s have the same number",
					 s->v[i - 1].name, s->v[i].name);
	}
	return 0;
}

static int create_version_table(struct loam_db *db, void *ctx, loam_err *err)
{
	(void)ctx;
	return loam_db_script(db,
			      "CREATE TABLE IF NOT EXISTS schema_version ("
			      " version INTEGER PRIMARY KEY,"
			      " name TEXT NOT NULL,"
			      " applied_at BIGINT NOT NULL)",
			      err);
}

static int apply_one(struct loam_db *db, void *ctx, loam_err *err)
{
	const struct migration *m = ctx;
	cleanup_rows struct loam_db_rows *rows = NULL;
	if (loam_db_query(db, "SELECT 1 FROM schema_version WHERE version = ?",
			  DB_ARGS(DB_INT(m->version)), &rows, err) < 0)
		return -1;
	if (loam_db_rows_count(rows) > 0)
		return 0;
	if (loam_db_script(db, m->sql, err) < 0)
		return loam_err_wrap(err, "migration %s", m->name);
	return loam_db_exec(
	    db, "INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)",
	    DB_ARGS(DB_INT(m->version), DB_TEXT(m->name), DB_INT(loam_db_now_ms())), NULL, err);
}

static int refuse_newer(struct loam_db *db, const struct migration_set *s, loam_err *err)
{
	cleanup_rows struct loam_db_rows *rows = NULL;
	if (loam_db_query(db, "SELECT max(version) FROM schema_version", DB_NOARGS, &rows, err) < 0)
		return -1;
	int64_t have = loam_db_rows_int(rows, 0, 0);
	int known = s->n ? s->v[s->n - 1].version : 0;
	if (have > known)
		return loam_fail(err, LOAM_E_CONFLICT,
				 "the database is at schema version %lld, newer than this loam "
				 "(%d); run a newer loamd",
				 (long long)have, known);
	return 0;
}

static int migrate_locked(struct loam_db *db, const struct migration_set *s, loam_err *err)
{
	if (loam_db_tx(db, create_version_table, NULL, err) < 0)
		return loam_err_wrap(err, "create schema_version");
	if (refuse_newer(db, s, err) < 0)
		return -1;
	for (size_t i = 0; i < s->n; i++)
		if (loam_db_tx(db, apply_one, &s->v[i], err) < 0)
			return -1;
	return 0;
}

int loam_db_migrate(struct loam_db *db, loam_err *err)
{
	struct migration_set s = {0};
	const char *dir = getenv("LOAM_MIGRATIONS_DIR");
	int rc = 0;
	if (dir && *dir)
		rc = load_dir(dir, &s, err);
	else
		load_embedded(&s);
	if (rc == 0)
		rc = check_versions(&s, err);
	bool pg = loam_db_backend_of(db) == LOAM_DB_POSTGRES;
	if (rc == 0 && pg)
		rc = loam_db_script(db, "SELECT pg_advisory_lock(" PG_MIGRATE_LOCK ")", err);
	if (rc == 0) {
		rc = migrate_locked(db, &s, err);
		if (pg)
			loam_db_script(db, "SELECT pg_advisory_unlock(" PG_MIGRATE_LOCK ")", NULL);
	}
	/* The arch and size tables mirror the arch modules; a trial schema
	 * from $LOAM_MIGRATIONS_DIR may not have them. */
	if (rc == 0 && !(dir && *dir))
		rc = loam_db_sync_sizes(db, err);
	set_free(&s);
	return rc < 0 ? loam_err_wrap(err, "migrate database") : 0;
}
