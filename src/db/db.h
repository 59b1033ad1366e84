/*
 * The database layer: one small interface over SQLite (default) and
 * PostgreSQL (by URL). SQL is written once with '?' placeholders; the
 * PostgreSQL backend rewrites them to $1.., and every other dialect
 * difference stays inside src/db/. Ids are TEXT generated in C, times are
 * BIGINT unix milliseconds and booleans are INTEGER 0/1, so the same
 * migration files serve both backends.
 *
 * A struct loam_db is one connection and is not shared between threads.
 */
#ifndef LOAM_DB_H
#define LOAM_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"

enum loam_db_backend { LOAM_DB_SQLITE, LOAM_DB_POSTGRES };

enum loam_db_type { LOAM_DB_NULL, LOAM_DB_INT, LOAM_DB_TEXT, LOAM_DB_REAL };

struct loam_db_val {
	enum loam_db_type type;
	int64_t i;
	double d;
	const char *s;
};

#define DB_NULL	   ((struct loam_db_val){.type = LOAM_DB_NULL})
#define DB_INT(x)  ((struct loam_db_val){.type = LOAM_DB_INT, .i = (int64_t)(x)})
#define DB_REAL(x) ((struct loam_db_val){.type = LOAM_DB_REAL, .d = (double)(x)})
#define DB_TEXT(x) ((struct loam_db_val){.type = LOAM_DB_TEXT, .s = (x)})
/* DB_TEXT, or DB_NULL for a NULL string. */
static inline struct loam_db_val loam_db_text_or_null(const char *s)
{
	return s ? DB_TEXT(s) : DB_NULL;
}
/* DB_ARGS(DB_INT(1), DB_TEXT("a")) expands to "array, count". */
#define DB_ARGS(...)                                                                               \
	(const struct loam_db_val[]){__VA_ARGS__},                                                 \
	    sizeof((const struct loam_db_val[]){__VA_ARGS__}) / sizeof(struct loam_db_val)
#define DB_NOARGS NULL, 0

struct loam_db;
struct loam_db_rows;

/* One page of a listing, keyset style: at most `limit` rows (0: no limit)
 * whose sort key comes after `after` (NULL: from the first). A lister asked
 * for a page reads limit + 1 rows, so that the caller learns whether
 * another page follows. */
struct loam_db_page {
	size_t limit;
	const char *after;
};
/* The LIMIT a lister passes for page (NULL: all): limit + 1, else a bound
 * no listing reaches (PostgreSQL takes no negative LIMIT). */
static inline int64_t loam_db_page_limit(const struct loam_db_page *page)
{
	return page && page->limit ? (int64_t)page->limit + 1 : INT64_C(1000000000000);
}
/* The key a page starts after: "" from the first (every key sorts after
 * the empty string). */
static inline const char *loam_db_page_after(const struct loam_db_page *page)
{
	return page && page->after ? page->after : "";
}

/*
 * url: "sqlite:PATH", "postgres://..." or "postgresql://...". NULL or ""
 * means the default SQLite file, loam_db_default_url().
 * SQLite is opened with WAL, busy_timeout, foreign_keys=ON and
 * synchronous=NORMAL.
 */
int loam_db_open(const char *url, struct loam_db **out, loam_err *err);
void loam_db_close(struct loam_db *db);
enum loam_db_backend loam_db_backend_of(const struct loam_db *db);
/* "sqlite:$XDG_STATE_HOME/loam/loam.db", or /var/lib/loam/loam.db as root,
 * or under state_dir when given. The caller frees. */
char *loam_db_default_url(const char *state_dir);

/* Applies migrations/NNNN_*.sql in order, recording schema_version; a
 * second run is a no-op. Safe when several processes start at once. Then
 * refreshes the `arch` and `size` tables from the arch modules
 * (db/records.h). */
int loam_db_migrate(struct loam_db *db, loam_err *err);

int loam_db_exec(struct loam_db *db, const char *sql, const struct loam_db_val *args, size_t nargs,
		 int64_t *changes, loam_err *err);
int loam_db_query(struct loam_db *db, const char *sql, const struct loam_db_val *args, size_t nargs,
		  struct loam_db_rows **rows, loam_err *err);

size_t loam_db_rows_count(const struct loam_db_rows *rows);
size_t loam_db_rows_cols(const struct loam_db_rows *rows);
const char *loam_db_rows_name(const struct loam_db_rows *rows, size_t col);
bool loam_db_rows_null(const struct loam_db_rows *rows, size_t row, size_t col);
/* NULL reads as "" and 0. */
const char *loam_db_rows_text(const struct loam_db_rows *rows, size_t row, size_t col);
int64_t loam_db_rows_int(const struct loam_db_rows *rows, size_t row, size_t col);
double loam_db_rows_real(const struct loam_db_rows *rows, size_t row, size_t col);
/* A copy of the cell's text (the caller frees), or NULL when it is NULL. */
char *loam_db_rows_dup(const struct loam_db_rows *rows, size_t row, size_t col);
void loam_db_rows_free(struct loam_db_rows *rows);

static inline void loam_db_rows_freep(struct loam_db_rows **r)
{
	loam_db_rows_free(*r);
}
#define cleanup_rows __attribute__((cleanup(loam_db_rows_freep)))

/*
 * Runs fn inside one write transaction (BEGIN IMMEDIATE on SQLite,
 * SERIALIZABLE or READ COMMITTED + row locks on PostgreSQL, as the backend
 * documents). When the database reports busy/locked or a serialization
 * failure, the transaction is rolled back and fn runs again, with backoff,
 * up to a bound; then the error is LOAM_E_UNAVAILABLE ("database is
 * locked"). Any other failure of fn rolls back and is returned as is.
 * fn must therefore be safe to run more than once.
 */
typedef int (*loam_db_tx_fn)(struct loam_db *db, void *ctx, loam_err *err);
int loam_db_tx(struct loam_db *db, loam_db_tx_fn fn, void *ctx, loam_err *err);

/* How long a statement waits for a lock held by another connection before
 * it fails as busy (SQLite busy_timeout, PostgreSQL lock_timeout); the
 * default is 5000 ms. */
void loam_db_set_busy_timeout(struct loam_db *db, int ms);
/* Runs several ';'-separated statements without parameters (schema
 * scripts, PRAGMAs, SET). */
int loam_db_script(struct loam_db *db, const char *sql, loam_err *err);

/*
 * A fresh, empty database beside url, for tests and benchmarks. tag is
 * [a-z0-9_], at most 40 characters. SQLite "sqlite:PATH" gives
 * "sqlite:PATH-TAG" (an old file of that name is removed); PostgreSQL gives
 * the same server with a new schema "loam_TAG", selected by search_path in
 * the returned URL, so every connection opened on it sees only that
 * schema. loam_db_scratch_drop removes the file or schema.
 */
int loam_db_scratch_create(const char *url, const char *tag, char **scratch_url, loam_err *err);
int loam_db_scratch_drop(const char *scratch_url, loam_err *err);

/* ---- the database file and clock under a running loamd ---- */

/* For SQLite: fails (LOAM_E_UNAVAILABLE, saying which) when the file at the
 * connection's path was deleted or replaced since the connection opened it
 * (another device or inode). PostgreSQL: always 0. It reads only what the
 * connection recorded at open and stat()s the path, so any thread may call
 * it, also while another thread uses the connection. */
int loam_db_check_file(const struct loam_db *db, loam_err *err);
/* From now on this process opens only SQLite files that exist: loamd calls
 * it once its database is made and migrated, so that no later connection
 * (the API's pool, the engine's workers) makes an empty database in place
 * of a deleted one. New SQLite files are always made with mode 0600. */
void loam_db_forbid_create(void);
/* The database's own clock in unix ms: the server's on PostgreSQL, the
 * machine's on SQLite (in-process). Leases are stamped with it, so that
 * every loamd sharing a database agrees when one runs out. */
int loam_db_clock_ms(struct loam_db *db, int64_t *now, loam_err *err);

/* A new random id: 26 lower-case base32 characters, time-ordered. */
void loam_db_new_id(char out[27]);
/* Unix time in milliseconds, by this process's clock. Test builds add
 * $LOAM_TEST_CLOCK_SKEW_MS to it (read once), to show that leases do not
 * depend on it. */
int64_t loam_db_now_ms(void);

#endif
