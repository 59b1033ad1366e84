/*
 * Migration 0004 (the arch table and the state CHECKs) on a database that
 * is in use: a schema at version 3 holding hosts, emulation, VMs, strands
 * and artifacts is migrated, and every row must come through unchanged,
 * with its indexes and foreign keys (cascades included) working on the
 * rebuilt tables, arch names checked through the arch table (a new arch is
 * one row, no schema change) and host and VM states through CHECKs. A
 * database whose rows break the new rules refuses the migration and stays
 * at version 3, untouched. Runs on SQLite, and on PostgreSQL under
 * tests/with_pg.sh (test_db_migrate_pg).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arch/arch.h"
#include "db/db.h"
#include "db/migrate.h"
#include "lib/cleanup.h"
#include "t.h"
#include "tdb.h"

static int backend;

#define H1 "h1aaaaaaaaaaaaaaaaaaaaaaaa"
#define H2 "h2aaaaaaaaaaaaaaaaaaaaaaaa"

static const char *const seed_sql[] = {
    "INSERT INTO size (arch, name, vcpus, memory_gib, storage_gib) VALUES "
    "('x64', 'standard-2', 2, 8, 20), ('arm64', 'standard-2', 2, 6, 20)",
    "INSERT INTO host (id, name, transport, address, arch, allocation_state, cpus, "
    "total_cores, total_mem_gib, kvm, accel, cpu_overcommit, used_cores, used_memory_gib, "
    "facts, agent_path, created_at, last_seen_at, state_reason, state_before_unreachable) "
    "VALUES ('" H1 "', 'one', 'ssh', '10.0.0.1', 'x64', 'unreachable', 8, 4, 32, 1, 'kvm', "
    "1.5, 2, 8, '{\"cpus\":8}', '/a/loam-host', 100, 200, 'timeout', 'draining')",
    "INSERT INTO host (id, name, transport, created_at) VALUES ('" H2 "', 'two', 'local', 300)",
    "INSERT INTO host_emulation (host_id, arch) VALUES ('" H1 "', 'arm64')",
    "INSERT INTO vm (id, name, arch, size, vcpus, cores, memory_gib, storage_gib, host_id, "
    "state, state_before_unavailable, created_at, allocated_at) VALUES ('vm1', 'web-1', "
    "'x64', 'standard-2', 2, 1, 8, 20, '" H1 "', 'unavailable', 'running', 400, 410)",
    "INSERT INTO vm (id, name, arch, size, vcpus, memory_gib, storage_gib, state, "
    "boot_image, created_at) VALUES ('vm2', 'web-2', 'arm64', 'standard-2', 2, 6, 20, "
    "'waiting', 'debian-12', 500)",
    "INSERT INTO host_artifact (host_id, component, name, version, arch, kind, path, sha256, "
    "state, installed_at, updated_at) VALUES ('" H1 "', 'firmware', 'edk2', '1.0', 'x64', "
    "'tarball', '/p/fw', 'ab', 'installed', 600, 600)",
    "INSERT INTO host_artifact (host_id, component, name, version, arch, kind, state, error, "
    "updated_at) VALUES ('" H1 "', 'image', 'g', '2', 'arm64', 'file', 'failed', 'bad', 700)",
    "INSERT INTO vm_artifact (vm_id, component, name, version, arch) VALUES "
    "('vm1', 'firmware', 'edk2', '1.0', 'x64')",
    "INSERT INTO strand (id, prog, label, stack, schedule, label_since, created_at, "
    "updated_at) VALUES ('" H1 "', 'cloudify', 'wait', '[]', 1, 1, 1, 1)",
    "INSERT INTO strand_signal (strand_id, name, created_at) VALUES ('" H1 "', 'install', 2)",
    NULL,
};

/* Table, and an ORDER BY that makes its rows' order total. */
static const char *const tables[][2] = {
    {"host", "id"},
    {"host_emulation", "host_id, arch"},
    {"vm", "id"},
    {"host_artifact", "host_id, component, name, version, arch"},
    {"vm_artifact", "vm_id, component"},
    {"strand", "id"},
    {"strand_signal", "strand_id, name"},
    {"size", "arch, name"},
};

static int exec(struct loam_db *db, const char *sql)
{
	cleanup_err loam_err err = NULL;
	int rc = loam_db_exec(db, sql, DB_NOARGS, NULL, &err);
	if (rc < 0 && getenv("T_VERBOSE"))
		fprintf(stderr, "  %s: %s\n", sql, loam_err_msg(err));
	return rc;
}

static int64_t count(struct loam_db *db, const char *sql)
{
	cleanup_rows struct loam_db_rows *rows = NULL;
	cleanup_err loam_err err = NULL;
	if (loam_db_query(db, sql, DB_NOARGS, &rows, &err) < 0) {
		fprintf(stderr, "count: %s: %s\n", sql, loam_err_msg(err));
		return -1;
	}
	return loam_db_rows_int(rows, 0, 0);
}

/* Every column name and value of every table, in a fixed order. */
static char *digest(struct loam_db *db)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	for (size_t t = 0; t < sizeof(tables) / sizeof(tables[0]); t++) {
		char sql[256];
		snprintf(sql, sizeof(sql), "SELECT * FROM %s ORDER BY %s", tables[t][0],
			 tables[t][1]);
		cleanup_rows struct loam_db_rows *rows = NULL;
		cleanup_err loam_err err = NULL;
		if (loam_db_query(db, sql, DB_NOARGS, &rows, &err) < 0) {
			fprintf(f, "%s: %s\n", tables[t][0], loam_err_msg(err));
			continue;
		}
		fprintf(f, "%s:", tables[t][0]);
		for (size_t c = 0; c < loam_db_rows_cols(rows); c++)
			fprintf(f, " %s", loam_db_rows_name(rows, c));
		for (size_t r = 0; r < loam_db_rows_count(rows); r++)
			for (size_t c = 0; c < loam_db_rows_cols(rows); c++)
				fprintf(f, "%s%s", c ? "|" : "\n  ",
					loam_db_rows_null(rows, r, c)
					    ? "(null)"
					    : loam_db_rows_text(rows, r, c));
		fputc('\n', f);
	}
	fclose(f);
	return out;
}

/* The embedded migrations up to `upto`, as files in a fresh directory. */
static void write_migrations(char *dir, int upto)
{
	CHECK(mkdtemp(dir) != NULL);
	for (const struct loam_migration *m = loam_embedded_migrations; m->name; m++) {
		if (atoi(m->name) > upto)
			continue;
		char path[256];
		snprintf(path, sizeof(path), "%s/%s", dir, m->name);
		FILE *f = fopen(path, "w");
		CHECK(f != NULL);
		if (f) {
			fputs(m->sql, f);
			fclose(f);
		}
	}
}

static void remove_migrations(const char *dir)
{
	for (const struct loam_migration *m = loam_embedded_migrations; m->name; m++) {
		char path[256];
		snprintf(path, sizeof(path), "%s/%s", dir, m->name);
		unlink(path);
	}
	rmdir(dir);
}

/* A database at schema version 3 with the seed rows in it. */
static struct loam_db *open_at_v3(struct tdb *t, const char *tag)
{
	char dir[] = "/tmp/loam-mig3.XXXXXX";
	write_migrations(dir, 3);
	setenv("LOAM_MIGRATIONS_DIR", dir, 1);
	tdb_fresh(t, backend, tag);
	struct loam_db *db = tdb_open_migrated(t);
	unsetenv("LOAM_MIGRATIONS_DIR");
	remove_migrations(dir);
	CHECK_INT(count(db, "SELECT max(version) FROM schema_version"), 3);
	for (size_t i = 0; seed_sql[i]; i++)
		CHECK_INT(exec(db, seed_sql[i]), 0);
	return db;
}

static void check_indexes(struct loam_db *db)
{
	const char *sql =
	    backend == 0
		? "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name IN "
		  "('vm_host', 'host_place', 'vm_artifact_version')"
		: "SELECT count(*) FROM pg_indexes WHERE schemaname = current_schema() AND "
		  "indexname IN ('vm_host', 'host_place', 'vm_artifact_version')";
	CHECK_INT(count(db, sql), 3);
	const char *leftovers =
	    backend == 0
		? "SELECT count(*) FROM sqlite_master WHERE sql LIKE '%\\_new%' ESCAPE '\\'"
		: "SELECT count(*) FROM information_schema.tables WHERE table_schema = "
		  "current_schema() AND table_name LIKE '%\\_new'";
	CHECK_INT(count(db, leftovers), 0);
	if (backend == 0)
		CHECK_INT(count(db, "SELECT count(*) FROM pragma_foreign_key_check"), 0);
}

/* The rules the rebuilt tables enforce, and the cascades they keep. */
static void check_constraints(struct loam_db *db)
{
	/* Start-up seeded the arch table from the registry. */
	for (size_t i = 0; loam_arches[i]; i++) {
		char sql[128];
		snprintf(sql, sizeof(sql), "SELECT count(*) FROM arch WHERE name = '%s'",
			 loam_arches[i]->name);
		CHECK_INT(count(db, sql), 1);
	}
	CHECK_INT(exec(db, "UPDATE host SET arch = 'riscv64' WHERE id = '" H2 "'"), -1);
	CHECK_INT(exec(db, "INSERT INTO arch (name) VALUES ('riscv64')"), 0);
	CHECK_INT(exec(db, "UPDATE host SET arch = 'riscv64' WHERE id = '" H2 "'"), 0);
	CHECK_INT(exec(db, "UPDATE host SET allocation_state = 'bogus'"), -1);
	CHECK_INT(exec(db, "UPDATE vm SET state = 'bogus'"), -1);
	CHECK_INT(exec(db, "UPDATE vm SET state_before_unavailable = 'bogus'"), -1);
	CHECK_INT(exec(db, "UPDATE vm SET host_id = 'nope' WHERE id = 'vm2'"), -1);
	CHECK_INT(exec(db, "UPDATE vm SET size = 'standard-3' WHERE id = 'vm2'"), -1);
	CHECK_INT(exec(db, "INSERT INTO vm_artifact (vm_id, component, name, version, arch) "
			   "VALUES ('nope', 'image', 'g', '1', 'x64')"),
		  -1);
	CHECK_INT(exec(db, "DELETE FROM host WHERE id = '" H1 "'"), -1); /* vm1 is on it */
	CHECK_INT(exec(db, "DELETE FROM vm WHERE id = 'vm1'"), 0);
	CHECK_INT(count(db, "SELECT count(*) FROM vm_artifact"), 0);
	CHECK_INT(exec(db, "DELETE FROM host WHERE id = '" H1 "'"), 0);
	CHECK_INT(count(db, "SELECT count(*) FROM host_emulation"), 0);
	CHECK_INT(count(db, "SELECT count(*) FROM host_artifact"), 0);
}

static void test_migrate_in_use(void)
{
	struct tdb t;
	struct loam_db *db = open_at_v3(&t, "mig4");
	cleanup_free char *before = digest(db);
	cleanup_err loam_err err = NULL;
	CHECK_INT(loam_db_migrate(db, &err), 0);
	if (err)
		fprintf(stderr, "  migrate: %s\n", loam_err_msg(err));
	CHECK_INT(count(db, "SELECT max(version) FROM schema_version"), 4);
	/* Start-up added the registry's sizes; compare the rest as they were. */
	CHECK_INT(count(db, "SELECT count(*) FROM size"), 12);
	CHECK_INT(exec(db, "DELETE FROM size WHERE NOT (name = 'standard-2')"), 0);
	cleanup_free char *after = digest(db);
	CHECK_STR(after, before);
	check_indexes(db);
	check_constraints(db);
	loam_db_close(db);
	tdb_done(&t);
}

/* Rows the new CHECKs refuse: the migration fails whole and changes nothing. */
static void test_migrate_refuses_bad_rows(void)
{
	struct tdb t;
	struct loam_db *db = open_at_v3(&t, "mig4bad");
	CHECK_INT(exec(db, "UPDATE vm SET state = 'exploded' WHERE id = 'vm2'"), 0);
	cleanup_free char *before = digest(db);
	cleanup_err loam_err err = NULL;
	CHECK_INT(loam_db_migrate(db, &err), -1);
	CHECK_CONTAINS(loam_err_msg(err), "0004_");
	CHECK_INT(count(db, "SELECT max(version) FROM schema_version"), 3);
	cleanup_free char *after = digest(db);
	CHECK_STR(after, before);
	loam_db_close(db);
	tdb_done(&t);
}

int main(void)
{
	for (backend = tdb_first_backend(); backend < tdb_backends(); backend++) {
		printf("backend %s\n", tdb_backend_name(backend));
		RUN(test_migrate_in_use);
		RUN(test_migrate_refuses_bad_rows);
	}
	if (tdb_backends() < 2)
		printf("note: LOAM_TEST_PG_URL unset, PostgreSQL cases skipped\n");
	return t_summary();
}
