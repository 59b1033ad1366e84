/*
 * The SQLite backend: one sqlite3 connection in WAL mode with busy_timeout,
 * foreign keys on and synchronous=NORMAL (durable across process crashes;
 * a power cut may lose the last commits but never corrupts). Write
 * transactions use BEGIN IMMEDIATE so the write lock is taken up front.
 * Prepared statements are cached by SQL text, which is what makes short
 * transactions cheap (the allocator's placement is two cached UPDATEs).
 *
 * Checkpoints run in a background thread, one per database file per
 * process, instead of inside whichever commit crosses the auto-checkpoint
 * threshold: with synchronous=NORMAL a WAL commit is a write() with no
 * fsync, and the checkpoint's fsyncs would otherwise land on one unlucky
 * request (milliseconds of p99). The thread runs PASSIVE checkpoints, which
 * never block writers; if the thread cannot keep up the WAL grows until it
 * does.
 */
#include "db/db_internal.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "lib/cleanup.h"
#include "lib/clock.h"
#include "lib/fs.h"
#include "lib/xalloc.h"

#define BUSY_TIMEOUT_MS 5000
#define WAL_TRIES	50
#define WAL_RETRY_MS	100
#define CACHE_SLOTS	512
#define CHECKPOINT_MS	100

struct cached_stmt {
	char *sql;
	sqlite3_stmt *stmt;
};

struct checkpointer {
	struct checkpointer *next;
	char *path;
	int refs;
	bool stop;
	pthread_t thread;
	pthread_cond_t wake;
};

static pthread_mutex_t checkpointers_mu = PTHREAD_MUTEX_INITIALIZER;
static struct checkpointer *checkpointers;

struct sqlite_db {
	sqlite3 *h;
	char *path;		   /* as opened; "" for :memory: */
	struct loam_db_file_id id; /* the file this connection opened */
	bool has_file;
	struct checkpointer *ckpt;
	size_t cached;
	struct cached_stmt cache[CACHE_SLOTS];
};

static struct sqlite_db *S(struct loam_db *db)
{
	return db->impl;
}

static bool is_busy(int rc)
{
	rc &= 0xff;
	return rc == SQLITE_BUSY || rc == SQLITE_LOCKED;
}

static int fail_sqlite(struct loam_db *db, int rc, const char *what, loam_err *err)
{
	const char *msg = sqlite3_errmsg(S(db)->h);
	if ((rc & 0xff) == SQLITE_FULL)
		return loam_fail(
		    err, LOAM_E_NOSPACE,
		    "the disk that holds the database %s is full (%s: %s); nothing was "
		    "changed: free space there and retry",
		    S(db)->path, what, msg);
	if (rc == SQLITE_READONLY_DBMOVED)
		return loam_fail(err, LOAM_E_UNAVAILABLE,
				 "the database file %s was deleted or moved while in use (%s); "
				 "restore it and restart loamd",
				 S(db)->path, what);
	if (is_busy(rc)) {
		db->retryable = true;
		return loam_fail(err, LOAM_E_UNAVAILABLE, "database is locked (%s: %s)", what, msg);
	}
	if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY)
		return loam_fail(err, LOAM_E_CONFLICT, "%s: %s", what, msg);
	if ((rc & 0xff) == SQLITE_CONSTRAINT)
		return loam_fail(err, LOAM_E_INVALID, "%s: %s", what, msg);
	return loam_fail(err, LOAM_E_INTERNAL, "%s: %s", what, msg);
}

static uint64_t fnv1a(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

/* Finds or prepares the statement; *owned says the caller must finalize
 * it (the cache was full). */
static int prepare(struct loam_db *db, const char *sql, sqlite3_stmt **out, bool *owned,
		   loam_err *err)
{
	struct sqlite_db *s = S(db);
	size_t slot = fnv1a(sql) % CACHE_SLOTS;
	for (size_t i = 0; i < CACHE_SLOTS && s->cache[slot].sql; i++) {
		if (strcmp(s->cache[slot].sql, sql) == 0) {
			*out = s->cache[slot].stmt;
			*owned = false;
			return 0;
		}
		slot = (slot + 1) % CACHE_SLOTS;
	}
	int rc = sqlite3_prepare_v3(s->h, sql, -1, SQLITE_PREPARE_PERSISTENT, out, NULL);
	if (rc != SQLITE_OK)
		return fail_sqlite(db, rc, "prepare", err);
	*owned = s->cached >= CACHE_SLOTS / 2 || s->cache[slot].sql;
	if (!*owned) {
		s->cache[slot].sql = xstrdup(sql);
		s->cache[slot].stmt = *out;
		s->cached++;
	}
	return 0;
}

static int bind_args(struct loam_db *db, sqlite3_stmt *st, const struct loam_db_val *args,
		     size_t nargs, loam_err *err)
{
	int want = sqlite3_bind_parameter_count(st);
	if ((size_t)want != nargs)
		return loam_fail(err, LOAM_E_INTERNAL, "statement has %d parameters, got %zu", want,
				 nargs);
	for (size_t i = 0; i < nargs; i++) {
		int idx = (int)i + 1, rc;
		switch (args[i].type) {
		case LOAM_DB_NULL:
			rc = sqlite3_bind_null(st, idx);
			break;
		case LOAM_DB_INT:
			rc = sqlite3_bind_int64(st, idx, args[i].i);
			break;
		case LOAM_DB_REAL:
			rc = sqlite3_bind_double(st, idx, args[i].d);
			break;
		default:
			rc = args[i].s ? sqlite3_bind_text(st, idx, args[i].s, -1, SQLITE_STATIC)
				       : sqlite3_bind_null(st, idx);
		}
		if (rc != SQLITE_OK)
			return fail_sqlite(db, rc, "bind", err);
	}
	return 0;
}

static void read_row(sqlite3_stmt *st, struct loam_db_rows *rows)
{
	struct loam_db_cell *row = loam_db_rows_append(rows);
	for (size_t c = 0; c < rows->ncols; c++) {
		int type = sqlite3_column_type(st, (int)c);
		if (type == SQLITE_NULL)
			continue;
		if (type == SQLITE_INTEGER || type == SQLITE_FLOAT) {
			row[c].has_num = true;
			row[c].i = sqlite3_column_int64(st, (int)c);
			row[c].d = sqlite3_column_double(st, (int)c);
		}
		const unsigned char *t = sqlite3_column_text(st, (int)c);
		row[c].s = xstrdup(t ? (const char *)t : "");
	}
}

/* Runs one statement to completion, collecting rows when asked. */
static int run(struct loam_db *db, const char *sql, const struct loam_db_val *args, size_t nargs,
	       struct loam_db_rows **rows, int64_t *changes, loam_err *err)
{
	sqlite3_stmt *st = NULL;
	bool owned = false;
	if (prepare(db, sql, &st, &owned, err) < 0)
		return loam_err_wrap(err, "%.80s", sql);
	int ret = bind_args(db, st, args, nargs, err);
	struct loam_db_rows *r = NULL;
	if (ret == 0 && rows) {
		r = loam_db_rows_new((size_t)sqlite3_column_count(st));
		for (size_t c = 0; c < r->ncols; c++)
			loam_db_rows_set_name(r, c, sqlite3_column_name(st, (int)c));
	}
	int rc = SQLITE_DONE;
	while (ret == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW)
		if (r)
			read_row(st, r);
	if (ret == 0 && rc != SQLITE_DONE)
		ret = fail_sqlite(db, rc, "step", err);
	if (ret == 0 && changes)
		*changes = sqlite3_changes64(S(db)->h);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (owned)
		sqlite3_finalize(st);
	if (ret < 0) {
		loam_db_rows_free(r);
		return -1;
	}
	if (rows)
		*rows = r;
	return 0;
}

static int sq_exec(struct loam_db *db, const char *sql, const struct loam_db_val *args,
		   size_t nargs, int64_t *changes, loam_err *err)
{
	return run(db, sql, args, nargs, NULL, changes, err);
}

static int sq_query(struct loam_db *db, const char *sql, const struct loam_db_val *args,
		    size_t nargs, struct loam_db_rows **rows, loam_err *err)
{
	return run(db, sql, args, nargs, rows, NULL, err);
}

static int sq_script(struct loam_db *db, const char *sql, loam_err *err)
{
	char *msg = NULL;
	int rc = sqlite3_exec(S(db)->h, sql, NULL, NULL, &msg);
	if (rc == SQLITE_OK)
		return 0;
	if (is_busy(rc))
		db->retryable = true;
	loam_fail(err, is_busy(rc) ? LOAM_E_UNAVAILABLE : LOAM_E_INTERNAL, "%s",
		  msg ? msg : sqlite3_errstr(rc));
	sqlite3_free(msg);
	return -1;
}

static int sq_begin(struct loam_db *db, loam_err *err)
{
	return run(db, "BEGIN IMMEDIATE", NULL, 0, NULL, NULL, err);
}

static int sq_commit(struct loam_db *db, loam_err *err)
{
	return run(db, "COMMIT", NULL, 0, NULL, NULL, err);
}

static void sq_rollback(struct loam_db *db)
{
	if (!sqlite3_get_autocommit(S(db)->h))
		sqlite3_exec(S(db)->h, "ROLLBACK", NULL, NULL, NULL);
}

static void sq_set_busy_timeout(struct loam_db *db, int ms)
{
	sqlite3_busy_timeout(S(db)->h, ms);
}

static void *checkpoint_loop(void *arg)
{
	struct checkpointer *c = arg;
	sqlite3 *h = NULL;
	if (sqlite3_open_v2(c->path, &h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
	    SQLITE_OK) {
		sqlite3_close_v2(h);
		return NULL;
	}
	sqlite3_busy_timeout(h, 0);
	pthread_mutex_lock(&checkpointers_mu);
	while (!c->stop) {
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += CHECKPOINT_MS * 1000000L;
		until.tv_sec += until.tv_nsec / 1000000000L;
		until.tv_nsec %= 1000000000L;
		pthread_cond_timedwait(&c->wake, &checkpointers_mu, &until);
		if (c->stop)
			break;
		pthread_mutex_unlock(&checkpointers_mu);
		sqlite3_wal_checkpoint_v2(h, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
		pthread_mutex_lock(&checkpointers_mu);
	}
	pthread_mutex_unlock(&checkpointers_mu);
	sqlite3_close_v2(h);
	return NULL;
}

/* Shares one checkpoint thread among this process's connections to path. */
static struct checkpointer *checkpointer_get(const char *path)
{
	pthread_mutex_lock(&checkpointers_mu);
	struct checkpointer *c = checkpointers;
	while (c && strcmp(c->path, path) != 0)
		c = c->next;
	if (!c) {
		c = xcalloc(1, sizeof(*c));
		c->path = xstrdup(path);
		pthread_cond_init(&c->wake, NULL);
		if (pthread_create(&c->thread, NULL, checkpoint_loop, c) != 0) {
			pthread_mutex_unlock(&checkpointers_mu);
			free(c->path);
			free(c);
			return NULL;
		}
		c->next = checkpointers;
		checkpointers = c;
	}
	c->refs++;
	pthread_mutex_unlock(&checkpointers_mu);
	return c;
}

static void checkpointer_put(struct checkpointer *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&checkpointers_mu);
	bool last = --c->refs == 0;
	if (last) {
		struct checkpointer **p = &checkpointers;
		while (*p != c)
			p = &(*p)->next;
		*p = c->next;
		c->stop = true;
		pthread_cond_signal(&c->wake);
	}
	pthread_mutex_unlock(&checkpointers_mu);
	if (!last)
		return;
	pthread_join(c->thread, NULL);
	pthread_cond_destroy(&c->wake);
	free(c->path);
	free(c);
}

static void sq_close(struct loam_db *db)
{
	struct sqlite_db *s = S(db);
	for (size_t i = 0; i < CACHE_SLOTS; i++) {
		if (s->cache[i].sql) {
			sqlite3_finalize(s->cache[i].stmt);
			free(s->cache[i].sql);
		}
	}
	sqlite3_close_v2(s->h);
	checkpointer_put(s->ckpt);
	free(s->path);
	free(s);
}

static int sq_check_file(const struct loam_db *db, loam_err *err)
{
	const struct sqlite_db *s = db->impl;
	return s->has_file ? loam_db_file_verify(s->path, &s->id, err) : 0;
}

static const struct loam_db_ops sqlite_ops = {
    .exec = sq_exec,
    .query = sq_query,
    .begin = sq_begin,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .exec_script = sq_script,
    .set_busy_timeout = sq_set_busy_timeout,
    .close = sq_close,
    .check_file = sq_check_file,
    .clock_sql = "SELECT CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)",
};

/* Creates the directory holding the database file, like mkdir -p. */
static int make_parent(const char *path, loam_err *err)
{
	cleanup_free char *dir = xstrdup(path);
	char *slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = '\0';
	return loam_mkdir_p(dir, 0700, err);
}

/* The file, made 0600 first when new (see db_file.c), then opened. */
static int open_file(const char *path, struct sqlite_db *s, loam_err *err)
{
	bool file = strcmp(path, ":memory:") != 0;
	if (file && (make_parent(path, err) < 0 || loam_db_file_prepare(path, err) < 0))
		return loam_err_wrap(err, "open database %s", path);
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;
	if (!file || loam_db_file_may_create())
		flags |= SQLITE_OPEN_CREATE;
	int rc = sqlite3_open_v2(path, &s->h, flags, NULL);
	if (rc != SQLITE_OK)
		return loam_fail(err, LOAM_E_IO, "open database %s: %s", path,
				 s->h ? sqlite3_errmsg(s->h) : sqlite3_errstr(rc));
	s->path = xstrdup(file ? path : "");
	if (file && loam_db_file_identify(path, &s->id, err) < 0)
		return loam_err_wrap(err, "open database %s", path);
	s->has_file = file;
	return 0;
}

/* Connections opening a new file at once all turn it to WAL; SQLite
 * answers one of them "database is locked" at once, without its busy
 * handler, where waiting could deadlock: that one tries again. */
static int set_wal(struct loam_db *db, loam_err *err)
{
	for (int tries = 1;; tries++) {
		db->retryable = false;
		if (sq_script(db,
			      "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
			      "PRAGMA foreign_keys=ON;",
			      err) == 0)
			return 0;
		if (!db->retryable || tries == WAL_TRIES)
			return -1;
		loam_err_free(err);
		loam_sleep_ms(WAL_RETRY_MS);
	}
}

int loam_db_sqlite_open(const char *path, struct loam_db *db, loam_err *err)
{
	if (!*path)
		return loam_fail(err, LOAM_E_INVALID, "sqlite: URL needs a path (sqlite:PATH)");
	struct sqlite_db *s = xcalloc(1, sizeof(*s));
	if (open_file(path, s, err) < 0) {
		sqlite3_close_v2(s->h);
		free(s->path);
		free(s);
		return -1;
	}
	sqlite3_extended_result_codes(s->h, 1);
	sqlite3_busy_timeout(s->h, BUSY_TIMEOUT_MS);
	db->backend = LOAM_DB_SQLITE;
	db->ops = &sqlite_ops;
	db->impl = s;
	if (set_wal(db, err) < 0) {
		sq_close(db);
		return loam_err_wrap(err, "open database %s", path);
	}
	if (strcmp(path, ":memory:") != 0) {
		s->ckpt = checkpointer_get(path);
		if (s->ckpt)
			sqlite3_wal_autocheckpoint(s->h, 0);
	}
	return 0;
}
