/*
 * The database layer's front: URL dispatch to a backend, result sets, the
 * retrying transaction wrapper, ids and times. The backends live in
 * db_sqlite.c and db_pg.c.
 *
 * Every dialect difference between SQLite and PostgreSQL is kept in src/db/:
 *  - placeholders: SQL is written with '?'; db_pg.c rewrites them to $1..$n
 *    (loam_db_pg_placeholders, which leaves quotes and comments alone);
 *  - transactions: SQLite uses BEGIN IMMEDIATE (one writer, taken up front,
 *    so a transaction never fails half-way on a lock upgrade); PostgreSQL
 *    uses BEGIN ISOLATION LEVEL SERIALIZABLE, so code written for SQLite's
 *    serial writers stays correct; both retry here on busy/serialization;
 *  - retryable errors: SQLITE_BUSY/SQLITE_LOCKED versus SQLSTATE 40001
 *    (serialization failure) and 40P01 (deadlock);
 *  - errors: unique/primary-key violations are LOAM_E_CONFLICT, other
 *    constraint violations LOAM_E_INVALID, on both;
 *  - migrations: PostgreSQL takes a session advisory lock around them
 *    (concurrent CREATE TABLE IF NOT EXISTS races there); SQLite relies on
 *    BEGIN IMMEDIATE (migrate.c);
 *  - types: the schema uses only TEXT, INTEGER, BIGINT and REAL; ids are made
 *    in C (loam_db_new_id) and times are unix milliseconds, so no
 *    AUTOINCREMENT/SERIAL and no date functions are needed. REAL is 8 bytes
 *    on SQLite and 4 on PostgreSQL; compare integers with REAL products
 *    (`used + n <= total * factor`) rather than CAST, which truncates on
 *    SQLite and rounds on PostgreSQL;
 *  - UPDATE ... RETURNING works on both (SQLite >= 3.35).
 */
#include "db/db_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/fault.h"
#include "lib/paths.h"
#include "lib/xalloc.h"

/* A transaction is retried this often, and for at most this long. */
#define TX_MAX_ATTEMPTS 100
#define TX_MAX_MS	15000

char *loam_db_default_url(const char *state_dir)
{
	cleanup_free char *dir = state_dir && *state_dir ? NULL : loam_default_state_dir(0);
	return xasprintf("sqlite:%s/loam.db", dir ? dir : state_dir);
}

static bool has_prefix(const char *s, const char *p)
{
	return strncmp(s, p, strlen(p)) == 0;
}

int loam_db_open(const char *url, struct loam_db **out, loam_err *err)
{
	cleanup_free char *def = NULL;
	if (!url || !*url)
		url = def = loam_db_default_url(NULL);
	struct loam_db *db = xcalloc(1, sizeof(*db));
	int rc;
	if (has_prefix(url, "sqlite:"))
		rc = loam_db_sqlite_open(url + strlen("sqlite:"), db, err);
	else if (has_prefix(url, "postgres://") || has_prefix(url, "postgresql://"))
		rc = loam_db_pg_open(url, db, err);
	else
		rc = loam_fail(err, LOAM_E_INVALID,
			       "unsupported database URL '%.200s'; use sqlite:PATH or "
			       "postgres://...",
			       url);
	if (rc != 0 || !db->ops) {
		if (rc == 0)
			loam_fail(err, LOAM_E_INTERNAL, "database backend did not initialise");
		free(db);
		return -1;
	}
	*out = db;
	return 0;
}

void loam_db_close(struct loam_db *db)
{
	if (!db)
		return;
	db->ops->close(db);
	free(db);
}

enum loam_db_backend loam_db_backend_of(const struct loam_db *db)
{
	return db->backend;
}

int loam_db_exec(struct loam_db *db, const char *sql, const struct loam_db_val *args, size_t nargs,
		 int64_t *changes, loam_err *err)
{
	return db->ops->exec(db, sql, args, nargs, changes, err);
}

int loam_db_query(struct loam_db *db, const char *sql, const struct loam_db_val *args, size_t nargs,
		  struct loam_db_rows **rows, loam_err *err)
{
	*rows = NULL;
	return db->ops->query(db, sql, args, nargs, rows, err);
}

void loam_db_set_busy_timeout(struct loam_db *db, int ms)
{
	db->ops->set_busy_timeout(db, ms);
}

int loam_db_script(struct loam_db *db, const char *sql, loam_err *err)
{
	return db->ops->exec_script(db, sql, err);
}

int loam_db_check_file(const struct loam_db *db, loam_err *err)
{
	return db->ops->check_file ? db->ops->check_file(db, err) : 0;
}

int loam_db_clock_ms(struct loam_db *db, int64_t *now, loam_err *err)
{
	cleanup_rows struct loam_db_rows *rows = NULL;
	if (loam_db_query(db, db->ops->clock_sql, DB_NOARGS, &rows, err) < 0)
		return loam_err_wrap(err, "read the database's clock");
	*now = loam_db_rows_int(rows, 0, 0);
	return 0;
}

/* ---- scratch databases ---- */

#define PG_SCHEMA_OPT "options=-csearch_path%3D"

static int check_tag(const char *tag, loam_err *err)
{
	size_t n = strlen(tag);
	if (n == 0 || n > 40 || strspn(tag, "abcdefghijklmnopqrstuvwxyz0123456789_") != n)
		return loam_fail(err, LOAM_E_INVALID,
				 "scratch tag '%.60s' must be 1..40 of [a-z0-9_]", tag);
	return 0;
}

static void remove_sqlite_files(const char *path)
{
	static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
	for (size_t i = 0; i < sizeof(suffixes) / sizeof(*suffixes); i++) {
		cleanup_free char *p = xasprintf("%s%s", path, suffixes[i]);
		unlink(p);
	}
}

static int pg_schema_script(const char *url, bool create, const char *schema, loam_err *err)
{
	struct loam_db *db = NULL;
	if (loam_db_open(url, &db, err) < 0)
		return -1;
	cleanup_free char *sql = xasprintf("DROP SCHEMA IF EXISTS %s CASCADE%s%s", schema,
					   create ? "; CREATE SCHEMA " : "", create ? schema : "");
	int rc = loam_db_script(db, sql, err);
	loam_db_close(db);
	return rc;
}

int loam_db_scratch_create(const char *url, const char *tag, char **scratch_url, loam_err *err)
{
	if (check_tag(tag, err) < 0)
		return -1;
	char *out = NULL;
	if (has_prefix(url, "sqlite:")) {
		out = xasprintf("%s-%s", url, tag);
		remove_sqlite_files(out + strlen("sqlite:"));
		*scratch_url = out;
		return 0;
	}
	if (!has_prefix(url, "postgres://") && !has_prefix(url, "postgresql://"))
		return loam_fail(err, LOAM_E_INVALID, "unsupported database URL '%.200s'", url);
	cleanup_free char *schema = xasprintf("loam_%s", tag);
	if (pg_schema_script(url, true, schema, err) < 0)
		return loam_err_wrap(err, "create scratch schema %s", schema);
	*scratch_url =
	    xasprintf("%s%s%s%s", url, strchr(url, '?') ? "&" : "?", PG_SCHEMA_OPT, schema);
	return 0;
}

int loam_db_scratch_drop(const char *scratch_url, loam_err *err)
{
	if (has_prefix(scratch_url, "sqlite:")) {
		remove_sqlite_files(scratch_url + strlen("sqlite:"));
		return 0;
	}
	const char *opt = strstr(scratch_url, PG_SCHEMA_OPT);
	if (!opt || check_tag(opt + strlen(PG_SCHEMA_OPT "loam_"), err) < 0)
		return loam_fail(err, LOAM_E_INVALID, "not a scratch database URL: %.200s",
				 scratch_url);
	cleanup_free char *base = xstrndup(scratch_url, (size_t)(opt - scratch_url - 1));
	return pg_schema_script(base, false, opt + strlen(PG_SCHEMA_OPT), err);
}

/* ---- result sets ---- */

struct loam_db_rows *loam_db_rows_new(size_t ncols)
{
	struct loam_db_rows *r = xcalloc(1, sizeof(*r));
	r->ncols = ncols;
	r->names = xcalloc(ncols ? ncols : 1, sizeof(char *));
	return r;
}

void loam_db_rows_set_name(struct loam_db_rows *rows, size_t col, const char *name)
{
	rows->names[col] = xstrdup(name ? name : "");
}

struct loam_db_cell *loam_db_rows_append(struct loam_db_rows *rows)
{
	if (rows->nrows == rows->cap) {
		rows->cap = rows->cap ? rows->cap * 2 : 8;
		rows->cells =
		    xrealloc(rows->cells, rows->cap * rows->ncols * sizeof(*rows->cells) + 1);
	}
	struct loam_db_cell *row = rows->cells + rows->nrows * rows->ncols;
	memset(row, 0, rows->ncols * sizeof(*row));
	rows->nrows++;
	return row;
}

size_t loam_db_rows_count(const struct loam_db_rows *rows)
{
	return rows ? rows->nrows : 0;
}

size_t loam_db_rows_cols(const struct loam_db_rows *rows)
{
	return rows ? rows->ncols : 0;
}

const char *loam_db_rows_name(const struct loam_db_rows *rows, size_t col)
{
	return rows && col < rows->ncols ? rows->names[col] : "";
}

static const struct loam_db_cell *cell(const struct loam_db_rows *rows, size_t row, size_t col)
{
	if (!rows || row >= rows->nrows || col >= rows->ncols)
		return NULL;
	return rows->cells + row * rows->ncols + col;
}

bool loam_db_rows_null(const struct loam_db_rows *rows, size_t row, size_t col)
{
	const struct loam_db_cell *c = cell(rows, row, col);
	return !c || !c->s;
}

const char *loam_db_rows_text(const struct loam_db_rows *rows, size_t row, size_t col)
{
	const struct loam_db_cell *c = cell(rows, row, col);
	return c && c->s ? c->s : "";
}

int64_t loam_db_rows_int(const struct loam_db_rows *rows, size_t row, size_t col)
{
	const struct loam_db_cell *c = cell(rows, row, col);
	if (!c || !c->s)
		return 0;
	if (c->has_num)
		return c->i;
	/* PostgreSQL sends numbers as text; REAL columns may hold "2.5". */
	char *end = NULL;
	long long v = strtoll(c->s, &end, 10);
	if (end && *end == '.')
		return (int64_t)strtod(c->s, NULL);
	return v;
}

double loam_db_rows_real(const struct loam_db_rows *rows, size_t row, size_t col)
{
	const struct loam_db_cell *c = cell(rows, row, col);
	if (!c || !c->s)
		return 0;
	return c->has_num ? c->d : strtod(c->s, NULL);
}

char *loam_db_rows_dup(const struct loam_db_rows *rows, size_t row, size_t col)
{
	const struct loam_db_cell *c = cell(rows, row, col);
	return c && c->s ? xstrdup(c->s) : NULL;
}

void loam_db_rows_free(struct loam_db_rows *rows)
{
	if (!rows)
		return;
	for (size_t i = 0; i < rows->nrows * rows->ncols; i++)
		free(rows->cells[i].s);
	for (size_t i = 0; i < rows->ncols; i++)
		free(rows->names[i]);
	free(rows->cells);
	free(rows->names);
	free(rows);
}

/* ---- transactions ---- */

static void sleep_ms(long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Exponential backoff with full jitter: 1, 2, 4 .. 128 ms upper bounds. */
static long backoff_ms(int attempt)
{
	long cap = 1L << (attempt < 7 ? attempt : 7);
	unsigned r = 0;
	if (getrandom(&r, sizeof(r), 0) != sizeof(r))
		r = (unsigned)attempt * 7919u;
	return 1 + (long)(r % (unsigned long)cap);
}

static int run_once(struct loam_db *db, loam_db_tx_fn fn, void *ctx, loam_err *err)
{
	db->retryable = false;
	if (db->ops->begin(db, err) < 0)
		return -1;
	db->tx_depth++;
	int rc = fn(db, ctx, err);
	db->tx_depth--;
	if (rc < 0) {
		db->ops->rollback(db);
		return -1;
	}
	loam_fault_point("db-before-commit");
	if (db->ops->commit(db, err) < 0) {
		db->ops->rollback(db);
		return -1;
	}
	return 0;
}

int loam_db_tx(struct loam_db *db, loam_db_tx_fn fn, void *ctx, loam_err *err)
{
	/* A nested call joins the transaction already open. */
	if (db->tx_depth > 0)
		return fn(db, ctx, err);
	int64_t start = loam_db_now_ms();
	for (int attempt = 0;; attempt++) {
		cleanup_err loam_err e = NULL;
		if (run_once(db, fn, ctx, &e) == 0)
			return 0;
		bool retry = db->retryable;
		db->retryable = false;
		if (!retry) {
			if (err) {
				loam_err_free(err);
				*err = loam_steal(&e);
			}
			return -1;
		}
		if (attempt + 1 >= TX_MAX_ATTEMPTS || loam_db_now_ms() - start > TX_MAX_MS)
			return loam_fail(err, LOAM_E_UNAVAILABLE,
					 "database is locked (gave up after %d attempts in %lld "
					 "ms: %s); retry later",
					 attempt + 1, (long long)(loam_db_now_ms() - start),
					 loam_err_msg(e));
		sleep_ms(backoff_ms(attempt));
	}
}

/* ---- ids and time ---- */

#ifdef LOAM_TEST_BUILD
static int64_t test_clock_skew_ms(void)
{
	static _Atomic int64_t skew = INT64_MIN;
	int64_t v = skew;
	if (v == INT64_MIN) {
		const char *s = getenv("LOAM_TEST_CLOCK_SKEW_MS");
		v = s ? strtoll(s, NULL, 10) : 0;
		skew = v;
	}
	return v;
}
#else
static int64_t test_clock_skew_ms(void)
{
	return 0;
}
#endif

int64_t loam_db_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + test_clock_skew_ms();
}

/* 10 characters of milliseconds (50 bits) then 16 of randomness (80
 * bits), in Crockford's lower-case alphabet so ids sort by creation time. */
void loam_db_new_id(char out[27])
{
	static const char alphabet[] = "0123456789abcdefghjkmnpqrstvwxyz";
	uint64_t t = (uint64_t)loam_db_now_ms();
	for (int i = 9; i >= 0; i--, t >>= 5)
		out[i] = alphabet[t & 31];
	unsigned char rnd[16];
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		abort();
	for (int i = 0; i < 16; i++)
		out[10 + i] = alphabet[rnd[i] & 31];
	out[26] = '\0';
}

/* ---- PostgreSQL placeholders ---- */

/* Copies a quoted run ('..' with '' escapes, or ".."), returning its end. */
static const char *copy_quoted(const char *p, char **o)
{
	char q = *p;
	*(*o)++ = *p++;
	while (*p) {
		if (*p == q && p[1] == q) {
			*(*o)++ = *p++;
			*(*o)++ = *p++;
			continue;
		}
		if (*p == q) {
			*(*o)++ = *p++;
			return p;
		}
		*(*o)++ = *p++;
	}
	return p;
}

char *loam_db_pg_placeholders(const char *sql, size_t *count)
{
	size_t q = 0;
	for (const char *p = sql; *p; p++)
		q += *p == '?';
	/* Each '?' becomes at most "$" + 10 digits. */
	char *out = xmalloc(strlen(sql) + q * 11 + 1);
	char *o = out;
	size_t n = 0;
	const char *p = sql;
	while (*p) {
		if (*p == '\'' || *p == '"') {
			p = copy_quoted(p, &o);
		} else if (p[0] == '-' && p[1] == '-') {
			while (*p && *p != '\n')
				*o++ = *p++;
		} else if (*p == '?') {
			o += sprintf(o, "$%zu", ++n);
			p++;
		} else {
			*o++ = *p++;
		}
	}
	*o = '\0';
	if (count)
		*count = n;
	return out;
}
