/*
 * Helpers shared by the engine tests: a fresh migrated database per case on
 * each backend (SQLite always, PostgreSQL when tests/with_pg.sh exported
 * LOAM_TEST_PG_URL), the tables tests record side effects in, and small
 * query helpers.
 */
#ifndef LOAM_ENGINE_T_H
#define LOAM_ENGINE_T_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "db/db.h"
#include "engine/engine.h"
#include "lib/cleanup.h"
#include "lib/json.h"
#include "lib/spawn.h"

#define T_TABLES                                                                                   \
	"CREATE TABLE t_effect (strand TEXT NOT NULL, label TEXT NOT NULL, PRIMARY KEY (strand, "  \
	"label));"                                                                                 \
	"CREATE TABLE t_exec (strand TEXT NOT NULL, label TEXT NOT NULL, n INTEGER NOT NULL, "     \
	"PRIMARY KEY (strand, label));"                                                            \
	"CREATE TABLE t_step (strand TEXT NOT NULL, label TEXT NOT NULL, owner TEXT NOT NULL, "    \
	"start_ms BIGINT NOT NULL, end_ms BIGINT NOT NULL)"

static char t_sqlite_dir[64];

/* The backends to run on: "sqlite:..." base and, maybe, PostgreSQL. */
static int t_backends(const char *bases[2])
{
	if (!t_sqlite_dir[0]) {
		snprintf(t_sqlite_dir, sizeof(t_sqlite_dir), "/tmp/loam-engine-test.XXXXXX");
		if (!mkdtemp(t_sqlite_dir))
			abort();
	}
	static char sqlite_base[128];
	snprintf(sqlite_base, sizeof(sqlite_base), "sqlite:%s/db", t_sqlite_dir);
	int n = 0;
	bases[n++] = sqlite_base;
	const char *pg = getenv("LOAM_TEST_PG_URL");
	if (pg && *pg)
		bases[n++] = pg;
	else
		fprintf(stderr, "note: LOAM_TEST_PG_URL unset, PostgreSQL cases skipped\n");
	return n;
}

static void t_cleanup_dir(void)
{
	if (!t_sqlite_dir[0])
		return;
	const char *argv[] = {"rm", "-rf", t_sqlite_dir, NULL};
	struct loam_spawn_result res = {0};
	struct loam_spawn_opts o = {.argv = argv};
	cleanup_err loam_err err = NULL;
	loam_spawn(&o, &res, &err);
	loam_spawn_result_free(&res);
}

/* A fresh migrated scratch database with the test tables; *url is freed by
 * the caller. Aborts on failure: nothing useful can be tested without it. */
static struct loam_db *t_fresh_db(const char *base, const char *tag, char **url)
{
	cleanup_err loam_err err = NULL;
	struct loam_db *db = NULL;
	if (loam_db_scratch_create(base, tag, url, &err) < 0 || loam_db_open(*url, &db, &err) < 0 ||
	    loam_db_migrate(db, &err) < 0 || loam_db_script(db, T_TABLES, &err) < 0) {
		fprintf(stderr, "test database %s: %s\n", base, loam_err_msg(err));
		abort();
	}
	return db;
}

static inline int64_t t_int(struct loam_db *db, const char *sql, const char *arg)
{
	cleanup_rows struct loam_db_rows *rows = NULL;
	cleanup_err loam_err err = NULL;
	int rc = arg ? loam_db_query(db, sql, DB_ARGS(DB_TEXT(arg)), &rows, &err)
		     : loam_db_query(db, sql, DB_NOARGS, &rows, &err);
	if (rc < 0 || loam_db_rows_count(rows) == 0) {
		fprintf(stderr, "%s: %s\n", sql, err ? loam_err_msg(err) : "no row");
		return -999;
	}
	return loam_db_rows_int(rows, 0, 0);
}

/* The text of a one-row one-column query, or "(none)"; the caller frees. */
static inline char *t_text(struct loam_db *db, const char *sql, const char *arg)
{
	cleanup_rows struct loam_db_rows *rows = NULL;
	cleanup_err loam_err err = NULL;
	if (loam_db_query(db, sql, DB_ARGS(DB_TEXT(arg)), &rows, &err) < 0 ||
	    loam_db_rows_count(rows) == 0)
		return strdup("(none)");
	return strdup(loam_db_rows_null(rows, 0, 0) ? "(null)" : loam_db_rows_text(rows, 0, 0));
}

static inline void t_exec_sql(struct loam_db *db, const char *sql, const char *arg)
{
	cleanup_err loam_err err = NULL;
	int rc = arg ? loam_db_exec(db, sql, DB_ARGS(DB_TEXT(arg)), NULL, &err)
		     : loam_db_exec(db, sql, DB_NOARGS, NULL, &err);
	if (rc < 0)
		fprintf(stderr, "%s: %s\n", sql, loam_err_msg(err));
}

/* Counts one execution of a label (not idempotent on purpose) and records
 * its effect (idempotent: one row however often it runs). */
static inline int t_count_exec(struct loam_db *db, const char *strand, const char *label,
			       loam_err *err)
{
	return loam_db_exec(db,
			    "INSERT INTO t_exec (strand, label, n) VALUES (?, ?, 1) ON CONFLICT "
			    "(strand, label) DO UPDATE SET n = t_exec.n + 1",
			    DB_ARGS(DB_TEXT(strand), DB_TEXT(label)), NULL, err);
}

static inline int t_record_effect(struct loam_db *db, const char *strand, const char *label,
				  loam_err *err)
{
	return loam_db_exec(
	    db, "INSERT INTO t_effect (strand, label) VALUES (?, ?) ON CONFLICT DO NOTHING",
	    DB_ARGS(DB_TEXT(strand), DB_TEXT(label)), NULL, err);
}

#endif
