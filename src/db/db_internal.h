/*
 * What db.c shares with its two backends (db_sqlite.c, db_pg.c): the
 * connection struct with its backend vtable, and the in-memory result set
 * both backends fill, so that callers read rows the same way whatever the
 * database. Nothing outside src/db/ includes this file.
 */
#ifndef LOAM_DB_INTERNAL_H
#define LOAM_DB_INTERNAL_H

#include "db/db.h"

struct loam_db_cell {
	char *s;   /* text form; NULL when SQL NULL */
	int64_t i; /* numeric forms, valid when has_num */
	double d;
	bool has_num;
};

struct loam_db_rows {
	size_t ncols, nrows, cap;
	char **names;
	struct loam_db_cell *cells; /* nrows * ncols, row-major */
};

struct loam_db_ops {
	int (*exec)(struct loam_db *db, const char *sql, const struct loam_db_val *args,
		    size_t nargs, int64_t *changes, loam_err *err);
	int (*query)(struct loam_db *db, const char *sql, const struct loam_db_val *args,
		     size_t nargs, struct loam_db_rows **rows, loam_err *err);
	int (*begin)(struct loam_db *db, loam_err *err);
	int (*commit)(struct loam_db *db, loam_err *err);
	void (*rollback)(struct loam_db *db);
	/* Runs a script of several statements without parameters (migrations). */
	int (*exec_script)(struct loam_db *db, const char *sql, loam_err *err);
	void (*set_busy_timeout)(struct loam_db *db, int ms);
	void (*close)(struct loam_db *db);
	int (*check_file)(const struct loam_db *db, loam_err *err); /* NULL: nothing to check */
	const char *clock_sql; /* SELECT of the database's clock, unix ms */
};

struct loam_db {
	enum loam_db_backend backend;
	const struct loam_db_ops *ops;
	void *impl;
	int tx_depth;
	/* Set by a backend when the last failure was busy/locked/serialization,
	 * which loam_db_tx retries. */
	bool retryable;
};

int loam_db_sqlite_open(const char *path, struct loam_db *db, loam_err *err);

/* db_file.c: the SQLite file's mode, creation and identity. */
struct loam_db_file_id {
	uint64_t dev, ino;
};
/* Makes the file (0600) unless it exists or creating is forbidden (then
 * LOAM_E_UNAVAILABLE); tightens an existing file to owner-only. */
int loam_db_file_prepare(const char *path, loam_err *err);
bool loam_db_file_may_create(void);
int loam_db_file_identify(const char *path, struct loam_db_file_id *id, loam_err *err);
/* LOAM_E_UNAVAILABLE when path no longer names the file id. */
int loam_db_file_verify(const char *path, const struct loam_db_file_id *id, loam_err *err);
int loam_db_pg_open(const char *url, struct loam_db *db, loam_err *err);

/* Result-set building, shared by the backends. */
struct loam_db_rows *loam_db_rows_new(size_t ncols);
void loam_db_rows_set_name(struct loam_db_rows *rows, size_t col, const char *name);
/* Appends a row of NULL cells and returns it. */
struct loam_db_cell *loam_db_rows_append(struct loam_db_rows *rows);

/* "?" → "$1".."$n" outside quotes and comments; the caller frees. */
char *loam_db_pg_placeholders(const char *sql, size_t *count);

#endif
