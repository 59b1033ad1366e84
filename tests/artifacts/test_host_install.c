/*
 * loam_artifact_install_on_host with real parts: SQLite, the local
 * transport, the agent binary and the HTTP server that install.sh starts
 * (LOAM_TEST_STORE, LOAM_TEST_BASE_URL, LOAM_TEST_AGENT), on SQLite or, under
 * tests/with_pg.sh, PostgreSQL. Checks per-arch
 * selection (an x64 host gets no arm64 artifact unless it emulates arm64),
 * host_artifact rows, idempotence, and a tampered artifact failing with both
 * digests and nothing installed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "arch/arch.h"
#include "artifact/host_install.h"
#include "artifact/versions.h"
#include "artifact/vm_pins.h"
#include "db/host_artifact.h"
#include "db/records.h"
#include "lib/cleanup.h"
#include "lib/fs.h"
#include "lib/json.h"
#include "lib/sha256.h"
#include "t.h"

static const char *store, *base_url, *agent;
static char tmp[] = "/tmp/loam-hostinst-XXXXXX";
static struct loam_db *db;
static struct loam_transport *tr;

static json_t *file_entry(const char *component, const char *name, const char *version,
			  const char *arch, const char *kind, const char *rel)
{
	char path[4096], sum[65];
	uint64_t size = 0;
	snprintf(path, sizeof path, "%s/%s", store, rel);
	cleanup_err loam_err err = NULL;
	CHECK_INT(loam_sha256_file(path, sum, &size, &err), 0);
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I}", "component", component, "name",
			 name, "version", version, "arch", arch, "kind", kind, "path", rel,
			 "sha256", sum, "size", (json_int_t)size);
}

static void load_manifest(struct loam_artifact_manifest *m)
{
	json_t *entries = json_array();
	const char *arches[] = {"x64", "arm64"};
	for (int i = 0; i < 2; i++) {
		char fw[256], img[256];
		snprintf(fw, sizeof fw, "firmware/edk2/1.0/%s/edk2.tar.gz", arches[i]);
		snprintf(img, sizeof img, "image/g/2.0/%s/g.img", arches[i]);
		json_array_append_new(
		    entries, file_entry("firmware", "edk2", "1.0", arches[i], "tarball", fw));
		json_array_append_new(entries,
				      file_entry("image", "g", "2.0", arches[i], "file", img));
	}
	cleanup_json json_t *doc = json_pack("{s:o}", "entries", entries);
	cleanup_free char *text = loam_json_dump(doc);
	cleanup_err loam_err err = NULL;
	CHECK_INT(loam_artifact_manifest_parse(text, strlen(text), m, &err), 0);
}

static void add_host(const char *id, const char *name)
{
	cleanup_err loam_err err = NULL;
	CHECK_INT(loam_db_exec(db,
			       "INSERT INTO host (id, name, transport, arch, created_at) "
			       "VALUES (?, ?, 'local', 'x64', 0)",
			       DB_ARGS(DB_TEXT(id), DB_TEXT(name)), NULL, &err),
		  0);
}

static int64_t count_rows(const char *host_id, const char *where)
{
	char sql[512];
	snprintf(sql, sizeof sql, "SELECT count(*) FROM host_artifact WHERE host_id = ? AND %s",
		 where);
	cleanup_rows struct loam_db_rows *rows = NULL;
	cleanup_err loam_err err = NULL;
	CHECK_INT(loam_db_query(db, sql, DB_ARGS(DB_TEXT(host_id)), &rows, &err), 0);
	return rows ? loam_db_rows_int(rows, 0, 0) : -1;
}

static bool exists(const char *prefix, const char *rel)
{
	char p[4096];
	struct stat st;
	snprintf(p, sizeof p, "%s/%s", prefix, rel);
	return stat(p, &st) == 0;
}

static int install(const char *host_id, const char *prefix, const char *const *arches,
		   const struct loam_artifact_manifest *m, loam_err *err)
{
	return loam_artifact_install_on_host(db, tr, host_id, agent, m, arches, base_url, prefix,
					     err);
}

static void test_per_arch_selection_and_idempotence(void)
{
	struct loam_artifact_manifest m = {0};
	load_manifest(&m);
	char prefix[4096];
	snprintf(prefix, sizeof prefix, "%s/h1", tmp);
	add_host("h1", "host-one");
	const char *sel[4];
	loam_artifact_host_selection(loam_arch_by_name("x64"), NULL, sel, 4);
	cleanup_err loam_err err = NULL;
	CHECK_INT(install("h1", prefix, sel, &m, &err), 0);
	if (err)
		fprintf(stderr, "  %s\n", loam_err_msg(err));
	CHECK_INT(count_rows("h1", "arch = 'x64' AND state = 'installed'"), 2);
	CHECK_INT(count_rows("h1", "arch = 'arm64'"), 0);
	CHECK_INT(count_rows("h1", "path IS NULL OR sha256 IS NULL OR installed_at IS NULL"), 0);
	CHECK(exists(prefix, "firmware/edk2/1.0/x64/CODE.fd"));
	CHECK(exists(prefix, "image/g/2.0/x64/g.img"));
	CHECK(!exists(prefix, "firmware/edk2/1.0/arm64"));
	CHECK(!exists(prefix, "image/g/2.0/arm64"));

	CHECK_INT(install("h1", prefix, sel, &m, &err), 0); /* again: nothing changes */
	CHECK_INT(count_rows("h1", "state = 'installed'"), 2);

	const char *emulated[] = {"arm64", NULL};
	CHECK_INT(loam_artifact_host_selection(loam_arch_by_name("x64"), emulated, sel, 4), 2);
	CHECK_INT(install("h1", prefix, sel, &m, &err), 0);
	CHECK_INT(count_rows("h1", "state = 'installed'"), 4);
	CHECK(exists(prefix, "image/g/2.0/arm64/g.img"));
	CHECK(exists(prefix, "firmware/edk2/1.0/arm64/VARS.fd"));
	loam_artifact_manifest_free(&m);
}

static void test_tampered_artifact_fails(void)
{
	struct loam_artifact_manifest m = {0};
	load_manifest(&m);
	char path[4096], prefix[4096];
	snprintf(path, sizeof path, "%s/image/g/2.0/x64/g.img", store);
	snprintf(prefix, sizeof prefix, "%s/h2", tmp);
	FILE *f = fopen(path, "r+b");
	CHECK(f != NULL);
	int c = f ? (fseek(f, 5, SEEK_SET), fgetc(f)) : 0;
	if (f) {
		fseek(f, 5, SEEK_SET);
		fputc(c ^ 0x55, f);
		fclose(f);
	}
	add_host("h2", "host-two");
	const char *sel[] = {"x64", NULL};
	cleanup_err loam_err err = NULL;
	CHECK_INT(install("h2", prefix, sel, &m, &err), -1);
	const char *msg = err ? loam_err_msg(err) : "";
	CHECK_CONTAINS(msg, "image g version 2.0");
	CHECK_CONTAINS(msg, m.entries[1].sha256); /* the expected digest */
	CHECK_CONTAINS(msg, "got sha256 ");
	CHECK_INT(count_rows("h2", "component = 'image' AND state = 'failed' AND error LIKE "
				   "'%mismatch%'"),
		  1);
	CHECK_INT(count_rows("h2", "component = 'firmware' AND state = 'installed'"), 1);
	CHECK(!exists(prefix, "image/g/2.0/x64"));
	if ((f = fopen(path, "r+b"))) {
		fseek(f, 5, SEEK_SET);
		fputc(c, f);
		fclose(f);
	}
	loam_artifact_manifest_free(&m);
}

static void add_vm(const char *id, const char *host_id)
{
	cleanup_err loam_err err = NULL;
	CHECK_INT(
	    loam_db_exec(db,
			 "INSERT INTO vm (id, name, arch, size, vcpus, memory_gib, storage_gib, "
			 "host_id, created_at) VALUES (?, ?, 'x64', 'standard-2', 2, 8, 10, ?, 0)",
			 DB_ARGS(DB_TEXT(id), DB_TEXT(id), DB_TEXT(host_id)), NULL, &err),
	    0);
}

static const char *pinned(const char *vm_id, const char *component)
{
	static char version[64];
	cleanup_rows struct loam_db_rows *rows = NULL;
	cleanup_err loam_err err = NULL;
	CHECK_INT(loam_db_query(db,
				"SELECT version FROM vm_artifact WHERE vm_id = ? AND component = ?",
				DB_ARGS(DB_TEXT(vm_id), DB_TEXT(component)), &rows, &err),
		  0);
	snprintf(version, sizeof version, "%s",
		 loam_db_rows_count(rows) ? loam_db_rows_text(rows, 0, 0) : "(none)");
	return version;
}

/* What the VM prog does when it prepares a VM (loam_artifact_pin_vm: each
 * component's version picked once, a VM that has a pin keeps it); here
 * firmware and an image are required. */
static int pin_vm(const char *vm_id, const char *host_id, const char *arch, loam_err *err)
{
	struct loam_artifact_vm vm = {.id = vm_id,
				      .name = vm_id,
				      .host_id = host_id,
				      .host_name = host_id,
				      .arch = arch,
				      .image = "g"};
	if (loam_artifact_pin_vm(db, &vm, err) < 0)
		return -1;
	if (strcmp(pinned(vm_id, "firmware"), "(none)") == 0 ||
	    strcmp(pinned(vm_id, "image"), "(none)") == 0)
		return loam_fail(err, LOAM_E_NOTFOUND, "host has no installed image or firmware");
	return 0;
}

/* Runs after the install test: h1 has edk2 1.0 and g 2.0 for x64. */
static void test_vm_pinning_survives_upgrade(void)
{
	cleanup_err loam_err err = NULL;
	CHECK_INT(loam_db_sync_sizes(db, &err), 0);
	add_vm("vm-old", "h1");
	CHECK_INT(pin_vm("vm-old", "h1", "x64", &err), 0);
	CHECK_STR(pinned("vm-old", "firmware"), "1.0");
	CHECK_STR(pinned("vm-old", "image"), "2.0");
	/* An upgrade installs edk2 1.1 side by side. */
	CHECK_INT(
	    loam_db_exec(db,
			 "INSERT INTO host_artifact (host_id, component, name, version, arch, "
			 "kind, path, sha256, state, installed_at, updated_at) VALUES ('h1', "
			 "'firmware', 'edk2', '1.1', 'x64', 'tarball', '/p', 'x', 'installed', "
			 "?, ?)",
			 DB_ARGS(DB_INT(loam_db_now_ms() + 1000), DB_INT(loam_db_now_ms())), NULL,
			 &err),
	    0);
	CHECK_INT(pin_vm("vm-old", "h1", "x64", &err), 0);
	CHECK_STR(pinned("vm-old", "firmware"), "1.0"); /* keeps its version */
	add_vm("vm-new", "h1");
	CHECK_INT(pin_vm("vm-new", "h1", "x64", &err), 0);
	CHECK_STR(pinned("vm-new", "firmware"), "1.1");
	cleanup_json json_t *host = NULL;
	CHECK_INT(loam_artifact_host_json(db, "h1", &host, &err), 0);
	CHECK_INT(json_array_size(host), 5);
	cleanup_json json_t *ls = NULL;
	CHECK_INT(loam_artifact_ls_json(db, &ls, &err), 0);
	size_t i;
	json_t *row;
	int64_t old_uses = -1, new_uses = -1;
	json_array_foreach(ls, i, row)
	{
		const char *v = json_string_value(json_object_get(row, "version"));
		bool fw =
		    strcmp(json_string_value(json_object_get(row, "component")), "firmware") == 0;
		bool x64 = strcmp(json_string_value(json_object_get(row, "arch")), "x64") == 0;
		if (fw && x64 && strcmp(v, "1.0") == 0 &&
		    strcmp(json_string_value(json_object_get(row, "host")), "host-one") == 0)
			old_uses = json_integer_value(json_object_get(row, "vms"));
		if (fw && x64 && strcmp(v, "1.1") == 0)
			new_uses = json_integer_value(json_object_get(row, "vms"));
	}
	CHECK_INT(old_uses, 1);
	CHECK_INT(new_uses, 1);
	/* h2 has no image installed (the tampered one failed). */
	add_vm("vm-h2", "h2");
	CHECK_INT(pin_vm("vm-h2", "h2", "x64", &err), -1);
	CHECK_INT(loam_err_kind_of(err), LOAM_E_NOTFOUND);
}

static json_t *gc(void)
{
	char prefix[4096];
	snprintf(prefix, sizeof prefix, "%s/h1", tmp);
	json_t *removed = NULL;
	cleanup_err loam_err err = NULL;
	CHECK_INT(loam_artifact_gc_host(db, tr, "h1", agent, prefix, &removed, &err), 0);
	if (err)
		fprintf(stderr, "  %s\n", loam_err_msg(err));
	return removed;
}

/* How many hosts the allocator's image index (loaded from
 * loam_host_artifacts_images) sees with image installed for arch. */
static int64_t hosts_with_image(const char *image, const char *arch)
{
	cleanup_host_artifacts struct loam_host_artifacts l = {0};
	cleanup_err loam_err err = NULL;
	CHECK_INT(loam_host_artifacts_images(db, &l, &err), 0);
	int64_t n = 0;
	for (size_t i = 0; i < l.n; i++)
		n += strcmp(l.v[i].name, image) == 0 && strcmp(l.v[i].arch, arch) == 0;
	return n;
}

/* h1 has image g for both arches; h2's failed (tampered). */
static void test_image_filter_for_the_allocator(void)
{
	CHECK_INT(hosts_with_image("g", "x64"), 1);
	CHECK_INT(hosts_with_image("g", "arm64"), 1);
	CHECK_INT(hosts_with_image("other", "x64"), 0);
}

/* Runs after the pinning test: vm-old uses edk2 1.0, vm-new 1.1 (newest). */
static void test_gc_keeps_versions_in_use(void)
{
	char prefix[4096], dir[4200];
	snprintf(prefix, sizeof prefix, "%s/h1", tmp);
	snprintf(dir, sizeof dir, "%s/firmware/edk2/0.9/x64", prefix);
	cleanup_err loam_err err = NULL;
	CHECK_INT(loam_mkdir_p(dir, 0755, &err), 0);
	CHECK_INT(
	    loam_db_exec(db,
			 "INSERT INTO host_artifact (host_id, component, name, version, arch, "
			 "kind, path, sha256, state, installed_at, updated_at) VALUES ('h1', "
			 "'firmware', 'edk2', '0.9', 'x64', 'tarball', ?, 'x', 'installed', 1, "
			 "1)",
			 DB_ARGS(DB_TEXT(dir)), NULL, &err),
	    0);
	cleanup_json json_t *first = gc();
	CHECK_INT(json_array_size(first), 1); /* only 0.9: unused and not the newest */
	CHECK_STR(json_string_value(json_object_get(json_array_get(first, 0), "version")), "0.9");
	CHECK(!exists(prefix, "firmware/edk2/0.9"));
	CHECK(exists(prefix, "firmware/edk2/1.0/x64/CODE.fd"));	  /* vm-old uses it */
	CHECK(exists(prefix, "firmware/edk2/1.0/arm64/CODE.fd")); /* newest for arm64 */
	CHECK_INT(count_rows("h1", "version = '1.0' AND component = 'firmware'"), 2);

	CHECK_INT(loam_db_exec(db, "DELETE FROM vm WHERE id = 'vm-old'", DB_NOARGS, NULL, &err), 0);
	cleanup_json json_t *second = gc();
	CHECK_INT(json_array_size(second), 1);
	CHECK(!exists(prefix, "firmware/edk2/1.0/x64"));
	CHECK(exists(prefix, "firmware/edk2/1.0/arm64/CODE.fd"));
	CHECK_INT(count_rows("h1", "component = 'firmware' AND arch = 'x64'"), 1); /* 1.1 */
	cleanup_json json_t *third = gc();
	CHECK_INT(json_array_size(third), 0);
}

int main(void)
{
	store = getenv("LOAM_TEST_STORE");
	base_url = getenv("LOAM_TEST_BASE_URL");
	agent = getenv("LOAM_TEST_AGENT");
	if (!store || !base_url || !agent || !mkdtemp(tmp)) {
		fprintf(stderr, "run me from tests/artifacts/install.sh\n");
		return 1;
	}
	char url[4200];
	snprintf(url, sizeof url, "sqlite:%s/loam.db", tmp);
	if (getenv("LOAM_TEST_PG_URL")) /* run under tests/with_pg.sh */
		snprintf(url, sizeof url, "%s", getenv("LOAM_TEST_PG_URL"));
	printf("database: %s\n", url);
	cleanup_err loam_err err = NULL;
	struct loam_host_target tg = {.kind = LOAM_TRANSPORT_LOCAL, .name = "this-machine"};
	if (loam_db_open(url, &db, &err) < 0 || loam_db_migrate(db, &err) < 0 ||
	    loam_transport_open(&tg, &tr, NULL, &err) < 0) {
		fprintf(stderr, "setup: %s\n", loam_err_msg(err));
		return 1;
	}
	RUN(test_per_arch_selection_and_idempotence);
	RUN(test_tampered_artifact_fails);
	RUN(test_image_filter_for_the_allocator);
	RUN(test_vm_pinning_survives_upgrade);
	RUN(test_gc_keeps_versions_in_use);
	loam_transport_close(tr);
	loam_db_close(db);
	const char *rm[] = {"rm", "-rf", tmp, NULL};
	struct loam_spawn_opts o = {.argv = rm};
	struct loam_spawn_result r = {0};
	loam_spawn(&o, &r, NULL);
	loam_spawn_result_free(&r);
	return t_summary();
}
