/*
 * Leases are stamped and compared with the database's clock, not each
 * loamd's (issue 16, item 7), on SQLite and on PostgreSQL: this process's
 * own clock is set an hour ahead ($LOAM_TEST_CLOCK_SKEW_MS, test builds
 * only), and
 *   - a label sees its lease run out lease_ms after the database's now,
 *     not an hour later;
 *   - a lease another loamd took, valid for a minute by the database's
 *     clock, is not taken over, although this process's clock says it ran
 *     out long ago.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/migrate.h"
#include "db/tdb.h"
#include "engine/engine.h"
#include "lib/cleanup.h"
#include "t.h"

#ifdef LOAM_TEST_BUILD

#define LEASE_MS 30000
#define SKEW_MS	 3600000

static int64_t lease_left_ms = -1;

static int clock_label(struct loam_strand_ctx *ctx, struct loam_outcome *out, loam_err *err)
{
	cleanup_rows struct loam_db_rows *r = NULL;
	int64_t db_now = 0;
	if (loam_db_clock_ms(ctx->db, &db_now, err) < 0 ||
	    loam_db_query(ctx->db, "SELECT lease_expires_at FROM strand WHERE id = ?",
			  DB_ARGS(DB_TEXT(ctx->id)), &r, err) < 0)
		return -1;
	lease_left_ms = loam_db_rows_int(r, 0, 0) - db_now;
	*out = loam_pop(NULL);
	return 0;
}

static const struct loam_label clock_labels[] = {{"start", clock_label, 0, NULL}, {0}};
static const struct loam_prog clock_prog = {"t_clock", clock_labels, NULL, NULL};

static void test_lease_is_stamped_by_the_database(int backend)
{
	struct tdb t;
	tdb_fresh(&t, backend, "lease_clock");
	struct loam_db *db = tdb_open_migrated(&t);
	cleanup_err loam_err err = NULL;
	char id[27];
	CHECK_INT(loam_strand_create(db, "t_clock", NULL, NULL, NULL, id, &err), 0);
	lease_left_ms = -1;
	CHECK_INT(loam_engine_run_one(db, "me", LEASE_MS, NULL, &err), 1);
	printf("  lease left when the label ran: %lld ms (lease %d ms, own clock +%d ms)\n",
	       (long long)lease_left_ms, LEASE_MS, SKEW_MS);
	CHECK(lease_left_ms > LEASE_MS - 10000 && lease_left_ms <= LEASE_MS);
	loam_db_close(db);
	tdb_done(&t);
}

static void test_valid_lease_is_not_taken(int backend)
{
	struct tdb t;
	tdb_fresh(&t, backend, "lease_taken");
	struct loam_db *db = tdb_open_migrated(&t);
	cleanup_err loam_err err = NULL;
	char id[27];
	CHECK_INT(loam_strand_create(db, "t_clock", NULL, NULL, NULL, id, &err), 0);
	int64_t db_now = 0;
	CHECK_INT(loam_db_clock_ms(db, &db_now, &err), 0);
	CHECK(loam_db_now_ms() - db_now > SKEW_MS - 60000);
	CHECK_INT(loam_db_exec(db,
			       "UPDATE strand SET lease_owner = 'other/0', lease_token = 'x', "
			       "lease_expires_at = ? WHERE id = ?",
			       DB_ARGS(DB_INT(db_now + 60000), DB_TEXT(id)), NULL, &err),
		  0);
	CHECK_INT(loam_engine_run_one(db, "me", LEASE_MS, NULL, &err), 0);
	CHECK_INT(loam_db_exec(db, "UPDATE strand SET lease_expires_at = ? WHERE id = ?",
			       DB_ARGS(DB_INT(db_now - 1000), DB_TEXT(id)), NULL, &err),
		  0);
	CHECK_INT(loam_engine_run_one(db, "me", LEASE_MS, NULL, &err), 1);
	loam_db_close(db);
	tdb_done(&t);
}

static void run_case(const char *name, void (*fn)(int backend), int backend)
{
	t_current = name;
	int before = t_failed_checks;
	fn(backend);
	t_tests_run++;
	t_tests_failed += t_failed_checks != before;
}

int main(void)
{
	setenv("LOAM_TEST_CLOCK_SKEW_MS", "3600000", 1);
	loam_engine_register(&clock_prog);
	for (int b = tdb_first_backend(); b < tdb_backends(); b++) {
		printf("backend %s\n", tdb_backend_name(b));
		run_case("test_lease_is_stamped_by_the_database",
			 test_lease_is_stamped_by_the_database, b);
		run_case("test_valid_lease_is_not_taken", test_valid_lease_is_not_taken, b);
	}
	return t_summary();
}

#else

int main(void)
{
	t_current = "skip";
	printf("SKIP: the clock skew needs a test build (build/check)\n");
	return t_failed_checks ? 1 : 77;
}

#endif
