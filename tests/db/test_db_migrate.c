/*
 * Migration 0004 (the arch table and the state CHECKs) on a database that
 * is in use: a schema at version 3 holding hosts, emulation, VMs, strands
 * and artifacts is migrated, and every row must come through unchanged,
 * with its indexes and foreign keys (cascades included) working on the
 * rebuilt tables, arch names checked through the arch table (a new arch is
 * one row, no schema change) and host and VM states through CHECKs. A
 * database whose rows break the new rules refuses the migration and stays
 * at version 3, untouched. Then migration 0005 (projects: VMs keep their
 * rows and land in the default project), 0006 (networking): each host
 * counts the VMs placed on it as addresses in use, and the new tables
 * check their rows; and migration 0008 (side-by-side versions) the same
 * way. Each runs only the migrations up to its own, so later ones do not
 * change what it checks. Runs on SQLite, and on PostgreSQL under
 * tests/with_pg.sh (test_db_migrate_pg).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arch/arch.h"
#include "db/db.h"
#include "db/migrate.h"
#include "db/records.h"
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

/* A fresh database migrated up to schema version `upto`. */
static struct loam_db *open_at(struct tdb *t, const char *tag, int upto)
{
	char dir[] = "/tmp/loam-migN.XXXXXX";
	write_migrations(dir, upto);
	setenv("LOAM_MIGRATIONS_DIR", dir, 1);
	tdb_fresh(t, backend, tag);
	struct loam_db *db = tdb_open_migrated(t);
	unsetenv("LOAM_MIGRATIONS_DIR");
	remove_migrations(dir);
	return db;
}

/* Migrates db with the embedded migrations up to `upto` only. */
static int migrate_to(struct loam_db *db, int upto, loam_err *err)
{
	char dir[] = "/tmp/loam-migto.XXXXXX";
	write_migrations(dir, upto);
	setenv("LOAM_MIGRATIONS_DIR", dir, 1);
	int rc = loam_db_migrate(db, err);
	unsetenv("LOAM_MIGRATIONS_DIR");
	remove_migrations(dir);
	/* as loamd's start-up does after migrating */
	return rc < 0 ? -1 : loam_db_sync_sizes(db, err);
}

/* A database at schema version 3 with the seed rows in it. */
static struct loam_db *open_at_v3(struct tdb *t, const char *tag)
{
	struct loam_db *db = open_at(t, tag, 3);
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
	CHECK_INT(migrate_to(db, 4, &err), 0);
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
	CHECK_INT(migrate_to(db, 4, &err), -1);
	CHECK_CONTAINS(loam_err_msg(err), "0004_");
	CHECK_INT(count(db, "SELECT max(version) FROM schema_version"), 3);
	cleanup_free char *after = digest(db);
	CHECK_STR(after, before);
	loam_db_close(db);
	tdb_done(&t);
}

/* The VM columns every migration since 0004 keeps, to compare a VM row
 * across 0005 (which adds project_id). */
#define VM_COLS                                                                                    \
	"SELECT id, name, arch, size, vcpus, cores, memory_gib, storage_gib, hugepages, "          \
	"location, boot_image, host_id, state, state_reason, guest_machine, created_at, "          \
	"allocated_at, provisioned_at, state_before_unavailable FROM vm ORDER BY id"

static char *rows_text(struct loam_db *db, const char *sql)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	cleanup_rows struct loam_db_rows *rows = NULL;
	cleanup_err loam_err err = NULL;
	if (loam_db_query(db, sql, DB_NOARGS, &rows, &err) < 0)
		fprintf(f, "%s", loam_err_msg(err));
	for (size_t r = 0; r < loam_db_rows_count(rows); r++)
		for (size_t c = 0; c < loam_db_rows_cols(rows); c++)
			fprintf(f, "%s%s", c ? "|" : "\n", loam_db_rows_text(rows, r, c));
	fclose(f);
	return out;
}

/* Migration 0005 (projects) on a database in use: VMs keep every column
 * and land in the default project, pins and their cascade survive the
 * rebuild, and names become unique per project. */
static void test_migrate_projects(void)
{
	struct tdb t;
	struct loam_db *db = open_at_v3(&t, "mig5");
	cleanup_err loam_err err = NULL;
	CHECK_INT(migrate_to(db, 4, &err), 0);
	cleanup_free char *vms_before = rows_text(db, VM_COLS);
	cleanup_free char *pins_before = rows_text(db, "SELECT * FROM vm_artifact");
	CHECK_INT(migrate_to(db, 5, &err), 0);
	if (err)
		fprintf(stderr, "  migrate: %s\n", loam_err_msg(err));
	CHECK_INT(count(db, "SELECT max(version) FROM schema_version"), 5);
	cleanup_free char *vms_after = rows_text(db, VM_COLS);
	cleanup_free char *pins_after = rows_text(db, "SELECT * FROM vm_artifact");
	CHECK_STR(vms_after, vms_before);
	CHECK_STR(pins_after, pins_before);
	CHECK_INT(count(db, "SELECT count(*) FROM vm WHERE project_id = "
			    "'0000000000000000000default'"),
		  2);
	CHECK_INT(count(db, "SELECT count(*) FROM project WHERE name = 'default'"), 1);
	check_indexes(db);
	CHECK_INT(exec(db, "INSERT INTO project (id, name, created_at) VALUES ('p2', 'two', 1)"),
		  0);
	CHECK_INT(exec(db, "INSERT INTO vm (id, project_id, name, arch, size, vcpus, memory_gib, "
			   "storage_gib, created_at) VALUES ('vm3', 'p2', 'web-1', 'x64', "
			   "'standard-2', 2, 8, 20, 1)"),
		  0);
	CHECK_INT(exec(db, "INSERT INTO vm (id, project_id, name, arch, size, vcpus, memory_gib, "
			   "storage_gib, created_at) VALUES ('vm4', 'p2', 'web-1', 'x64', "
			   "'standard-2', 2, 8, 20, 1)"),
		  -1);
	CHECK_INT(exec(db, "INSERT INTO vm (id, project_id, name, arch, size, vcpus, memory_gib, "
			   "storage_gib, created_at) VALUES ('vm5', 'nope', 'web-9', 'x64', "
			   "'standard-2', 2, 8, 20, 1)"),
		  -1);
	CHECK_INT(exec(db, "DELETE FROM vm WHERE id = 'vm1'"), 0);
	CHECK_INT(count(db, "SELECT count(*) FROM vm_artifact"), 0);
	CHECK_INT(exec(db, "INSERT INTO api_token (id, scope, sha256, hint, created_at) VALUES "
			   "('t1', 'project', 'ab', 'h', 1)"),
		  -1); /* a project token names its project */
	loam_db_close(db);
	tdb_done(&t);
}

/* 0006: addresses in use are the VMs placed; the new tables' rules. */
static void test_migrate_net(void)
{
	struct tdb t;
	struct loam_db *db = open_at_v3(&t, "mig6");
	cleanup_err loam_err err = NULL;
	CHECK_INT(migrate_to(db, 6, &err), 0);
	CHECK_INT(count(db, "SELECT max(version) FROM schema_version"), 6);
	CHECK_INT(count(db, "SELECT ipv4_used FROM host WHERE id = '" H1 "'"), 1);
	CHECK_INT(count(db, "SELECT ipv4_used FROM host WHERE id = '" H2 "'"), 0);
	CHECK_INT(count(db, "SELECT count(*) FROM host WHERE ipv4_pool = '10.200.0.0/16' AND "
			    "ipv6_prefix IS NULL AND egress = 0 AND ipv4_total = 65534"),
		  2);
#define NET_ROW(vm, slot)                                                                          \
	"INSERT INTO vm_net (vm_id, host_id, slot, mac, ipv4, ipv6, ipv6_prefix) VALUES ('" vm     \
	"', '" H1 "', " slot ", 'm', 'a', 'b', 'c')"
	CHECK_INT(exec(db, NET_ROW("vm1", "1")), 0);
	CHECK_INT(exec(db, NET_ROW("vm2", "1")), -1); /* one slot, one VM */
	CHECK_INT(exec(db, NET_ROW("vm2", "0")), -1);
	CHECK_INT(exec(db, "INSERT INTO vm_port (vm_id, port, proto) VALUES ('vm1', 80, 'tcp')"),
		  0);
	CHECK_INT(exec(db, "INSERT INTO vm_port (vm_id, port, proto) VALUES ('vm1', 0, 'tcp')"),
		  -1);
	CHECK_INT(exec(db, "INSERT INTO vm_port (vm_id, port, proto) VALUES ('vm1', 80, 'sctp')"),
		  -1);
	CHECK_INT(exec(db, "UPDATE host SET ipv4_used = -1"), -1);
	CHECK_INT(exec(db, "DELETE FROM vm_artifact WHERE vm_id = 'vm1'"), 0);
	CHECK_INT(exec(db, "DELETE FROM vm WHERE id = 'vm1'"), 0);
	CHECK_INT(count(db, "SELECT count(*) FROM vm_net"), 0);
	CHECK_INT(count(db, "SELECT count(*) FROM vm_port"), 0);
	loam_db_close(db);
	tdb_done(&t);
}

/*
 * Migration 0008 (side-by-side versions) on a database in use: a
 * debian-package row goes, every other row keeps its values with weight
 * 100, 'removing' is a state, a bundle's guest arches and a VMM's firmware
 * list hang off its row (and go with it), and a VM's pins take a next
 * version.
 */
static void test_migrate_0008(void)
{
	struct tdb t;
	struct loam_db *db = open_at(&t, "mig8", 7);
	cleanup_err loam_err err = NULL;
	CHECK_INT(loam_db_sync_sizes(db, &err), 0); /* the arch table, as loamd's start */
	for (size_t i = 0; seed_sql[i]; i++)
		if (!strstr(seed_sql[i], "INTO size"))
			CHECK_INT(exec(db, seed_sql[i]), 0);
	CHECK_INT(exec(db, "INSERT INTO host_artifact (host_id, component, name, version, arch, "
			   "kind, state, updated_at) VALUES ('" H1 "', 'vmm', 'qemu', '1:7.2', "
			   "'x64', 'debian-package', 'unavailable', 800)"),
		  0);
	CHECK_INT(loam_db_migrate(db, &err), 0);
	if (err)
		fprintf(stderr, "  migrate: %s\n", loam_err_msg(err));
	CHECK_INT(count(db, "SELECT count(*) FROM host_artifact"), 2);
	CHECK_INT(count(db, "SELECT count(*) FROM host_artifact WHERE weight = 100 AND "
			    "((version = '1.0' AND path = '/p/fw' AND installed_at = 600) OR "
			    "(version = '2' AND error = 'bad'))"),
		  2);
	CHECK_INT(exec(db, "UPDATE host_artifact SET state = 'removing' WHERE version = '1.0'"), 0);
	CHECK_INT(exec(db, "UPDATE host_artifact SET state = 'gone'"), -1);
	CHECK_INT(exec(db, "UPDATE host_artifact SET kind = 'debian-package'"), -1);
	CHECK_INT(exec(db, "UPDATE host_artifact SET weight = -1"), -1);
	CHECK_INT(exec(db, "INSERT INTO host_artifact_guest_arch (host_id, component, name, "
			   "version, arch, guest_arch) VALUES ('" H1 "', 'firmware', 'edk2', "
			   "'1.0', 'x64', 'arm64')"),
		  0);
	CHECK_INT(exec(db, "INSERT INTO host_artifact_guest_arch (host_id, component, name, "
			   "version, arch, guest_arch) VALUES ('" H1 "', 'firmware', 'edk2', "
			   "'9.9', 'x64', 'arm64')"),
		  -1); /* no such row */
	CHECK_INT(exec(db, "INSERT INTO host_artifact_firmware (host_id, component, name, "
			   "version, arch, firmware_name, firmware_version) VALUES ('" H1 "', "
			   "'firmware', 'edk2', '1.0', 'x64', 'edk2', '1.0')"),
		  0);
	CHECK_INT(count(db, "SELECT count(*) FROM vm_artifact WHERE next_version IS NULL"), 1);
	CHECK_INT(exec(db, "UPDATE vm_artifact SET next_name = 'edk2', next_version = '2.0', "
			   "next_arch = 'x64'"),
		  0);
	CHECK_INT(exec(db, "UPDATE vm_artifact SET next_arch = 'riscv128'"), -1);
	CHECK_INT(exec(db, "DELETE FROM host_artifact WHERE version = '1.0'"), 0);
	CHECK_INT(count(db, "SELECT count(*) FROM host_artifact_guest_arch"), 0);
	CHECK_INT(count(db, "SELECT count(*) FROM host_artifact_firmware"), 0);
	loam_db_close(db);
	tdb_done(&t);
}

int main(void)
{
	for (backend = tdb_first_backend(); backend < tdb_backends(); backend++) {
		printf("backend %s\n", tdb_backend_name(backend));
		RUN(test_migrate_in_use);
		RUN(test_migrate_refuses_bad_rows);
		RUN(test_migrate_projects);
		RUN(test_migrate_net);
		RUN(test_migrate_0008);
	}
	if (tdb_backends() < 2)
		printf("note: LOAM_TEST_PG_URL unset, PostgreSQL cases skipped\n");
	return t_summary();
}
