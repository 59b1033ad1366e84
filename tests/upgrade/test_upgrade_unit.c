/*
 * The pieces under `loam host upgrade` and `loam artifact gc`, on a real
 * SQLite database: which manifest entries an upgrade installs
 * (loam_artifact_upgrade_select), which installed version a new VM takes
 * (loam_artifact_pick_for_vm, the rule the VM prog relies on) while a pinned
 * VM keeps its own, and GC's plan with its reasons (loam_artifact_gc_plan).
 * Under tests/with_pg.sh (unit_pg.sh) the same checks run on PostgreSQL.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "artifact/upgrade.h"
#include "artifact/versions.h"
#include "db/records.h"
#include "lib/cleanup.h"
#include "lib/json.h"
#include "t.h"

static struct loam_db *db;

static const char manifest_text[] =
    "{\"entries\": ["
    "{\"component\": \"firmware\", \"name\": \"edk2\", \"version\": \"A\", \"arch\": \"x64\", "
    "\"kind\": \"file\", \"path\": \"f/a\", \"sha256\": "
    "\"0000000000000000000000000000000000000000000000000000000000000000\", \"size\": 1},"
    "{\"component\": \"firmware\", \"name\": \"edk2\", \"version\": \"A\", \"arch\": \"arm64\", "
    "\"kind\": \"file\", \"path\": \"f/a2\", \"sha256\": "
    "\"0000000000000000000000000000000000000000000000000000000000000000\", \"size\": 1},"
    "{\"component\": \"image\", \"name\": \"g\", \"version\": \"1\", \"arch\": \"x64\", "
    "\"kind\": \"file\", \"path\": \"i/1\", \"sha256\": "
    "\"0000000000000000000000000000000000000000000000000000000000000000\", \"size\": 1},"
    "{\"component\": \"firmware\", \"name\": \"edk2\", \"version\": \"B\", \"arch\": \"x64\", "
    "\"kind\": \"file\", \"path\": \"f/b\", \"sha256\": "
    "\"0000000000000000000000000000000000000000000000000000000000000000\", \"size\": 1}"
    "]}";

static void test_select(void)
{
	struct loam_artifact_manifest m = {0}, out = {0};
	cleanup_err loam_err err = NULL;
	CHECK_INT(loam_artifact_manifest_parse(manifest_text, strlen(manifest_text), &m, &err), 0);
	const char *x64[] = {"x64", NULL}, *both[] = {"x64", "arm64", NULL};

	CHECK_INT(loam_artifact_upgrade_select(&m, x64, NULL, NULL, &out, &err), 0);
	CHECK_INT((int)out.count, 2); /* the newest of each line: image 1, edk2 B */
	CHECK_STR(out.entries[0].version, "1");
	CHECK_STR(out.entries[1].version, "B");
	free(out.entries);

	CHECK_INT(loam_artifact_upgrade_select(&m, both, "firmware", NULL, &out, &err), 0);
	CHECK_INT((int)out.count, 2); /* arm64 A (its newest), x64 B */
	CHECK_STR(out.entries[0].arch, "arm64");
	CHECK_STR(out.entries[1].version, "B");
	free(out.entries);

	CHECK_INT(loam_artifact_upgrade_select(&m, x64, "firmware", "A", &out, &err), 0);
	CHECK_INT((int)out.count, 1);
	CHECK_STR(out.entries[0].version, "A");
	free(out.entries);
	out = (struct loam_artifact_manifest){0};

	CHECK_INT(loam_artifact_upgrade_select(&m, x64, "bios", NULL, &out, &err), -1);
	CHECK_INT(loam_err_kind_of(err), LOAM_E_INVALID);
	CHECK_CONTAINS(loam_err_msg(err), "unknown component 'bios'");
	loam_err_free(&err);
	CHECK_INT(loam_artifact_upgrade_select(&m, x64, "firmware", "C", &out, &err), -1);
	CHECK_CONTAINS(loam_err_msg(err), "no firmware version C for arch x64; it has: A, B");
	loam_err_free(&err);
	CHECK(out.entries == NULL && out.count == 0);
	loam_artifact_manifest_free(&m);
}

static void exec_ok(const char *sql, const struct loam_db_val *args, size_t n)
{
	cleanup_err loam_err err = NULL;
	CHECK_INT(loam_db_exec(db, sql, args, n, NULL, &err), 0);
	if (err)
		fprintf(stderr, "  %s\n", loam_err_msg(err));
}

static void install_row(const char *component, const char *version, const char *kind, int64_t at)
{
	exec_ok(
	    "INSERT INTO host_artifact (host_id, component, name, version, arch, kind, state, "
	    "installed_at, updated_at) VALUES ('h1', ?, 'edk2', ?, 'x64', ?, 'installed', ?, ?)",
	    DB_ARGS(DB_TEXT(component), DB_TEXT(version), DB_TEXT(kind), DB_INT(at), DB_INT(at)));
}

static void add_vm(const char *id)
{
	exec_ok("INSERT INTO vm (id, name, arch, size, vcpus, memory_gib, storage_gib, host_id, "
		"state, created_at) SELECT ?, ?, 'x64', name, vcpus, memory_gib, 1, 'h1', "
		"'running', 0 FROM size WHERE arch = 'x64' ORDER BY name LIMIT 1",
		DB_ARGS(DB_TEXT(id), DB_TEXT(id)));
}

static char *vm_firmware(const char *vm)
{
	cleanup_rows struct loam_db_rows *rows = NULL;
	cleanup_err loam_err err = NULL;
	CHECK_INT(loam_db_query(db,
				"SELECT version FROM vm_artifact WHERE vm_id = ? AND component = "
				"'firmware'",
				DB_ARGS(DB_TEXT(vm)), &rows, &err),
		  0);
	return rows && loam_db_rows_count(rows) ? strdup(loam_db_rows_text(rows, 0, 0)) : NULL;
}

/* As the VM prog pins a VM: for each component, the version
 * loam_artifact_pick_for_vm picks, recorded once (a VM that has a pin keeps
 * it). */
static int pin_vm(const char *vm)
{
	static const char *const components[] = {"vmm", "firmware", "image", "storage"};
	cleanup_err loam_err err = NULL;
	for (size_t i = 0; i < 4; i++) {
		cleanup_free char *name = NULL, *version = NULL;
		int found = loam_artifact_pick_for_vm(db, "h1", "x64", components[i], &name,
						      &version, &err);
		if (found < 0)
			return -1;
		if (found && loam_db_exec(db,
					  "INSERT INTO vm_artifact (vm_id, component, name, "
					  "version, arch) VALUES (?, ?, ?, ?, 'x64') "
					  "ON CONFLICT (vm_id, component) DO NOTHING",
					  DB_ARGS(DB_TEXT(vm), DB_TEXT(components[i]),
						  DB_TEXT(name), DB_TEXT(version)),
					  NULL, &err) < 0)
			return -1;
	}
	return 0;
}

static void test_pick_newest_installed(void)
{
	cleanup_err loam_err err = NULL;
	exec_ok("INSERT INTO host (id, name, transport, arch, created_at) "
		"VALUES ('h1', 'host-one', 'local', 'x64', 0)",
		DB_NOARGS);
	cleanup_free char *name = NULL, *version = NULL;
	CHECK_INT(loam_artifact_pick_for_vm(db, "h1", "x64", "firmware", &name, &version, &err), 0);
	CHECK(name == NULL && version == NULL);

	install_row("firmware", "A", "file", 100);
	install_row("image", "1", "file", 100);
	add_vm("vm-old");
	CHECK_INT(pin_vm("vm-old"), 0);
	cleanup_free char *old = vm_firmware("vm-old");
	CHECK_STR(old ? old : "", "A");

	install_row("firmware", "B", "file", 200); /* the upgrade, side by side */
	CHECK_INT(loam_artifact_pick_for_vm(db, "h1", "x64", "firmware", &name, &version, &err), 1);
	CHECK_STR(name ? name : "", "edk2");
	CHECK_STR(version ? version : "", "B");
	add_vm("vm-new");
	CHECK_INT(pin_vm("vm-new"), 0);
	CHECK_INT(pin_vm("vm-old"), 0); /* a restart */
	cleanup_free char *old_after = vm_firmware("vm-old"), *new_vm = vm_firmware("vm-new");
	CHECK_STR(old_after ? old_after : "", "A");
	CHECK_STR(new_vm ? new_vm : "", "B");
}

/* The versions in plan[list], in order, as "A,B". */
static void plan_versions(const json_t *plan, const char *list, char *buf, size_t size)
{
	const json_t *e;
	size_t i;
	buf[0] = '\0';
	json_array_foreach(json_object_get(plan, list), i, e)
	{
		if (i)
			strncat(buf, ",", size - strlen(buf) - 1);
		strncat(buf, json_string_value(json_object_get(e, "version")),
			size - strlen(buf) - 1);
	}
}

static const char *reason_of(const json_t *plan, const char *version)
{
	const json_t *e;
	size_t i;
	json_array_foreach(json_object_get(plan, "keep"), i, e)
	{
		if (strcmp(json_string_value(json_object_get(e, "version")), version) == 0)
			return json_string_value(json_object_get(e, "reason"));
	}
	return "";
}

static void test_gc_plan(void)
{
	cleanup_err loam_err err = NULL;
	char rm[128], keep[128];
	cleanup_json json_t *plan = NULL;
	CHECK_INT(loam_artifact_gc_plan(db, "h1", &plan, &err), 0);
	plan_versions(plan, "remove", rm, sizeof rm);
	CHECK_STR(rm, ""); /* A: vm-old, B: vm-new and newest */

	install_row("firmware", "C", "file", 300);
	install_row("vmm", "Q", "debian-package", 50);
	exec_ok("DELETE FROM vm WHERE id = 'vm-new'", DB_NOARGS);
	json_decref(plan);
	CHECK_INT(loam_artifact_gc_plan(db, "h1", &plan, &err), 0);
	plan_versions(plan, "remove", rm, sizeof rm);
	plan_versions(plan, "keep", keep, sizeof keep);
	CHECK_STR(rm, "B");
	CHECK_STR(keep, "A,C,1,Q"); /* ordered by component, arch, name, install time */
	CHECK_CONTAINS(reason_of(plan, "A"), "in use");
	CHECK_CONTAINS(reason_of(plan, "C"), "newest");
	CHECK_CONTAINS(reason_of(plan, "Q"), "debian-package");
	CHECK_CONTAINS(reason_of(plan, "1"), "in use"); /* vm-old pinned the image too */
}

int main(void)
{
	char dir[] = "/tmp/loam-upgrade-unit-XXXXXX";
	if (!mkdtemp(dir))
		return 1;
	char url[256];
	snprintf(url, sizeof url, "sqlite:%s/loam.db", dir);
	const char *pg = getenv("LOAM_TEST_PG_URL"); /* set by tests/with_pg.sh */
	cleanup_err loam_err err = NULL;
	if (loam_db_open(pg ? pg : url, &db, &err) < 0 || loam_db_migrate(db, &err) < 0 ||
	    loam_db_sync_sizes(db, &err) < 0) {
		fprintf(stderr, "db: %s\n", loam_err_msg(err));
		return 1;
	}
	RUN(test_select);
	RUN(test_pick_newest_installed);
	RUN(test_gc_plan);
	loam_db_close(db);
	char path[300];
	snprintf(path, sizeof path, "%s/loam.db", dir);
	unlink(path);
	snprintf(path, sizeof path, "%s/loam.db-wal", dir);
	unlink(path);
	snprintf(path, sizeof path, "%s/loam.db-shm", dir);
	unlink(path);
	rmdir(dir);
	return t_summary();
}
