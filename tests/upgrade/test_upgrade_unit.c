/*
 * The pieces under `loam host upgrade` and `loam artifact gc`, on a real
 * SQLite database: which manifest entries an upgrade installs
 * (loam_artifact_upgrade_select), which installed version a new VM takes
 * (loam_host_artifact_pick: weights, guest arches; the rule the VM prog
 * pins through) while a pinned VM keeps its own, VMM/firmware pairs and
 * `loam vm upgrade` (artifact/vm_pins.h), drain, and GC's plan with its
 * reasons (loam_artifact_gc_plan).
 * Under tests/with_pg.sh (unit_pg.sh) the same checks run on PostgreSQL.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "artifact/upgrade.h"
#include "artifact/versions.h"
#include "artifact/vm_pins.h"
#include "db/host_artifact.h"
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

static char *pinned(const char *vm, const char *component, bool next)
{
	cleanup_rows struct loam_db_rows *rows = NULL;
	cleanup_err loam_err err = NULL;
	CHECK_INT(loam_db_query(db,
				next ? "SELECT next_version FROM vm_artifact WHERE vm_id = ? AND "
				       "component = ?"
				     : "SELECT version FROM vm_artifact WHERE vm_id = ? AND "
				       "component = ?",
				DB_ARGS(DB_TEXT(vm), DB_TEXT(component)), &rows, &err),
		  0);
	return rows && loam_db_rows_count(rows) && !loam_db_rows_null(rows, 0, 0)
		   ? strdup(loam_db_rows_text(rows, 0, 0))
		   : strdup("");
}

static char *vm_firmware(const char *vm)
{
	return pinned(vm, "firmware", false);
}

static struct loam_artifact_vm vm_of(const char *id)
{
	return (struct loam_artifact_vm){.id = id,
					 .name = id,
					 .host_id = "h1",
					 .host_name = "host-one",
					 .arch = "x64",
					 .image = "edk2"};
}

/* As the VM prog pins a VM when it starts. */
static int pin_vm(const char *vm)
{
	cleanup_err loam_err err = NULL;
	struct loam_artifact_vm v = vm_of(vm);
	int rc = loam_artifact_pin_vm(db, &v, &err);
	if (rc < 0)
		fprintf(stderr, "  pin %s: %s\n", vm, loam_err_msg(err));
	return rc;
}

static void test_pick_newest_installed(void)
{
	cleanup_err loam_err err = NULL;
	exec_ok("INSERT INTO host (id, name, transport, arch, created_at) "
		"VALUES ('h1', 'host-one', 'local', 'x64', 0)",
		DB_NOARGS);
	struct loam_artifact_pick p = {0};
	CHECK_INT(loam_host_artifact_pick(db, "h1", "x64", "firmware", &p, &err), 0);
	CHECK(p.name == NULL && p.version == NULL);

	install_row("firmware", "A", "file", 100);
	install_row("image", "1", "file", 100);
	add_vm("vm-old");
	CHECK_INT(pin_vm("vm-old"), 0);
	cleanup_free char *old = vm_firmware("vm-old");
	CHECK_STR(old, "A");

	install_row("firmware", "B", "file", 200); /* the upgrade, side by side */
	CHECK_INT(loam_host_artifact_pick(db, "h1", "x64", "firmware", &p, &err), 1);
	CHECK_STR(p.name ? p.name : "", "edk2");
	CHECK_STR(p.version ? p.version : "", "B");
	loam_artifact_pick_free(&p);
	add_vm("vm-new");
	CHECK_INT(pin_vm("vm-new"), 0);
	CHECK_INT(pin_vm("vm-old"), 0); /* a restart */
	cleanup_free char *old_after = vm_firmware("vm-old"), *new_vm = vm_firmware("vm-new");
	CHECK_STR(old_after, "A");
	CHECK_STR(new_vm, "B");
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
	exec_ok("DELETE FROM vm WHERE id = 'vm-new'", DB_NOARGS);
	json_decref(plan);
	CHECK_INT(loam_artifact_gc_plan(db, "h1", &plan, &err), 0);
	plan_versions(plan, "remove", rm, sizeof rm);
	plan_versions(plan, "keep", keep, sizeof keep);
	CHECK_STR(rm, "B");
	CHECK_STR(keep, "A,C,1"); /* ordered by component, arch, name, install time */
	CHECK_CONTAINS(reason_of(plan, "A"), "in use");
	CHECK_CONTAINS(reason_of(plan, "C"), "newest");
	CHECK_CONTAINS(reason_of(plan, "1"), "in use"); /* vm-old pinned the image too */

	/* B weighing more than C: new VMs take B, so it stays */
	exec_ok("UPDATE host_artifact SET weight = 150 WHERE version = 'B'", DB_NOARGS);
	json_decref(plan);
	CHECK_INT(loam_artifact_gc_plan(db, "h1", &plan, &err), 0);
	plan_versions(plan, "remove", rm, sizeof rm);
	CHECK_STR(rm, "");
	CHECK_CONTAINS(reason_of(plan, "B"), "highest weight");
	exec_ok("UPDATE host_artifact SET weight = 100 WHERE version = 'B'", DB_NOARGS);
}

/* A vmm or storage bundle for x64 hosts serving x64 guests, installed at
 * `at`; a vmm lists the firmware versions in fw ("A,B"). */
static void install_bundle(const char *component, const char *name, const char *version,
			   const char *fw, int64_t at)
{
	static const char *const guests[] = {"x64", NULL};
	const char *names[4] = {0}, *versions[4] = {0};
	char list[64];
	snprintf(list, sizeof list, "%s", fw ? fw : "");
	size_t n = 0;
	char *save = NULL;
	for (char *v = strtok_r(list, ",", &save); v && n < 4; v = strtok_r(NULL, ",", &save)) {
		names[n] = "edk2";
		versions[n++] = v;
	}
	struct loam_artifact_meta meta = {guests, names, versions, n};
	struct loam_artifact_key k = {component, name, version, "x64"};
	cleanup_err loam_err err = NULL;
	CHECK_INT(
	    loam_host_artifact_mark_installing(db, "h1", &k, "tarball", "ab", &meta, NULL, &err),
	    0);
	CHECK_INT(loam_host_artifact_record(db, "h1", &k, "installed", "/b", NULL, &err), 0);
	exec_ok("UPDATE host_artifact SET installed_at = ? WHERE host_id = 'h1' AND "
		"component = ? AND version = ?",
		DB_ARGS(DB_INT(at), DB_TEXT(component), DB_TEXT(version)));
}

/* vm upgrade; returns its error message ("" when it worked). */
static char *upgrade(const char *vm, const char *component)
{
	cleanup_err loam_err err = NULL;
	struct loam_artifact_vm v = vm_of(vm);
	json_t *out = NULL;
	int rc = loam_artifact_vm_upgrade(db, &v, component, &out, &err);
	json_decref(out);
	return strdup(rc == 0 ? "" : loam_err_msg(err));
}

/* After test_gc_plan: firmware A, B, C installed; vm-old on A. */
static void test_vmm_firmware_pairs_and_upgrade(void)
{
	install_bundle("vmm", "qemu", "7.2", "A", 400);
	install_bundle("storage", "qsd", "7.2", NULL, 400);
	add_vm("vm-a");
	CHECK_INT(pin_vm("vm-a"), 0);
	cleanup_free char *a_vmm = pinned("vm-a", "vmm", false), *a_fw = vm_firmware("vm-a");
	CHECK_STR(a_vmm, "7.2");
	CHECK_STR(a_fw, "A"); /* the newest firmware qemu 7.2 lists, not C */

	install_bundle("vmm", "qemu", "10.0", "A,B", 500);
	install_bundle("storage", "qsd", "10.0", NULL, 500);
	/* the newest firmware (C) is not listed by qemu 7.2: refused, both named */
	cleanup_free char *refused = upgrade("vm-a", "firmware");
	CHECK_CONTAINS(refused, "qemu 7.2");
	CHECK_CONTAINS(refused, "edk2 C");
	cleanup_free char *fw_next = pinned("vm-a", "firmware", true);
	CHECK_STR(fw_next, ""); /* nothing changed */
	cleanup_free char *bad = upgrade("vm-a", "image");
	CHECK_CONTAINS(bad, "stays");

	/* vmm alone: 10.0 lists A, which the VM runs */
	cleanup_free char *ok = upgrade("vm-a", "vmm");
	CHECK_STR(ok, "");
	cleanup_free char *vmm_now = pinned("vm-a", "vmm", false),
			  *vmm_next = pinned("vm-a", "vmm", true);
	CHECK_STR(vmm_now, "7.2"); /* until the next start */
	CHECK_STR(vmm_next, "10.0");
	cleanup_json json_t *plan = NULL;
	cleanup_err loam_err err = NULL;
	CHECK_INT(loam_artifact_gc_plan(db, "h1", &plan, &err), 0);
	char rm[128];
	plan_versions(plan, "remove", rm, sizeof rm);
	CHECK(strstr(rm, "7.2") == NULL); /* running now, kept */

	/* all: vmm 10.0 with its newest listed firmware, B; storage 10.0 */
	cleanup_free char *all = upgrade("vm-a", NULL);
	CHECK_STR(all, "");
	CHECK_INT(pin_vm("vm-a"), 0); /* the next start */
	cleanup_free char *v2 = pinned("vm-a", "vmm", false), *f2 = vm_firmware("vm-a"),
			  *s2 = pinned("vm-a", "storage", false), *n2 = pinned("vm-a", "vmm", true);
	CHECK_STR(v2, "10.0");
	CHECK_STR(f2, "B");
	CHECK_STR(s2, "10.0");
	CHECK_STR(n2, "");

	/* drain the 10.0 VMM: a new VM takes 7.2 (and 7.2's storage daemon), the VM
	 * on 10.0 keeps it */
	int64_t changed = 0;
	CHECK_INT(
	    loam_host_artifact_set_weight(db, "h1", "vmm", NULL, "10.0", NULL, 0, &changed, &err),
	    0);
	add_vm("vm-b");
	CHECK_INT(pin_vm("vm-b"), 0);
	cleanup_free char *b_vmm = pinned("vm-b", "vmm", false), *b_fw = vm_firmware("vm-b"),
			  *b_storage = pinned("vm-b", "storage", false);
	CHECK_STR(b_vmm, "7.2");
	CHECK_STR(b_fw, "A");
	CHECK_STR(b_storage, "7.2"); /* its VMM's QEMU version, not the newest storage */
	cleanup_free char *a_still = pinned("vm-a", "vmm", false);
	CHECK_STR(a_still, "10.0");
	/* a pinned pair the VMM does not list (an edited row) fails the start */
	exec_ok("UPDATE vm_artifact SET version = 'C' WHERE vm_id = 'vm-b' AND "
		"component = 'firmware'",
		DB_NOARGS);
	struct loam_artifact_vm b = vm_of("vm-b");
	CHECK_INT(loam_artifact_pin_vm(db, &b, &err), -1);
	CHECK_CONTAINS(err ? loam_err_msg(err) : "", "qemu 7.2 and firmware edk2 C");
	CHECK_INT(loam_err_kind_of(err), LOAM_E_CONFLICT);
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
	RUN(test_vmm_firmware_pairs_and_upgrade);
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
