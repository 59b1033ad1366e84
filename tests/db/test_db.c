/*
 * The database layer against real SQLite and (under with_pg.sh) a real
 * throwaway PostgreSQL: migrations on empty databases (twice, and from two
 * connections at once), exec/query/NULLs/placeholders, transactions
 * (commit, rollback, nesting, retry on busy and on serialization failure,
 * giving up with "database is locked"), error kinds, sizes, ids and
 * validated VM creation.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "db/db.h"
#include "db/db_internal.h"
#include "db/migrate.h"
#include "db/records.h"
#include "t.h"
#include "tdb.h"

static int backend;

static size_t embedded_count(void)
{
	size_t n = 0;
	while (loam_embedded_migrations[n].name)
		n++;
	return n;
}

static int64_t count(struct loam_db *db, const char *sql)
{
	struct loam_db_rows *rows = NULL;
	loam_err err = NULL;
	if (loam_db_query(db, sql, DB_NOARGS, &rows, &err) < 0) {
		fprintf(stderr, "count: %s\n", loam_err_msg(err));
		loam_err_free(&err);
		return -1;
	}
	int64_t n = loam_db_rows_int(rows, 0, 0);
	loam_db_rows_free(rows);
	return n;
}

static void test_migrate_twice(void)
{
	struct tdb t;
	tdb_fresh(&t, backend, "mig");
	struct loam_db *db = tdb_open(&t);
	loam_err err = NULL;
	CHECK_INT(loam_db_migrate(db, &err), 0);
	CHECK_INT(count(db, "SELECT count(*) FROM schema_version"), embedded_count());
	CHECK_INT(loam_db_migrate(db, &err), 0);
	CHECK_INT(count(db, "SELECT count(*) FROM schema_version"), embedded_count());
	CHECK_INT(count(db, "SELECT min(version) FROM schema_version"), 1);
	CHECK_INT(count(db, "SELECT count(*) FROM host"), 0);
	CHECK_INT(count(db, "SELECT count(*) FROM vm"), 0);
	CHECK_INT(count(db, "SELECT count(*) FROM size"), 12); /* from the arch modules */
	/* The arch constraint is in the schema. */
	CHECK_INT(loam_db_exec(db,
			       "INSERT INTO host (id, name, transport, arch, created_at) "
			       "VALUES ('h', 'h', 'local', 'amd64', 0)",
			       DB_NOARGS, NULL, &err),
		  -1);
	CHECK_INT(loam_err_kind_of(err), LOAM_E_INVALID);
	loam_err_free(&err);
	loam_db_close(db);
	tdb_done(&t);
}

static void test_migrate_refuses_newer(void)
{
	struct tdb t;
	tdb_fresh(&t, backend, "newer");
	struct loam_db *db = tdb_open_migrated(&t);
	loam_err err = NULL;
	CHECK_INT(loam_db_exec(db, "INSERT INTO schema_version VALUES (9999, '9999_x.sql', 0)",
			       DB_NOARGS, NULL, &err),
		  0);
	CHECK_INT(loam_db_migrate(db, &err), -1);
	CHECK_CONTAINS(loam_err_msg(err), "newer than this loam");
	loam_err_free(&err);
	loam_db_close(db);
	tdb_done(&t);
}

struct mig_thread {
	const char *url;
	int rc;
};

static void *migrate_thread(void *arg)
{
	struct mig_thread *m = arg;
	struct loam_db *db = NULL;
	loam_err err = NULL;
	m->rc = loam_db_open(m->url, &db, &err);
	if (m->rc == 0)
		m->rc = loam_db_migrate(db, &err);
	if (m->rc < 0)
		fprintf(stderr, "migrate thread: %s\n", loam_err_msg(err));
	loam_err_free(&err);
	loam_db_close(db);
	return NULL;
}

static void test_migrate_concurrently(void)
{
	struct tdb t;
	tdb_fresh(&t, backend, "migc");
	struct mig_thread m[4];
	pthread_t th[4];
	for (int i = 0; i < 4; i++) {
		m[i] = (struct mig_thread){.url = t.url, .rc = -2};
		pthread_create(&th[i], NULL, migrate_thread, &m[i]);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		CHECK_INT(m[i].rc, 0);
	}
	struct loam_db *db = tdb_open(&t);
	CHECK_INT(count(db, "SELECT count(*) FROM schema_version"), embedded_count());
	loam_db_close(db);
	tdb_done(&t);
}

static void test_migrations_dir_override(void)
{
	char dir[] = "/tmp/loam-migs.XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	char path[128];
	snprintf(path, sizeof(path), "%s/0001_a.sql", dir);
	FILE *f = fopen(path, "w");
	fputs("CREATE TABLE a (x INTEGER PRIMARY KEY);", f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/0002_b.sql", dir);
	f = fopen(path, "w");
	fputs("CREATE TABLE b (y INTEGER REFERENCES a (x)); INSERT INTO a VALUES (1);", f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/README", dir);
	f = fopen(path, "w");
	fputs("not SQL", f);
	fclose(f);
	setenv("LOAM_MIGRATIONS_DIR", dir, 1);
	struct tdb t;
	tdb_fresh(&t, backend, "migdir");
	struct loam_db *db = tdb_open_migrated(&t);
	CHECK_INT(count(db, "SELECT count(*) FROM schema_version"), 2);
	CHECK_INT(count(db, "SELECT max(version) FROM schema_version"), 2);
	CHECK_INT(count(db, "SELECT count(*) FROM a"), 1);
	loam_db_close(db);
	tdb_done(&t);
	unsetenv("LOAM_MIGRATIONS_DIR");
	for (const char *n = "0001_a.sql\0"
			     "0002_b.sql\0README\0";
	     *n; n += strlen(n) + 1) {
		snprintf(path, sizeof(path), "%s/%s", dir, n);
		unlink(path);
	}
	rmdir(dir);
}

static void test_exec_query(void)
{
	struct tdb t;
	tdb_fresh(&t, backend, "eq");
	struct loam_db *db = tdb_open(&t);
	loam_err err = NULL;
	CHECK_INT(loam_db_script(
		      db, "CREATE TABLE kv (k TEXT PRIMARY KEY, n BIGINT, r REAL, s TEXT)", &err),
		  0);
	int64_t changes = -1;
	CHECK_INT(loam_db_exec(db, "INSERT INTO kv VALUES (?, ?, ?, ?)",
			       DB_ARGS(DB_TEXT("a?"), DB_INT(5000000000LL), DB_REAL(2.5), DB_NULL),
			       &changes, &err),
		  0);
	CHECK_INT(changes, 1);
	CHECK_INT(loam_db_exec(db, "INSERT INTO kv VALUES ('it''s ?', ?, 1, 'x')",
			       DB_ARGS(DB_INT(-3)), &changes, &err),
		  0);
	CHECK_INT(loam_db_exec(db, "UPDATE kv SET n = n + 1 WHERE n < ?", DB_ARGS(DB_INT(100)),
			       &changes, &err),
		  0);
	CHECK_INT(changes, 1);
	struct loam_db_rows *rows = NULL;
	CHECK_INT(loam_db_query(db, "SELECT k, n, r, s FROM kv WHERE k = ? -- a ? in a comment\n",
				DB_ARGS(DB_TEXT("a?")), &rows, &err),
		  0);
	CHECK_INT(loam_db_rows_count(rows), 1);
	CHECK_INT(loam_db_rows_cols(rows), 4);
	CHECK_STR(loam_db_rows_name(rows, 1), "n");
	CHECK_STR(loam_db_rows_text(rows, 0, 0), "a?");
	CHECK_INT(loam_db_rows_int(rows, 0, 1), 5000000000LL);
	CHECK(loam_db_rows_real(rows, 0, 2) == 2.5);
	CHECK(loam_db_rows_null(rows, 0, 3));
	CHECK_STR(loam_db_rows_text(rows, 0, 3), "");
	CHECK(!loam_db_rows_null(rows, 0, 0));
	CHECK(loam_db_rows_null(rows, 5, 0)); /* out of range reads as NULL */
	loam_db_rows_free(rows);
	CHECK_INT(
	    loam_db_query(db, "SELECT k FROM kv WHERE n = ?", DB_ARGS(DB_INT(-2)), &rows, &err), 0);
	CHECK_STR(loam_db_rows_text(rows, 0, 0), "it's ?");
	loam_db_rows_free(rows);
	/* Wrong parameter count is a bug, reported, not run. */
	CHECK_INT(loam_db_exec(db, "DELETE FROM kv WHERE k = ?", DB_NOARGS, NULL, &err), -1);
	CHECK_INT(count(db, "SELECT count(*) FROM kv"), 2);
	/* Unique violations are conflicts. */
	CHECK_INT(loam_db_exec(db, "INSERT INTO kv (k) VALUES ('a?')", DB_NOARGS, NULL, &err), -1);
	CHECK_INT(loam_err_kind_of(err), LOAM_E_CONFLICT);
	loam_err_free(&err);
	loam_db_close(db);
	tdb_done(&t);
}

static int insert_then(struct loam_db *db, void *ctx, loam_err *err)
{
	const char *k = ctx;
	if (loam_db_exec(db, "INSERT INTO kv (k) VALUES (?)", DB_ARGS(DB_TEXT(k)), NULL, err) < 0)
		return -1;
	if (strcmp(k, "fail") == 0)
		return loam_fail(err, LOAM_E_INVALID, "failing on purpose");
	return 0;
}

static int nested(struct loam_db *db, void *ctx, loam_err *err)
{
	(void)ctx;
	if (loam_db_tx(db, insert_then, "inner", err) < 0)
		return -1;
	return insert_then(db, "fail", err);
}

static void test_tx_commit_rollback(void)
{
	struct tdb t;
	tdb_fresh(&t, backend, "tx");
	struct loam_db *db = tdb_open(&t);
	loam_err err = NULL;
	CHECK_INT(loam_db_script(db, "CREATE TABLE kv (k TEXT PRIMARY KEY, n BIGINT)", &err), 0);
	CHECK_INT(loam_db_tx(db, insert_then, "ok", &err), 0);
	CHECK_INT(loam_db_tx(db, insert_then, "fail", &err), -1);
	CHECK_STR(loam_err_msg(err), "failing on purpose");
	CHECK_INT(loam_err_kind_of(err), LOAM_E_INVALID);
	loam_err_free(&err);
	CHECK_INT(count(db, "SELECT count(*) FROM kv WHERE k = 'fail'"), 0);
	CHECK_INT(count(db, "SELECT count(*) FROM kv WHERE k = 'ok'"), 1);
	/* A nested transaction joins the outer one and rolls back with it. */
	CHECK_INT(loam_db_tx(db, nested, NULL, &err), -1);
	loam_err_free(&err);
	CHECK_INT(count(db, "SELECT count(*) FROM kv"), 1);
	/* A failed statement inside a transaction is rolled back too. */
	CHECK_INT(loam_db_tx(db, insert_then, "ok", &err), -1);
	CHECK_INT(loam_err_kind_of(err), LOAM_E_CONFLICT);
	loam_err_free(&err);
	CHECK_INT(loam_db_tx(db, insert_then, "after", &err), 0);
	CHECK_INT(count(db, "SELECT count(*) FROM kv"), 2);
	loam_db_close(db);
	tdb_done(&t);
}

/* Holds a write lock on kv for hold_ms, from its own connection. */
struct holder {
	const char *url;
	int hold_ms; /* or until release is set */
	volatile int locked, release;
};

static void *hold_lock(void *arg)
{
	struct holder *h = arg;
	struct loam_db *db = NULL;
	loam_err err = NULL;
	if (loam_db_open(h->url, &db, &err) < 0)
		abort();
	const char *begin = loam_db_backend_of(db) == LOAM_DB_SQLITE
				? "BEGIN IMMEDIATE; UPDATE kv SET n = 1"
				: "BEGIN; UPDATE kv SET n = 1";
	if (loam_db_script(db, begin, &err) < 0)
		abort();
	h->locked = 1;
	for (int ms = 0; ms < h->hold_ms && !h->release; ms++)
		usleep(1000);
	loam_db_script(db, "COMMIT", &err);
	loam_db_close(db);
	return NULL;
}

static int bump(struct loam_db *db, void *ctx, loam_err *err)
{
	(*(int *)ctx)++;
	return loam_db_exec(db, "UPDATE kv SET n = n + 10", DB_NOARGS, NULL, err);
}

static void test_tx_busy(void)
{
	struct tdb t;
	tdb_fresh(&t, backend, "busy");
	struct loam_db *db = tdb_open(&t);
	loam_err err = NULL;
	CHECK_INT(loam_db_script(db,
				 "CREATE TABLE kv (k TEXT PRIMARY KEY, n BIGINT);"
				 "INSERT INTO kv VALUES ('a', 0)",
				 &err),
		  0);
	loam_db_set_busy_timeout(db, 20);
	/* Held briefly: the transaction waits, retries, and succeeds. */
	struct holder h = {.url = t.url, .hold_ms = 150};
	pthread_t th;
	pthread_create(&th, NULL, hold_lock, &h);
	while (!h.locked)
		usleep(1000);
	int calls = 0;
	CHECK_INT(loam_db_tx(db, bump, &calls, &err), 0);
	pthread_join(th, NULL);
	CHECK_INT(count(db, "SELECT n FROM kv"), 11);
	/* Held for longer than the retries last: "database is locked". */
	h = (struct holder){.url = t.url, .hold_ms = 20000};
	pthread_create(&th, NULL, hold_lock, &h);
	while (!h.locked)
		usleep(1000);
	calls = 0;
	CHECK_INT(loam_db_tx(db, bump, &calls, &err), -1);
	CHECK_INT(loam_err_kind_of(err), LOAM_E_UNAVAILABLE);
	CHECK_CONTAINS(loam_err_msg(err), "database is locked (");
	loam_err_free(&err);
	h.release = 1;
	pthread_join(th, NULL);
	CHECK_INT(count(db, "SELECT n FROM kv"), 1);
	loam_db_close(db);
	tdb_done(&t);
}

/* PostgreSQL only: a concurrent update between our read and our write is
 * a serialization failure (40001); the transaction runs again and wins. */
struct ser_ctx {
	struct loam_db *other;
	int calls;
};

static int read_then_write(struct loam_db *db, void *ctx, loam_err *err)
{
	struct ser_ctx *c = ctx;
	c->calls++;
	struct loam_db_rows *rows = NULL;
	if (loam_db_query(db, "SELECT n FROM kv WHERE k = 'a'", DB_NOARGS, &rows, err) < 0)
		return -1;
	int64_t n = loam_db_rows_int(rows, 0, 0);
	loam_db_rows_free(rows);
	if (c->calls == 1 &&
	    loam_db_exec(c->other, "UPDATE kv SET n = n + 100", DB_NOARGS, NULL, err) < 0)
		return -1;
	return loam_db_exec(db, "UPDATE kv SET n = ?", DB_ARGS(DB_INT(n + 1)), NULL, err);
}

static void test_tx_serialization_retry(void)
{
	if (backend != 1)
		return;
	struct tdb t;
	tdb_fresh(&t, backend, "ser");
	struct loam_db *db = tdb_open(&t);
	loam_err err = NULL;
	CHECK_INT(loam_db_script(db,
				 "CREATE TABLE kv (k TEXT PRIMARY KEY, n BIGINT);"
				 "INSERT INTO kv VALUES ('a', 0)",
				 &err),
		  0);
	struct ser_ctx c = {.other = tdb_open(&t)};
	CHECK_INT(loam_db_tx(db, read_then_write, &c, &err), 0);
	CHECK_INT(c.calls, 2);
	/* The second run saw the concurrent +100: no lost update. */
	CHECK_INT(count(db, "SELECT n FROM kv"), 101);
	loam_db_close(c.other);
	loam_db_close(db);
	tdb_done(&t);
}

static void test_sizes(void)
{
	struct tdb t;
	tdb_fresh(&t, backend, "sizes");
	struct loam_db *db = tdb_open_migrated(&t);
	loam_err err = NULL;
	CHECK_INT(loam_db_sync_sizes(db, &err), 0);
	CHECK_INT(loam_db_sync_sizes(db, &err), 0);
	CHECK_INT(count(db, "SELECT count(*) FROM size"), 12);
	CHECK_INT(
	    count(db, "SELECT memory_gib FROM size WHERE arch = 'arm64' AND name = 'standard-2'"),
	    6);
	CHECK_INT(
	    count(db, "SELECT memory_gib FROM size WHERE arch = 'arm64' AND name = 'standard-60'"),
	    192);
	CHECK_INT(
	    count(db, "SELECT memory_gib FROM size WHERE arch = 'x64' AND name = 'standard-2'"), 8);
	CHECK_INT(
	    count(db, "SELECT storage_gib FROM size WHERE arch = 'x64' AND name = 'standard-16'"),
	    160);
	loam_db_close(db);
	tdb_done(&t);
}

static void add_host(struct loam_db *db, const char *name, const char *location)
{
	char id[27];
	loam_db_new_id(id);
	loam_err err = NULL;
	if (loam_db_exec(db,
			 "INSERT INTO host (id, name, transport, location, arch, created_at) "
			 "VALUES (?, ?, 'ssh', ?, 'x64', 0)",
			 DB_ARGS(DB_TEXT(id), DB_TEXT(name), DB_TEXT(location)), NULL, &err) < 0)
		abort();
}

static void expect_refused(struct loam_db *db, struct loam_vm_spec spec, const char *msg)
{
	loam_err err = NULL;
	CHECK_INT(loam_vm_insert(db, &spec, NULL, &err), -1);
	CHECK_INT(loam_err_kind_of(err), LOAM_E_INVALID);
	CHECK_CONTAINS(loam_err_msg(err), msg);
	loam_err_free(&err);
	CHECK_INT(count(db, "SELECT count(*) FROM vm"), 1);
}

static void test_vm_insert(void)
{
	struct tdb t;
	tdb_fresh(&t, backend, "vm");
	struct loam_db *db = tdb_open_migrated(&t);
	loam_err err = NULL;
	CHECK_INT(loam_db_sync_sizes(db, &err), 0);
	add_host(db, "h1", "hel1");
	add_host(db, "h2", "fsn1");
	char id[27] = "";
	struct loam_vm_spec ok = {
	    .name = "web-1", .arch = "aarch64", .size = "standard-4", .location = "hel1"};
	CHECK_INT(loam_vm_insert(db, &ok, id, &err), 0);
	CHECK_INT(strlen(id), 26);
	struct loam_db_rows *rows = NULL;
	CHECK_INT(loam_db_query(db,
				"SELECT arch, vcpus, memory_gib, storage_gib, state, host_id "
				"FROM vm WHERE id = ?",
				DB_ARGS(DB_TEXT(id)), &rows, &err),
		  0);
	CHECK_STR(loam_db_rows_text(rows, 0, 0), "arm64");
	CHECK_INT(loam_db_rows_int(rows, 0, 1), 4);
	CHECK_INT(loam_db_rows_int(rows, 0, 2), 12);
	CHECK_INT(loam_db_rows_int(rows, 0, 3), 40);
	CHECK_STR(loam_db_rows_text(rows, 0, 4), "creating");
	CHECK(loam_db_rows_null(rows, 0, 5));
	loam_db_rows_free(rows);

	struct loam_vm_spec bad = ok;
	bad.name = "web-2";
	bad.arch = "i686";
	expect_refused(db, bad, "32-bit");
	bad.arch = "sparc64";
	expect_refused(db, bad, "arm64");
	bad.arch = "x64";
	bad.size = "standard-3";
	expect_refused(db, bad, "valid sizes: standard-2, standard-4");
	bad.size = "standard-2";
	bad.location = "nbg1";
	expect_refused(db, bad, "known locations: fsn1, hel1");
	bad.location = "hel1";
	bad.name = "a-name-that-is-far-too-long-to-be-a-dns-label-abcdefghijklmnopqrstuvwxyz";
	expect_refused(db, bad, "VM name");
	bad.name = "x;rm -rf /";
	expect_refused(db, bad, "VM name");
	/* A taken name is a conflict. */
	CHECK_INT(loam_vm_insert(db, &ok, NULL, &err), -1);
	CHECK_INT(loam_err_kind_of(err), LOAM_E_CONFLICT);
	loam_err_free(&err);
	CHECK_INT(count(db, "SELECT count(*) FROM vm"), 1);
	loam_db_close(db);
	tdb_done(&t);
}

static void test_bad_urls(void)
{
	struct loam_db *db = NULL;
	loam_err err = NULL;
	CHECK_INT(loam_db_open("mysql://x", &db, &err), -1);
	CHECK_INT(loam_err_kind_of(err), LOAM_E_INVALID);
	CHECK_CONTAINS(loam_err_msg(err), "sqlite:PATH");
	CHECK_INT(loam_db_open("sqlite:", &db, &err), -1);
	CHECK_INT(loam_err_kind_of(err), LOAM_E_INVALID);
	CHECK_INT(loam_db_open("postgresql://nobody@/nodb?host=/nonexistent-dir", &db, &err), -1);
	CHECK_INT(loam_err_kind_of(err), LOAM_E_UNAVAILABLE);
	loam_err_free(&err);
	char *url = loam_db_default_url("/srv/state");
	CHECK_STR(url, "sqlite:/srv/state/loam.db");
	free(url);
}

static void test_placeholders(void)
{
	size_t n = 0;
	char *s = loam_db_pg_placeholders("SELECT '?', \"a?\", 'it''s?', ? -- ?\n, ?", &n);
	CHECK_STR(s, "SELECT '?', \"a?\", 'it''s?', $1 -- ?\n, $2");
	CHECK_INT(n, 2);
	free(s);
}

static void test_ids(void)
{
	char a[27], b[27];
	loam_db_new_id(a);
	usleep(2000);
	loam_db_new_id(b);
	CHECK_INT(strlen(a), 26);
	CHECK(strcmp(a, b) < 0);
	CHECK(strspn(a, "0123456789abcdefghjkmnpqrstvwxyz") == 26);
}

int main(void)
{
	RUN(test_bad_urls);
	RUN(test_placeholders);
	RUN(test_ids);
	for (backend = tdb_first_backend(); backend < tdb_backends(); backend++) {
		printf("backend %s\n", tdb_backend_name(backend));
		RUN(test_migrate_twice);
		RUN(test_migrate_refuses_newer);
		RUN(test_migrate_concurrently);
		RUN(test_migrations_dir_override);
		RUN(test_exec_query);
		RUN(test_tx_commit_rollback);
		RUN(test_tx_busy);
		RUN(test_tx_serialization_retry);
		RUN(test_sizes);
		RUN(test_vm_insert);
	}
	if (tdb_backends() < 2)
		printf("note: LOAM_TEST_PG_URL unset, PostgreSQL cases skipped\n");
	return t_summary();
}
