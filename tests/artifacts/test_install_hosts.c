/*
 * Installs artifacts per arch on the real SSH test hosts (tests/hosts/): the
 * x64 host and the arm64 host (a busybox chroot whose commands run under
 * qemu-user, with no dpkg and no curl). Each gets its own arch's firmware,
 * image and storage bundle with the right sha256 and nothing of the other
 * arch; the bundle's `depends` are present on the x64 host, and the arm64
 * host, which cannot check them, records the bundle 'unavailable'. Started by
 * install_hosts.sh, which provides the hosts, a store and an HTTP server.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "arch/arch.h"
#include "artifact/host_install.h"
#include "lib/cleanup.h"
#include "lib/json.h"
#include "lib/sha256.h"
#include "t.h"

static const char *store, *base_url, *work;
static struct loam_db *db;

static const char *env(const char *name)
{
	const char *v = getenv(name);
	if (!v || !*v) {
		fprintf(stderr, "%s is not set; run install_hosts.sh\n", name);
		exit(1);
	}
	return v;
}

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
		char fw[256], img[256], qsd[256];
		snprintf(fw, sizeof fw, "firmware/edk2/1.0/%s/edk2.tar.gz", arches[i]);
		snprintf(img, sizeof img, "image/g/2.0/%s/g.img", arches[i]);
		json_array_append_new(
		    entries, file_entry("firmware", "edk2", "1.0", arches[i], "tarball", fw));
		json_array_append_new(entries,
				      file_entry("image", "g", "2.0", arches[i], "file", img));
		snprintf(qsd, sizeof qsd, "storage/qemu-storage-daemon/1.0/%s/qsd.tar.gz",
			 arches[i]);
		json_t *bundle =
		    file_entry("storage", "qemu-storage-daemon", "1.0", arches[i], "tarball", qsd);
		json_object_set_new(bundle, "guest_arches", json_pack("[s, s]", "arm64", "x64"));
		json_object_set_new(bundle, "depends", json_pack("[s]", "libc6"));
		json_array_append_new(entries, bundle);
	}
	cleanup_json json_t *doc = json_pack("{s:o}", "entries", entries);
	cleanup_free char *text = loam_json_dump(doc);
	cleanup_err loam_err err = NULL;
	CHECK_INT(loam_artifact_manifest_parse(text, strlen(text), m, &err), 0);
}

static struct loam_transport *open_host(const char *prefix)
{
	char port[64], key[64];
	snprintf(port, sizeof port, "%s_PORT", prefix);
	snprintf(key, sizeof key, "%s_HOST_KEY", prefix);
	struct loam_host_target tg = {
	    .kind = LOAM_TRANSPORT_SSH,
	    .name = strcmp(prefix, "X64") == 0 ? "test-x64" : "test-arm64",
	    .address = "127.0.0.1",
	    .port = atoi(env(port)),
	    .user = "root",
	    .key_file = env("SSH_KEY"),
	    .pinned_host_key = env(key),
	    .connect_timeout_ms = 5000,
	};
	struct loam_transport *t = NULL;
	cleanup_err loam_err err = NULL;
	if (loam_transport_open(&tg, &t, NULL, &err) < 0)
		fprintf(stderr, "open %s: %s\n", prefix, loam_err_msg(err));
	return t;
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

static int64_t count_guest_arches(const char *host_id)
{
	cleanup_rows struct loam_db_rows *rows = NULL;
	cleanup_err loam_err err = NULL;
	CHECK_INT(
	    loam_db_query(db,
			  "SELECT count(*) FROM host_artifact_guest_arch WHERE host_id = ? AND "
			  "component = 'storage'",
			  DB_ARGS(DB_TEXT(host_id)), &rows, &err),
	    0);
	return rows ? loam_db_rows_int(rows, 0, 0) : -1;
}

static bool same_file(const char *a, const char *b)
{
	char sa[65], sb[65];
	uint64_t za = 0, zb = 0;
	cleanup_err loam_err err = NULL;
	return loam_sha256_file(a, sa, &za, &err) == 0 && loam_sha256_file(b, sb, &zb, &err) == 0 &&
	       strcmp(sa, sb) == 0;
}

static bool exists(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0;
}

/* Installs on one host; local_root is where the host's / is seen from here. */
static void install_on(const char *prefix_env, const char *arch, const char *agent_local,
		       const char *agent_remote, const char *opt_remote, const char *local_root)
{
	struct loam_transport *t = open_host(prefix_env);
	CHECK(t != NULL);
	if (!t)
		return;
	struct loam_artifact_manifest m = {0};
	load_manifest(&m);
	cleanup_err loam_err err = NULL;
	CHECK_INT(loam_transport_upload(t, agent_local, agent_remote, 0755, &err), 0);
	CHECK_INT(loam_db_exec(db,
			       "INSERT INTO host (id, name, transport, arch, created_at) "
			       "VALUES (?, ?, 'ssh', ?, 0)",
			       DB_ARGS(DB_TEXT(arch), DB_TEXT(arch), DB_TEXT(arch)), NULL, &err),
		  0);
	const char *sel[4];
	loam_artifact_host_selection(loam_arch_by_name(arch), NULL, sel, 4);
	if (loam_artifact_install_on_host(db, t, arch, agent_remote, &m, sel, base_url, opt_remote,
					  &err) < 0)
		fprintf(stderr, "  install on %s: %s\n", arch, loam_err_msg(err));
	CHECK_INT(count_rows(arch, "component IN ('firmware', 'image') AND state = 'installed'"),
		  2);
	char where[64];
	snprintf(where, sizeof where, "arch <> '%s'", arch);
	CHECK_INT(count_rows(arch, where), 0); /* never the other arch */
	char got[4096], want[4096];
	snprintf(got, sizeof got, "%s%s/image/g/2.0/%s/g.img", local_root, opt_remote, arch);
	snprintf(want, sizeof want, "%s/image/g/2.0/%s/g.img", store, arch);
	CHECK(same_file(got, want));
	snprintf(got, sizeof got, "%s%s/firmware/edk2/1.0/%s/CODE.fd", local_root, opt_remote,
		 arch);
	CHECK(exists(got));
	const char *other = strcmp(arch, "x64") == 0 ? "arm64" : "x64";
	snprintf(got, sizeof got, "%s%s/image/g/2.0/%s", local_root, opt_remote, other);
	CHECK(!exists(got));
	snprintf(got, sizeof got, "%s%s/storage/qemu-storage-daemon/1.0/%s/bin/qemu-storage-daemon",
		 local_root, opt_remote, arch);
	CHECK(exists(got));
	/* Only the host's own bundle, recorded with the guest arches it serves. */
	CHECK_INT(count_guest_arches(arch), 2);
	/* Rerunning is a no-op that still succeeds. */
	CHECK_INT(loam_artifact_install_on_host(db, t, arch, agent_remote, &m, sel, base_url,
						opt_remote, &err),
		  0);
	loam_artifact_manifest_free(&m);
	loam_transport_close(t);
}

static void test_x64_host(void)
{
	char agent[4096], opt[4096];
	snprintf(agent, sizeof agent, "%s/loam-host-x64", work);
	snprintf(opt, sizeof opt, "%s/x64-opt", work);
	char src[4096];
	snprintf(src, sizeof src, "%s/loam-host-x64", env("LOAM_DIST_DIR"));
	install_on("X64", "x64", src, agent, opt, "");
	CHECK_INT(count_rows("x64", "component = 'storage' AND state = 'installed'"), 1);
}

static void test_arm64_host(void)
{
	char src[4096];
	snprintf(src, sizeof src, "%s/loam-host-arm64", env("LOAM_DIST_DIR"));
	install_on("ARM64", "arm64", src, "/var/lib/loam-host/loam-host-art",
		   "/var/lib/loam-host/art-opt", env("ARM64_ROOT"));
	/* No dpkg in the chroot: recorded, not a failure. */
	CHECK_INT(count_rows("arm64", "component = 'storage' AND state = 'unavailable'"), 1);
}

int main(void)
{
	store = env("LOAM_TEST_STORE");
	base_url = env("LOAM_TEST_BASE_URL");
	work = env("WORK_DIR");
	char url[4200];
	snprintf(url, sizeof url, "sqlite:%s/loam.db", work);
	cleanup_err loam_err err = NULL;
	if (loam_db_open(url, &db, &err) < 0 || loam_db_migrate(db, &err) < 0) {
		fprintf(stderr, "setup: %s\n", loam_err_msg(err));
		return 1;
	}
	RUN(test_x64_host);
	RUN(test_arm64_host);
	loam_db_close(db);
	return t_summary();
}
