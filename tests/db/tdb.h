/*
 * Test helpers for code that needs a database: each case runs once per
 * backend, SQLite always and PostgreSQL when $LOAM_TEST_PG_URL is set (the
 * with_pg.sh wrapper starts a throwaway cluster and sets it). Every case
 * gets a fresh, empty database: a temp file, or a scratch schema.
 */
#ifndef LOAM_TDB_H
#define LOAM_TDB_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "db/db.h"

struct tdb {
	char *url;
	char dir[64];
};

static inline const char *tdb_backend_name(int b)
{
	return b == 0 ? "sqlite" : "postgres";
}

/* Backends to run: 1 (SQLite) or 2 (also PostgreSQL). */
static inline int tdb_backends(void)
{
	const char *pg = getenv("LOAM_TEST_PG_URL");
	return pg && *pg ? 2 : 1;
}

/* The first backend to run: with_pg.sh sets LOAM_TEST_PG_ONLY so that the
 * *_pg test runs do not repeat the SQLite cases of the plain runs. */
static inline int tdb_first_backend(void)
{
	const char *only = getenv("LOAM_TEST_PG_ONLY");
	return only && *only == '1' && tdb_backends() == 2 ? 1 : 0;
}

/* A fresh database URL for backend b; aborts the test program on failure. */
static inline void tdb_fresh(struct tdb *t, int b, const char *tag)
{
	static unsigned seq;
	memset(t, 0, sizeof(*t));
	loam_err err = NULL;
	if (b == 0) {
		snprintf(t->dir, sizeof(t->dir), "/tmp/loam-tdb.XXXXXX");
		if (!mkdtemp(t->dir))
			abort();
		if (asprintf(&t->url, "sqlite:%s/%s.db", t->dir, tag) < 0)
			abort();
		return;
	}
	char stag[64];
	snprintf(stag, sizeof(stag), "%s_%d_%u", tag, (int)getpid(), seq++);
	if (loam_db_scratch_create(getenv("LOAM_TEST_PG_URL"), stag, &t->url, &err) < 0) {
		fprintf(stderr, "tdb: %s\n", loam_err_msg(err));
		abort();
	}
}

static inline struct loam_db *tdb_open(const struct tdb *t)
{
	struct loam_db *db = NULL;
	loam_err err = NULL;
	if (loam_db_open(t->url, &db, &err) < 0) {
		fprintf(stderr, "tdb: open %s: %s\n", t->url, loam_err_msg(err));
		abort();
	}
	return db;
}

static inline struct loam_db *tdb_open_migrated(const struct tdb *t)
{
	struct loam_db *db = tdb_open(t);
	loam_err err = NULL;
	if (loam_db_migrate(db, &err) < 0) {
		fprintf(stderr, "tdb: migrate: %s\n", loam_err_msg(err));
		abort();
	}
	return db;
}

static inline void tdb_done(struct tdb *t)
{
	if (t->dir[0]) {
		const char *path = t->url + strlen("sqlite:");
		const char *sfx[] = {"", "-wal", "-shm"};
		for (size_t i = 0; i < 3; i++) {
			char p[256];
			snprintf(p, sizeof(p), "%s%s", path, sfx[i]);
			unlink(p);
		}
		rmdir(t->dir);
	} else if (t->url) {
		loam_err err = NULL;
		if (loam_db_scratch_drop(t->url, &err) < 0) {
			fprintf(stderr, "tdb: drop: %s\n", loam_err_msg(err));
			loam_err_free(&err);
		}
	}
	free(t->url);
	t->url = NULL;
}

#endif
