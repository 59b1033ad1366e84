/*
 * The PostgreSQL backend over libpq. SQL arrives with '?' placeholders and
 * is rewritten to $1..$n; parameters are sent as text, so the server infers
 * their types from context exactly as for literals. Transactions run at
 * SERIALIZABLE: code written against SQLite's one-writer model stays
 * correct, and the rare serialization failure (40001) or deadlock (40P01)
 * is retried by loam_db_tx.
 */
#include "db/db_internal.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/cleanup.h"
#include "lib/xalloc.h"

#define MAX_PARAMS 32767 /* the protocol's limit is 65535 */

static PGconn *C(struct loam_db *db)
{
	return db->impl;
}

static void quiet_notices(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

static bool retryable_state(const char *state)
{
	return state && (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0 ||
			 strcmp(state, "55P03") == 0);
}

static int fail_result(struct loam_db *db, PGresult *res, const char *sql, loam_err *err)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *msg = res ? PQresultErrorMessage(res) : PQerrorMessage(C(db));
	cleanup_free char *clean = xstrdup(msg && *msg ? msg : "unknown error");
	clean[strcspn(clean, "\n")] = '\0';
	if (retryable_state(state)) {
		db->retryable = true;
		return loam_fail(err, LOAM_E_UNAVAILABLE, "database is locked (%s: %s)", state,
				 clean);
	}
	if (state && strcmp(state, "53100") == 0)
		return loam_fail(err, LOAM_E_NOSPACE,
				 "the PostgreSQL server's disk is full (%s); nothing was changed: "
				 "free space there and retry",
				 clean);
	if (PQstatus(C(db)) != CONNECTION_OK)
		return loam_fail(err, LOAM_E_UNAVAILABLE, "database connection lost: %s", clean);
	enum loam_err_kind kind = LOAM_E_INTERNAL;
	if (state && strcmp(state, "23505") == 0)
		kind = LOAM_E_CONFLICT;
	else if (state && strncmp(state, "23", 2) == 0)
		kind = LOAM_E_INVALID;
	return loam_fail(err, kind, "%s (%.80s)", clean, sql);
}

/* Text forms of the parameters; ints and reals are formatted into buf. */
static void params_as_text(const struct loam_db_val *args, size_t nargs, const char **values,
			   char (*buf)[32])
{
	for (size_t i = 0; i < nargs; i++) {
		switch (args[i].type) {
		case LOAM_DB_NULL:
			values[i] = NULL;
			break;
		case LOAM_DB_INT:
			snprintf(buf[i], sizeof(buf[i]), "%lld", (long long)args[i].i);
			values[i] = buf[i];
			break;
		case LOAM_DB_REAL:
			snprintf(buf[i], sizeof(buf[i]), "%.17g", args[i].d);
			values[i] = buf[i];
			break;
		default:
			values[i] = args[i].s;
		}
	}
}

static PGresult *run(struct loam_db *db, const char *sql, const struct loam_db_val *args,
		     size_t nargs, loam_err *err)
{
	size_t want = 0;
	cleanup_free char *pg_sql = loam_db_pg_placeholders(sql, &want);
	if (want != nargs || nargs > MAX_PARAMS) {
		loam_fail(err, LOAM_E_INTERNAL, "statement has %zu parameters, got %zu (%.80s)",
			  want, nargs, sql);
		return NULL;
	}
	cleanup_free const char **values = xcalloc(nargs + 1, sizeof(*values));
	cleanup_free char(*buf)[32] = xcalloc(nargs + 1, sizeof(*buf));
	params_as_text(args, nargs, values, buf);
	PGresult *res = PQexecParams(C(db), pg_sql, (int)nargs, NULL, values, NULL, NULL, 0);
	ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		fail_result(db, res, sql, err);
		PQclear(res);
		return NULL;
	}
	return res;
}

static int pg_exec(struct loam_db *db, const char *sql, const struct loam_db_val *args,
		   size_t nargs, int64_t *changes, loam_err *err)
{
	PGresult *res = run(db, sql, args, nargs, err);
	if (!res)
		return -1;
	if (changes) {
		const char *n = PQcmdTuples(res);
		*changes = n && *n ? strtoll(n, NULL, 10) : 0;
	}
	PQclear(res);
	return 0;
}

static int pg_query(struct loam_db *db, const char *sql, const struct loam_db_val *args,
		    size_t nargs, struct loam_db_rows **rows, loam_err *err)
{
	PGresult *res = run(db, sql, args, nargs, err);
	if (!res)
		return -1;
	int ncols = PQnfields(res), nrows = PQntuples(res);
	struct loam_db_rows *r = loam_db_rows_new((size_t)ncols);
	for (int c = 0; c < ncols; c++)
		loam_db_rows_set_name(r, (size_t)c, PQfname(res, c));
	for (int i = 0; i < nrows; i++) {
		struct loam_db_cell *row = loam_db_rows_append(r);
		for (int c = 0; c < ncols; c++) {
			if (PQgetisnull(res, i, c))
				continue;
			row[c].s = xstrdup(PQgetvalue(res, i, c));
		}
	}
	PQclear(res);
	*rows = r;
	return 0;
}

static int pg_script(struct loam_db *db, const char *sql, loam_err *err)
{
	PGresult *res = PQexec(C(db), sql);
	ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	int rc = 0;
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
		rc = fail_result(db, res, "script", err);
	PQclear(res);
	return rc;
}

static int pg_begin(struct loam_db *db, loam_err *err)
{
	return pg_script(db, "BEGIN ISOLATION LEVEL SERIALIZABLE", err);
}

static int pg_commit(struct loam_db *db, loam_err *err)
{
	return pg_script(db, "COMMIT", err);
}

static void pg_rollback(struct loam_db *db)
{
	if (PQtransactionStatus(C(db)) != PQTRANS_IDLE)
		PQclear(PQexec(C(db), "ROLLBACK"));
}

static void pg_close(struct loam_db *db)
{
	PQfinish(C(db));
}

static void pg_set_busy_timeout(struct loam_db *db, int ms)
{
	char sql[64];
	snprintf(sql, sizeof(sql), "SET lock_timeout = %d", ms);
	PQclear(PQexec(C(db), sql));
}

static const struct loam_db_ops pg_ops = {
    .exec = pg_exec,
    .query = pg_query,
    .begin = pg_begin,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .exec_script = pg_script,
    .set_busy_timeout = pg_set_busy_timeout,
    .close = pg_close,
    .clock_sql = "SELECT CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)",
};

int loam_db_pg_open(const char *url, struct loam_db *db, loam_err *err)
{
	PGconn *conn = PQconnectdb(url);
	if (!conn)
		return loam_fail(err, LOAM_E_INTERNAL, "postgres: out of memory for a connection");
	if (PQstatus(conn) != CONNECTION_OK) {
		cleanup_free char *msg = xstrdup(PQerrorMessage(conn));
		msg[strcspn(msg, "\n")] = '\0';
		PQfinish(conn);
		return loam_fail(err, LOAM_E_UNAVAILABLE, "connect to PostgreSQL: %s", msg);
	}
	PQsetNoticeProcessor(conn, quiet_notices, NULL);
	db->backend = LOAM_DB_POSTGRES;
	db->ops = &pg_ops;
	db->impl = conn;
	/* Lock waits are bounded like SQLite's busy_timeout. */
	pg_set_busy_timeout(db, 5000);
	return 0;
}
