/*
 * The model layer of src/db against real SQLite and (under with_pg.sh)
 * PostgreSQL: host states as an enum, adding hosts and their clashes,
 * reading several hosts with several emulated arches in one query, the
 * progs' transitions (cloudify's records, unreachable and back with the
 * VMs' states), removing a host with its strand, the install bookkeeping
 * of host_artifact, the pick rule for new VMs, GC's take of unused
 * versions, and the strand view. The API's JSON over these is pinned by
 * tests/api/test_api_views.c.
 */
#include <stdlib.h>
#include <string.h>

#include "db/host.h"
#include "db/host_artifact.h"
#include "db/records.h"
#include "db/strand_view.h"
#include "lib/cleanup.h"
#include "t.h"
#include "tdb.h"

static int backend;

static struct loam_db *fresh(struct tdb *t, const char *tag)
{
	tdb_fresh(t, backend, tag);
	return tdb_open_migrated(t);
}

static void exec_ok(struct loam_db *db, const char *sql)
{
	cleanup_err loam_err err = NULL;
	CHECK_INT(loam_db_exec(db, sql, DB_NOARGS, NULL, &err), 0);
	if (err)
		fprintf(stderr, "  %s: %s\n", sql, loam_err_msg(err));
}

static void add(struct loam_db *db, const char *id, const char *name, bool local)
{
	struct loam_host_new h = {.id = id,
				  .name = name,
				  .local = local,
				  .address = local ? NULL : "10.0.0.1",
				  .ssh_user = "root",
				  .ssh_port = 22,
				  .state_dir = "/var/lib/loam",
				  .location = "default"};
	cleanup_err loam_err err = NULL;
	CHECK_INT(loam_host_insert(db, &h, &err), 0);
}

static void test_states(void)
{
	enum loam_host_state s;
	cleanup_err loam_err err = NULL;
	for (int i = LOAM_HOST_UNPREPARED; i <= LOAM_HOST_FAILED; i++) {
		CHECK_INT(loam_host_state_parse(loam_host_state_name(i), &s, &err), 0);
		CHECK_INT(s, i);
	}
	CHECK_STR(loam_host_state_name(LOAM_HOST_DRAINING), "draining");
	CHECK_INT(loam_host_state_parse("gone", &s, &err), -1);
	CHECK_INT(loam_err_kind_of(err), LOAM_E_INVALID);
}

static void test_add_list_and_clash(void)
{
	struct tdb t;
	struct loam_db *db = fresh(&t, "model_list");
	cleanup_err loam_err err = NULL;
	add(db, "id-b", "bravo", false);
	add(db, "id-a", "alpha", true);
	const char *arches[] = {"x64", "arm64"};
	CHECK_INT(loam_host_set_emulation(db, "id-b", arches, 2, &err), 0);
	CHECK_INT(loam_host_set_emulation(db, "id-a", arches, 1, &err), 0);
	cleanup_hosts struct loam_hosts l = {0};
	CHECK_INT(loam_host_list(db, &l, &err), 0);
	CHECK_INT(l.n, 2);
	if (l.n == 2) {
		CHECK_STR(l.v[0].name, "alpha");
		CHECK_STR(l.v[0].transport, "local");
		CHECK(l.v[0].address == NULL && l.v[0].arch == NULL && !l.v[0].seen);
		CHECK_INT(l.v[0].emulate.n, 1);
		CHECK_STR(l.v[1].name, "bravo");
		CHECK_INT(l.v[1].emulate.n, 2);
		CHECK_STR(l.v[1].emulate.v[0], "arm64"); /* sorted */
		CHECK_STR(l.v[1].emulate.v[1], "x64");
		CHECK_INT(l.v[1].state, LOAM_HOST_UNPREPARED);
		CHECK(!l.v[1].has_strand && l.v[1].vms == 0);
		CHECK(l.v[1].cpu_overcommit == 1.0);
	}
	char *other = NULL;
	CHECK_INT(loam_host_find_clash(db, "bravo", false, &other, &err), 1);
	CHECK_STR(other, "bravo");
	free(other);
	CHECK_INT(loam_host_find_clash(db, "charlie", true, &other, &err), 1);
	CHECK_STR(other, "alpha"); /* the local host there is */
	free(other);
	CHECK_INT(loam_host_find_clash(db, "charlie", false, &other, &err), 0);
	struct loam_host h = {0};
	CHECK_INT(loam_host_get_by_name(db, "nope", &h, &err), 0);
	CHECK_INT(loam_host_get(db, "id-b", &h, &err), 1);
	CHECK_STR(h.name, "bravo");
	loam_host_free(&h);
	loam_db_close(db);
	tdb_done(&t);
}

static void test_cloudify_records(void)
{
	struct tdb t;
	struct loam_db *db = fresh(&t, "model_records");
	cleanup_err loam_err err = NULL;
	add(db, "h", "h", false);
	struct loam_host_facts f = {.cpus = 8,
				    .cores = 4,
				    .threads_per_core = 2,
				    .memory_gib = 16,
				    .kvm = true,
				    .cpu_model = "Xeon",
				    .json = "{\"cpus\":8}",
				    .accel = "kvm"};
	CHECK_INT(loam_host_pin_key(db, "h", "key-1", &err), 0);
	/* a second first contact that saw another key fails; the first key stays */
	CHECK_INT(loam_host_pin_key(db, "h", "key-2", &err), -1);
	CHECK_INT(loam_err_kind_of(err), LOAM_E_AUTH);
	loam_err_free(&err);
	CHECK_INT(loam_host_pin_key(db, "h", "key-1", &err), 0);
	CHECK_INT(loam_host_record_arch(db, "h", "x64", &err), 0);
	CHECK_INT(loam_host_record_agent(db, "h", "/a/loam-host", "abc", &err), 0);
	CHECK_INT(loam_host_record_facts(db, "h", &f, &err), 0);
	CHECK_INT(loam_host_record_accepting(db, "h", &err), 0);
	cleanup_host struct loam_host h = {0};
	CHECK_INT(loam_host_get(db, "h", &h, &err), 1);
	CHECK_STR(h.host_key, "key-1");
	CHECK_STR(h.arch, "x64");
	CHECK_STR(h.agent_path, "/a/loam-host");
	CHECK_INT(h.total_cores, 4);
	CHECK(h.kvm && h.os == NULL);
	CHECK_STR(h.cpu_model, "Xeon");
	CHECK_STR(h.accel, "kvm");
	CHECK_INT(h.state, LOAM_HOST_ACCEPTING);
	CHECK(h.seen && h.generation == 3);
	/* An unknown arch is refused by the arch table. */
	CHECK_INT(loam_host_record_arch(db, "h", "pdp11", &err), -1);
	loam_db_close(db);
	tdb_done(&t);
}

static enum loam_host_state state_of(struct loam_db *db, const char *id)
{
	cleanup_host struct loam_host h = {0};
	cleanup_err loam_err err = NULL;
	CHECK_INT(loam_host_get(db, id, &h, &err), 1);
	return h.state;
}

static void test_unreachable_and_back(void)
{
	struct tdb t;
	struct loam_db *db = fresh(&t, "model_reach");
	cleanup_err loam_err err = NULL;
	add(db, "h", "h", false);
	exec_ok(db, "UPDATE host SET arch = 'x64', allocation_state = 'draining' WHERE id = 'h'");
	exec_ok(db, "INSERT INTO vm (id, name, arch, size, vcpus, memory_gib, storage_gib, "
		    "host_id, state, created_at) VALUES ('v1', 'v1', 'x64', 'standard-2', 2, 8, "
		    "20, 'h', 'running', 0), ('v2', 'v2', 'x64', 'standard-2', 2, 8, 20, 'h', "
		    "'stopped', 0)");
	bool changed = false;
	CHECK_INT(loam_host_record_unreachable(db, "h", "timeout", &changed, &err), 0);
	CHECK(changed);
	CHECK_INT(state_of(db, "h"), LOAM_HOST_UNREACHABLE);
	CHECK_INT(loam_host_record_unreachable(db, "h", "timeout", &changed, &err), 0);
	CHECK(!changed);
	int64_t n = 0;
	CHECK_INT(loam_host_count_vms(db, "h", &n, &err), 0);
	CHECK_INT(n, 2);
	CHECK_INT(loam_host_record_reachable(db, "h", &changed, &err), 0);
	CHECK(changed);
	CHECK_INT(state_of(db, "h"), LOAM_HOST_DRAINING);
	cleanup_rows struct loam_db_rows *rows = NULL;
	CHECK_INT(loam_db_query(db, "SELECT state FROM vm ORDER BY id", DB_NOARGS, &rows, &err), 0);
	CHECK_STR(loam_db_rows_text(rows, 0, 0), "running");
	CHECK_STR(loam_db_rows_text(rows, 1, 0), "stopped");
	CHECK_INT(loam_host_record_failed(db, "h", "key changed", &err), 0);
	CHECK_INT(state_of(db, "h"), LOAM_HOST_FAILED);
	loam_db_close(db);
	tdb_done(&t);
}

static void test_delete_with_strand(void)
{
	struct tdb t;
	struct loam_db *db = fresh(&t, "model_delete");
	cleanup_err loam_err err = NULL;
	add(db, "h", "h", true);
	exec_ok(db, "INSERT INTO strand (id, prog, label, stack, schedule, label_since, "
		    "created_at, updated_at, lease_expires_at) VALUES ('h', 'cloudify', 'wait', "
		    "'[]', 5, 1, 1, 2, 9)");
	exec_ok(db, "INSERT INTO strand_signal (strand_id, name, created_at) VALUES ('h', 'x', 1)");
	bool live = false;
	CHECK_INT(loam_strand_is_live(db, "h", &live, &err), 0);
	CHECK(live);
	struct loam_strand_view s = {0};
	CHECK_INT(loam_strand_view_get(db, "h", &s, &err), 1);
	CHECK_STR(s.label, "wait");
	CHECK(s.has_lease_expiry && s.lease_expires_at == 9 && s.exitval == NULL);
	loam_strand_view_free(&s);
	cleanup_host struct loam_host h = {0};
	CHECK_INT(loam_host_view(db, "h", &h, &err), 1);
	CHECK(h.has_strand);
	CHECK_STR(h.strand.prog, "cloudify");
	CHECK_INT(loam_host_delete(db, "h", &err), 0);
	CHECK_INT(loam_strand_view_get(db, "h", &s, &err), 0);
	CHECK_INT(loam_strand_is_live(db, "h", &live, &err), 0);
	CHECK(!live);
	cleanup_rows struct loam_db_rows *rows = NULL;
	CHECK_INT(loam_db_query(db, "SELECT count(*) FROM strand_signal", DB_NOARGS, &rows, &err),
		  0);
	CHECK_INT(loam_db_rows_int(rows, 0, 0), 0);
	loam_db_close(db);
	tdb_done(&t);
}

static void install(struct loam_db *db, const char *component, const char *version,
		    const char *state)
{
	struct loam_artifact_key k = {component, "n", version, "x64"};
	cleanup_err loam_err err = NULL;
	CHECK_INT(loam_host_artifact_mark_installing(db, "h", &k, "file", "ab", NULL, NULL, &err),
		  0);
	if (state)
		CHECK_INT(loam_host_artifact_record(db, "h", &k, state, "/p", NULL, &err), 0);
}

static void test_artifact_bookkeeping(void)
{
	struct tdb t;
	struct loam_db *db = fresh(&t, "model_art");
	cleanup_err loam_err err = NULL;
	add(db, "h", "h", true);
	install(db, "image", "1", "installed");
	install(db, "image", "2", "failed");
	install(db, "firmware", "A", NULL); /* the agent never answered */
	struct loam_artifact_key fw = {"firmware", "n", "A", "x64"};
	CHECK_INT(loam_host_artifact_fail_installing(db, "h", &fw, "no answer", &err), 0);
	install(db, "image", "1", NULL); /* a rerun keeps 'installed' */
	cleanup_host_artifacts struct loam_host_artifacts l = {0};
	CHECK_INT(loam_host_artifacts_of(db, "h", &l, &err), 0);
	CHECK_INT(l.n, 3);
	if (l.n == 3) {
		CHECK_STR(l.v[0].component, "firmware");
		CHECK_STR(l.v[0].state, "failed");
		CHECK_STR(l.v[0].error, "no answer");
		CHECK_STR(l.v[1].state, "installed");
		CHECK(l.v[1].has_installed_at && !l.v[2].has_installed_at);
		CHECK_INT(l.v[1].weight, LOAM_ARTIFACT_WEIGHT_DEFAULT);
	}
	struct loam_artifact_pick p = {0};
	CHECK_INT(loam_host_artifact_pick_image(db, "h", "x64", "n", &p, &err), 1);
	CHECK_STR(p.version, "1");
	CHECK_STR(p.arch, "x64");
	loam_artifact_pick_free(&p);
	CHECK_INT(loam_host_artifact_pick(db, "h", "x64", "vmm", &p, &err), 0);
	cleanup_host_artifacts struct loam_host_artifacts images = {0};
	CHECK_INT(loam_host_artifacts_images(db, &images, &err), 0);
	CHECK_INT(images.n, 1);
	loam_db_close(db);
	tdb_done(&t);
}

/* A vmm bundle built for x64 hosts serving both guest arches, tested with
 * firmware A only. */
static void install_bundle(struct loam_db *db, const char *version)
{
	static const char *const guests[] = {"arm64", "x64", NULL};
	static const char *const fw_names[] = {"n"}, *const fw_versions[] = {"A"};
	struct loam_artifact_meta meta = {guests, fw_names, fw_versions, 1};
	struct loam_artifact_key k = {"vmm", "q", version, "x64"};
	cleanup_err loam_err err = NULL;
	cleanup_free char *state = NULL;
	CHECK_INT(
	    loam_host_artifact_mark_installing(db, "h", &k, "tarball", "ab", &meta, &state, &err),
	    0);
	CHECK_STR(state, "installing");
	CHECK_INT(loam_host_artifact_record(db, "h", &k, "installed", "/q", NULL, &err), 0);
}

static void test_bundles_and_weights(void)
{
	struct tdb t;
	struct loam_db *db = fresh(&t, "model_bundle");
	cleanup_err loam_err err = NULL;
	add(db, "h", "h", true);
	install_bundle(db, "1");
	struct loam_artifact_pick p = {0};
	/* an x64 bundle serves arm64 guests too, and the pin names the host's arch */
	CHECK_INT(loam_host_artifact_pick(db, "h", "arm64", "vmm", &p, &err), 1);
	CHECK_STR(p.version, "1");
	CHECK_STR(p.arch, "x64");
	loam_artifact_pick_free(&p);
	install(db, "firmware", "A", "installed");
	install(db, "firmware", "B", "installed"); /* newer, but not tested with q 1 */
	struct loam_artifact_key vmm = {"vmm", "q", "1", "x64"};
	CHECK_INT(loam_host_artifact_pick_firmware(db, "h", "x64", &vmm, &p, &err), 1);
	CHECK_STR(p.version, "A");
	loam_artifact_pick_free(&p);
	bool listed = true;
	CHECK_INT(loam_host_artifact_pair_listed(db, "h", &vmm, "n", "B", &listed, &err), 0);
	CHECK(!listed);
	cleanup_free char *text = NULL;
	CHECK_INT(loam_host_artifact_firmware_text(db, "h", &vmm, &text, &err), 0);
	CHECK_STR(text, "n A");
	int64_t changed = 0;
	CHECK_INT(
	    loam_host_artifact_set_weight(db, "h", "firmware", NULL, "B", NULL, 0, &changed, &err),
	    0);
	CHECK_INT(changed, 1);
	CHECK_INT(loam_host_artifact_pick(db, "h", "x64", "firmware", &p, &err), 1);
	CHECK_STR(p.version, "A"); /* B is drained */
	loam_artifact_pick_free(&p);
	CHECK_INT(loam_host_artifact_set_weight(db, "h", "firmware", "other", "A", NULL, 0,
						&changed, &err),
		  0);
	CHECK_INT(changed, 0);
	cleanup_artifact_links struct loam_artifact_links ga = {0}, fws = {0};
	CHECK_INT(loam_host_artifact_guest_arches(db, "h", &ga, &err), 0);
	CHECK_INT(ga.n, 2);
	CHECK_INT(loam_host_artifact_firmware_lists(db, NULL, &fws, &err), 0);
	CHECK_INT(fws.n, 1);
	if (fws.n == 1)
		CHECK(strcmp(fws.v[0].value, "n") == 0 && strcmp(fws.v[0].value2, "A") == 0);
	loam_db_close(db);
	tdb_done(&t);
}

static void test_gc_steps(void)
{
	struct tdb t;
	struct loam_db *db = fresh(&t, "model_gc");
	cleanup_err loam_err err = NULL;
	add(db, "h", "h", true);
	exec_ok(db, "INSERT INTO host_artifact (host_id, component, name, version, arch, kind, "
		    "state, installed_at, updated_at) VALUES "
		    "('h', 'firmware', 'n', 'A', 'x64', 'file', 'installed', 1, 1), "
		    "('h', 'firmware', 'n', 'B', 'x64', 'file', 'installed', 2, 2), "
		    "('h', 'firmware', 'n', 'C', 'x64', 'file', 'installed', 3, 3), "
		    "('h', 'firmware', 'n', 'D', 'x64', 'file', 'installed', 4, 4), "
		    "('h', 'vmm', 'q', '1', 'x64', 'tarball', 'installed', 1, 1), "
		    "('h', 'vmm', 'q', '2', 'x64', 'tarball', 'installed', 2, 2)");
	exec_ok(db, "UPDATE host_artifact SET weight = 200 WHERE version = 'C'");
	exec_ok(db,
		"INSERT INTO vm (id, name, arch, size, vcpus, memory_gib, storage_gib, "
		"host_id, created_at) VALUES ('v', 'v', 'x64', 'standard-2', 2, 8, 20, 'h', 0)");
	exec_ok(db,
		"INSERT INTO vm_artifact (vm_id, component, name, version, arch, next_name, "
		"next_version, next_arch) VALUES ('v', 'firmware', 'n', 'A', 'x64', NULL, NULL, "
		"NULL), ('v', 'vmm', 'q', '2', 'x64', 'q', '1', 'x64')");
	cleanup_host_artifacts struct loam_host_artifacts view = {0};
	CHECK_INT(loam_host_artifacts_gc_view(db, "h", &view, &err), 0);
	CHECK_INT(view.n, 6);
	if (view.n == 6)
		CHECK(view.v[0].vms == 1 && view.v[0].newer && !view.v[3].newer &&
		      !view.v[2].higher && view.v[3].higher && view.v[4].vms == 1);
	cleanup_host_artifacts struct loam_host_artifacts marked = {0};
	CHECK_INT(loam_host_artifacts_mark_removing(db, "h", &marked, &err), 0);
	/* B only: A is pinned, C weighs most, D is the newest, vmm 1 is the
	 * version v moves to and vmm 2 the one it runs */
	CHECK_INT(marked.n, 1);
	if (marked.n == 1) {
		CHECK_STR(marked.v[0].version, "B");
		CHECK_STR(marked.v[0].state, "removing");
	}
	struct loam_artifact_pick p = {0};
	CHECK_INT(loam_host_artifact_pick(db, "h", "x64", "firmware", &p, &err), 1);
	CHECK_STR(p.version, "C"); /* the highest weight, and never B */
	loam_artifact_pick_free(&p);
	/* a crash here leaves B 'removing': the next GC takes it again */
	cleanup_host_artifacts struct loam_host_artifacts again = {0};
	CHECK_INT(loam_host_artifacts_mark_removing(db, "h", &again, &err), 0);
	CHECK_INT(again.n, 1);
	struct loam_artifact_key b = {"firmware", "n", "B", "x64"};
	CHECK_INT(loam_host_artifact_forget(db, "h", &b, &err), 0);
	cleanup_host_artifacts struct loam_host_artifacts left = {0};
	CHECK_INT(loam_host_artifacts_of(db, "h", &left, &err), 0);
	CHECK_INT(left.n, 5);
	char **names = NULL;
	size_t n = 0;
	CHECK_INT(loam_host_artifact_hosts(db, &names, &n, &err), 0);
	CHECK_INT(n, 1);
	CHECK_STR(names ? names[0] : NULL, "h");
	loam_strvfreep(&names);
	loam_db_close(db);
	tdb_done(&t);
}

int main(void)
{
	RUN(test_states);
	for (backend = tdb_first_backend(); backend < tdb_backends(); backend++) {
		printf("backend %s\n", tdb_backend_name(backend));
		RUN(test_add_list_and_clash);
		RUN(test_cloudify_records);
		RUN(test_unreachable_and_back);
		RUN(test_delete_with_strand);
		RUN(test_artifact_bookkeeping);
		RUN(test_bundles_and_weights);
		RUN(test_gc_steps);
	}
	if (tdb_backends() < 2)
		printf("note: LOAM_TEST_PG_URL unset, PostgreSQL cases skipped\n");
	return t_summary();
}
