/*
 * The API's read views, byte for byte: a database with fixed rows (hosts
 * with learned facts, emulation, strands, VMs and artifacts) is read
 * through loam_api_handle() and every answer is compared with
 * views.golden. The views are built from the model layer (src/db); this
 * pins their JSON (keys, order, nulls, numbers) so that a change in the
 * model cannot change what a user sees. Runs on SQLite, and on PostgreSQL
 * under tests/with_pg.sh (test_api_views_pg), against the same file.
 * LOAM_VIEWS_OUT=FILE writes the answers there, to review a deliberate
 * change of the API before updating views.golden.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "db/records.h"
#include "db/tdb.h"
#include "lib/cleanup.h"
#include "lib/fs.h"
#include "t.h"

#define TOKEN "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

#define ALPHA "aaaaaaaaaaaaaaaaaaaaaaaaaa"
#define BETA  "bbbbbbbbbbbbbbbbbbbbbbbbbb"
#define GAMMA "cccccccccccccccccccccccccc"

static const char *const seed_sql[] = {
    "INSERT INTO host (id, name, transport, address, ssh_port, ssh_user, ssh_key_file, "
    "host_key, state_dir, location, arch, allocation_state, cpus, total_cores, sockets, dies, "
    "threads_per_core, numa_nodes, total_mem_gib, total_hugepages_1g, total_storage_gib, "
    "available_storage_gib, kvm, cpu_model, os, kernel, facts, agent_path, agent_sha256, accel, "
    "allow_tcg, cpu_overcommit, used_cores, used_memory_gib, used_hugepages_1g, generation, "
    "created_at, last_seen_at) VALUES ('" ALPHA "', 'alpha', 'ssh', '10.0.0.1', 2222, 'loam', "
    "'/k/id', 'ssh-ed25519 AAAA', '/var/lib/loam', 'hel1', 'x64', 'accepting', 16, 8, 1, 1, 2, "
    "1, 64, 4, 500, 400, 1, 'Xeon', 'Debian 12', '6.1.0', '{\"arch\":\"x64\",\"cpus\":16}', "
    "'/var/lib/loam/agent/abc/loam-host', 'abc', 'kvm', 1, 1.5, 4, 16, 2, 7, 1000, 2000)",
    "INSERT INTO host (id, name, transport, state_dir, location, created_at) VALUES ('" BETA
    "', 'beta', 'local', '/tmp/h', 'default', 1100)",
    "INSERT INTO host (id, name, transport, address, location, arch, allocation_state, "
    "state_reason, cpus, total_cores, total_mem_gib, created_at) VALUES ('" GAMMA
    "', 'gamma', 'ssh', 'gamma.example', 'hel1', 'arm64', 'failed', 'host key changed', 8, 8, "
    "32, 1200)",
    "INSERT INTO host_emulation (host_id, arch) VALUES ('" ALPHA "', 'arm64')",
    "INSERT INTO host_emulation (host_id, arch) VALUES ('" GAMMA "', 'x64')",
    "INSERT INTO strand (id, prog, label, stack, schedule, lease_owner, lease_token, "
    "lease_expires_at, done, tries, last_error, label_since, stuck, created_at, updated_at) "
    "VALUES ('" ALPHA "', 'cloudify', 'wait', '[]', 5000, 'p/1', 't', 6000, 0, 2, "
    "'ssh: timeout', 4000, 0, 1000, 4500)",
    "INSERT INTO strand (id, prog, label, stack, schedule, done, exitval, tries, last_error, "
    "label_since, stuck, created_at, updated_at, parent_id) VALUES ('" GAMMA
    "', 'cloudify', 'failed', '[]', 7000, 1, '{\"ok\":false,\"n\":[1,2]}', 0, 'boom', 4000, 1, "
    "1200, 7000, 'dddddddddddddddddddddddddd')",
    "INSERT INTO vm (id, name, arch, size, vcpus, memory_gib, storage_gib, host_id, state, "
    "created_at) VALUES ('vm1', 'web-1', 'x64', 'standard-2', 2, 8, 20, '" ALPHA
    "', 'running', 3000)",
    "INSERT INTO vm (id, name, arch, size, vcpus, memory_gib, storage_gib, host_id, state, "
    "created_at) VALUES ('vm2', 'web-2', 'x64', 'standard-2', 2, 8, 20, '" ALPHA
    "', 'allocated', 3100)",
    "INSERT INTO vm (id, name, arch, size, vcpus, memory_gib, storage_gib, state, created_at) "
    "VALUES ('vm3', 'web-3', 'arm64', 'standard-2', 2, 6, 20, 'waiting', 3200)",
    "INSERT INTO host_artifact (host_id, component, name, version, arch, kind, path, sha256, "
    "state, installed_at, updated_at) VALUES ('" ALPHA "', 'firmware', 'edk2', '1.0', 'x64', "
    "'tarball', '/a/fw/1.0', 'f1', 'installed', 100, 100)",
    "INSERT INTO host_artifact (host_id, component, name, version, arch, kind, path, sha256, "
    "state, installed_at, updated_at) VALUES ('" ALPHA "', 'firmware', 'edk2', '1.1', 'x64', "
    "'tarball', '/a/fw/1.1', 'f2', 'installed', 200, 200)",
    "INSERT INTO host_artifact (host_id, component, name, version, arch, kind, path, sha256, "
    "state, installed_at, updated_at) VALUES ('" ALPHA "', 'firmware', 'edk2', '0.9', 'x64', "
    "'tarball', '/a/fw/0.9', 'f0', 'installed', 50, 50)",
    "INSERT INTO host_artifact (host_id, component, name, version, arch, kind, sha256, state, "
    "error, updated_at) VALUES ('" ALPHA "', 'image', 'g', '2.0', 'arm64', 'file', 'i2', "
    "'failed', 'sha256 mismatch', 150)",
    "INSERT INTO host_artifact (host_id, component, name, version, arch, kind, path, sha256, "
    "state, installed_at, updated_at) VALUES ('" ALPHA "', 'image', 'loam-tiny', '1', 'x64', "
    "'tarball', '/a/img/1', 'i1', 'installed', 100, 100), ('" BETA "', 'image', 'loam-tiny', "
    "'1', 'x64', 'tarball', '/b/img/1', 'i1', 'installed', 100, 100)",
    "INSERT INTO host_artifact (host_id, component, name, version, arch, kind, path, state, "
    "error, installed_at, updated_at) VALUES ('" ALPHA "', 'vmm', 'qemu', '7.2', 'x64', "
    "'tarball', '/a/vmm/7.2', 'unavailable', 'no dpkg-query', 120, 120)",
    "INSERT INTO host_artifact_guest_arch (host_id, component, name, version, arch, "
    "guest_arch) VALUES ('" ALPHA "', 'vmm', 'qemu', '7.2', 'x64', 'x64'), ('" ALPHA
    "', 'vmm', 'qemu', '7.2', 'x64', 'arm64')",
    "INSERT INTO host_artifact_firmware (host_id, component, name, version, arch, "
    "firmware_name, firmware_version) VALUES ('" ALPHA "', 'vmm', 'qemu', '7.2', 'x64', "
    "'edk2', '1.0')",
    "INSERT INTO vm_artifact (vm_id, component, name, version, arch) VALUES ('vm1', "
    "'firmware', 'edk2', '1.0', 'x64')",
    NULL,
};

struct step {
	const char *method, *path, *body;
};

static const struct step steps[] = {
    {"GET", "/v1/hosts", NULL},
    {"GET", "/v1/hosts/alpha", NULL},
    {"GET", "/v1/hosts/beta", NULL},
    {"GET", "/v1/hosts/gamma", NULL},
    {"GET", "/v1/hosts/nope", NULL},
    {"GET", "/v1/strands", NULL},
    {"GET", "/v1/strands/" ALPHA, NULL},
    {"GET", "/v1/strands/" BETA, NULL},
    {"GET", "/v1/sizes", NULL},
    {"GET", "/v1/images", NULL},
    {"GET", "/v1/artifacts", NULL},
    {"POST", "/v1/artifacts/gc", "{\"dry_run\": true}"},
    {"POST", "/v1/artifacts/gc", "{\"dry_run\": true, \"host\": \"beta\"}"},
    {"POST", "/v1/artifacts/gc", "{\"host\": \"nope\"}"},
    {"POST", "/v1/artifacts/weight",
     "{\"host\": \"alpha\", \"component\": \"firmware\", \"version\": \"1.1\", "
     "\"weight\": 0}"},
    {"POST", "/v1/artifacts/weight",
     "{\"host\": \"alpha\", \"component\": \"vmm\", \"version\": \"9\", \"weight\": 0}"},
    {"POST", "/v1/vms/web-3/upgrade", "{}"},
    {"POST", "/v1/hosts", "{\"address\": \"10.0.0.9\", \"name\": \"alpha\"}"},
    {"POST", "/v1/hosts", "{\"local\": true, \"name\": \"other\"}"},
    {"PATCH", "/v1/hosts/beta", "{\"allocation_state\": \"draining\"}"},
    {"PATCH", "/v1/hosts/alpha",
     "{\"allocation_state\": \"draining\", \"location\": \"fsn1\", \"allow_tcg\": false, "
     "\"cpu_overcommit\": 2}"},
    {"POST", "/v1/hosts/gamma/set", "{\"emulate\": [\"aarch64\", \"x86_64\"]}"},
    {"POST", "/v1/hosts/beta/upgrade", "{}"},
    {"DELETE", "/v1/hosts/alpha", NULL},
    {"DELETE", "/v1/hosts/gamma", NULL},
    {"GET", "/v1/strands", NULL},
    {"GET", "/v1/hosts", NULL},
    {"GET", "/v1/vms", NULL},
    {"GET", "/v1/vms/web-3", NULL},
    {"GET", "/v1/vms?limit=1", NULL},
    {"GET", "/v1/vms?limit=1&after=web-1:default", NULL},
    {"GET", "/v1/vms?project=nope", NULL},
    {"GET", "/v1/hosts?limit=1&after=alpha", NULL},
    {"GET", "/v1/projects", NULL},
    {"GET", "/v1/projects/default", NULL},
    {"PATCH", "/v1/projects/default", "{\"quotas\": {\"aarch64.vcpus\": 4, \"x64.vms\": 0}}"},
    {"POST", "/v1/vms", "{\"name\": \"web-4\", \"arch\": \"x64\", \"size\": \"standard-2\"}"},
    {"GET", "/v1/projects/default", NULL},
};

static int seed(const char *url)
{
	struct loam_db *db = NULL;
	cleanup_err loam_err err = NULL;
	int rc = loam_db_open(url, &db, &err);
	if (rc == 0)
		rc = loam_db_migrate(db, &err);
	for (size_t i = 0; rc == 0 && seed_sql[i]; i++)
		rc = loam_db_exec(db, seed_sql[i], DB_NOARGS, NULL, &err);
	if (rc < 0)
		fprintf(stderr, "seed: %s\n", loam_err_msg(err));
	loam_db_close(db);
	return rc;
}

/* "METHOD PATH -> STATUS BODY\n" for every step, and the Link header's
 * value on a line of its own when there is one. */
static char *run_steps(struct loam_api *api)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		const struct step *s = &steps[i];
		struct loam_api_response resp = {0};
		loam_api_handle(api, s->method, s->path, "Bearer " TOKEN, s->body,
				s->body ? strlen(s->body) : 0, &resp);
		fprintf(f, "%s %s -> %d %s\n", s->method, s->path, resp.status, resp.body);
		if (resp.link[0])
			fprintf(f, "  Link: %s\n", resp.link);
		free(resp.body);
	}
	fclose(f);
	return out;
}

static void report_first_difference(const char *got, const char *want)
{
	int line = 1;
	size_t i = 0;
	for (; got[i] && got[i] == want[i]; i++)
		line += got[i] == '\n';
	size_t start = i;
	while (start > 0 && got[start - 1] != '\n')
		start--;
	fprintf(stderr,
		"views differ from views.golden at line %d, column %zu:\n  got:  %.300s\n"
		"  want: %.300s\n",
		line, i - start + 1, got + start, want + start);
}

static void test_views(int backend)
{
	struct tdb t;
	tdb_fresh(&t, backend, "views");
	CHECK_INT(seed(t.url), 0);
	struct loam_api_config cfg = {.state_dir = "/tmp", .db_url = t.url, .token = TOKEN};
	struct loam_api *api = NULL;
	cleanup_err loam_err err = NULL;
	CHECK_INT(loam_api_new(&cfg, &api, &err), 0);
	cleanup_free char *got = run_steps(api);
	loam_api_free(api);
	tdb_done(&t);
	const char *out = getenv("LOAM_VIEWS_OUT");
	if (out && *out)
		CHECK_INT(loam_write_file_atomic(out, got, strlen(got), 0644, &err), 0);
	cleanup_free char *path = NULL, *want = NULL;
	CHECK(asprintf(&path, "%s/tests/api/views.golden",
		       getenv("LOAM_SOURCE_DIR") ? getenv("LOAM_SOURCE_DIR") : ".") > 0);
	CHECK_INT(loam_read_file(path, 0, &want, NULL, &err), 0);
	if (want && strcmp(got, want) != 0) {
		report_first_difference(got, want);
		CHECK(!"views match views.golden");
	}
}

int main(void)
{
	for (int b = tdb_first_backend(); b < tdb_backends(); b++) {
		printf("backend %s\n", tdb_backend_name(b));
		t_current = "test_views";
		int before = t_failed_checks;
		test_views(b);
		t_tests_run++;
		t_tests_failed += t_failed_checks != before;
	}
	return t_summary();
}
