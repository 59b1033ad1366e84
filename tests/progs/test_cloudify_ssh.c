/*
 * Cloudify over real SSH (run by cloudify_ssh.sh, which starts the test
 * hosts of tests/hosts/ssh-hosts.sh and exports their hosts.env):
 *  - the x64 host ends accepting with its host key pinned;
 *  - the arm64 host (a chroot where every command is an arm64 binary under
 *    qemu-user) reports aarch64, gets loam-host-arm64 and ends accepting
 *    with facts learned there;
 *  - a host whose key differs from the pinned one is set 'failed' with a
 *    reason, its strand ends, and nothing ran there.
 */
#include <sys/stat.h>

#include "../engine/engine_t.h"
#include "arch/arch.h"
#include "lib/log.h"
#include "lib/sha256.h"
#include "progs/progs.h"
#include "t.h"
#include "transport/transport.h"

static struct loamd_app app;
static struct loam_db *db;
static char dist_dir[512];

static const char *env(const char *name)
{
	const char *v = getenv(name);
	if (!v || !*v) {
		fprintf(stderr, "%s is not set: run this through tests/progs/cloudify_ssh.sh\n",
			name);
		exit(1);
	}
	return v;
}

static void add_ssh_host(const char *name, const char *prefix, const char *state_dir,
			 const char *pinned_key)
{
	char var[64];
	snprintf(var, sizeof(var), "%s_PORT", prefix);
	int port = atoi(env(var));
	snprintf(var, sizeof(var), "%s_USER", prefix);
	const char *user = env(var);
	snprintf(var, sizeof(var), "%s_ADDRESS", prefix);
	const char *address = env(var);
	cleanup_err loam_err err = NULL;
	if (loam_db_exec(
		db,
		"INSERT INTO host (id, name, transport, address, ssh_port, ssh_user, "
		"ssh_key_file, host_key, state_dir, created_at) VALUES (?, ?, 'ssh', ?, ?, ?, "
		"?, ?, ?, ?)",
		DB_ARGS(DB_TEXT(name), DB_TEXT(name), DB_TEXT(address), DB_INT(port), DB_TEXT(user),
			DB_TEXT(env("SSH_KEY")), pinned_key ? DB_TEXT(pinned_key) : DB_NULL,
			DB_TEXT(state_dir), DB_INT(loam_db_now_ms())),
		NULL, &err) < 0 ||
	    loam_strand_create(db, LOAM_PROG_CLOUDIFY, NULL, NULL, name, NULL, &err) < 0) {
		fprintf(stderr, "add host %s: %s\n", name, loam_err_msg(err));
		abort();
	}
}

static void run_until_settled(const char *id)
{
	cleanup_err loam_err err = NULL;
	for (int64_t until = loam_db_now_ms() + 400000; loam_db_now_ms() < until;) {
		int rc = loam_engine_run_one(db, "test", 30000, &app, &err);
		if (rc < 0) {
			fprintf(stderr, "run: %s\n", loam_err_msg(err));
			loam_err_free(&err);
		}
		if (rc == 1)
			continue;
		if (t_int(db, "SELECT done FROM strand WHERE id = ?", id) == 1)
			return;
		if (t_int(db, "SELECT tries FROM strand WHERE id = ?", id) >= 3) {
			cleanup_free char *e =
			    t_text(db, "SELECT last_error FROM strand WHERE id = ?", id);
			fprintf(stderr, "strand %s keeps failing: %s\n", id, e);
			return; /* fail now rather than after minutes of backoff */
		}
		cleanup_free char *label = t_text(db, "SELECT label FROM strand WHERE id = ?", id);
		if (strcmp(label, "wait") == 0)
			return;
		usleep(100 * 1000);
	}
}

static char *col(const char *c, const char *id)
{
	char sql[128];
	snprintf(sql, sizeof(sql), "SELECT %s FROM host WHERE id = ?", c);
	return t_text(db, sql, id);
}

static void check_accepting(const char *id, const char *arch, const char *host_key)
{
	cleanup_free char *state = col("allocation_state", id);
	cleanup_free char *got_arch = col("arch", id);
	cleanup_free char *key = col("host_key", id);
	cleanup_free char *sha = col("agent_sha256", id);
	cleanup_free char *facts = col("facts", id);
	cleanup_free char *last = t_text(db, "SELECT last_error FROM strand WHERE id = ?", id);
	CHECK_STR(state, "accepting");
	CHECK_STR(got_arch, arch);
	CHECK_STR(key, host_key);
	char want[LOAM_SHA256_HEX_LEN + 1] = "", local[600];
	snprintf(local, sizeof(local), "%s/loam-host-%s", dist_dir, arch);
	cleanup_err loam_err err = NULL;
	CHECK_INT(loam_sha256_file(local, want, NULL, &err), 0);
	CHECK_STR(sha, want);
	CHECK_CONTAINS(facts, "\"cpus\"");
	if (strcmp(state, "accepting") != 0)
		fprintf(stderr, "  last error: %s\n", last);
}

static void test_x64_over_ssh(void)
{
	char dir[600];
	snprintf(dir, sizeof(dir), "%s/x64-state", env("WORK_DIR"));
	add_ssh_host("sshx64", "X64", dir, NULL);
	run_until_settled("sshx64");
	check_accepting("sshx64", "x64", env("X64_HOST_KEY"));
	cleanup_free char *agent = col("agent_path", "sshx64");
	CHECK_INT(access(agent, X_OK), 0); /* this host's disk is ours */
}

static void test_arm64_over_ssh(void)
{
	add_ssh_host("ssharm64", "ARM64", "/var/lib/loam-host", NULL);
	run_until_settled("ssharm64");
	check_accepting("ssharm64", "arm64", env("ARM64_HOST_KEY"));
	cleanup_free char *agent = col("agent_path", "ssharm64");
	char inside[1200];
	snprintf(inside, sizeof(inside), "%s%s", env("ARM64_ROOT"), agent);
	CHECK_INT(access(inside, X_OK), 0); /* uploaded into the chroot */
}

static void test_changed_host_key(void)
{
	char dir[600];
	snprintf(dir, sizeof(dir), "%s/key-state", env("WORK_DIR"));
	/* The x64 sshd, but pinned to another host's key. */
	add_ssh_host("sshkey", "X64", dir, env("ARM64_HOST_KEY"));
	run_until_settled("sshkey");
	cleanup_free char *state = col("allocation_state", "sshkey");
	cleanup_free char *reason = col("state_reason", "sshkey");
	cleanup_free char *arch = col("arch", "sshkey");
	cleanup_free char *key = col("host_key", "sshkey");
	CHECK_STR(state, "failed");
	CHECK_CONTAINS(reason, "host key");
	CHECK_STR(arch, "(null)");	       /* uname never ran */
	CHECK_STR(key, env("ARM64_HOST_KEY")); /* the pin is kept */
	CHECK_INT(t_int(db, "SELECT done FROM strand WHERE id = ?", "sshkey"), 1);
	struct stat st;
	CHECK(stat(dir, &st) != 0); /* nothing was created there */
}

int main(void)
{
	loam_log_init("test_cloudify_ssh", false, LOAM_LOG_WARN);
	const char *dist = getenv("LOAM_DIST_DIR");
	snprintf(dist_dir, sizeof(dist_dir), "%s", dist && *dist ? dist : "build/dist");
	loam_progs_register_all();
	app = (struct loamd_app){
	    .pool = loam_transport_pool_new(), .dist_dir = dist_dir, .heartbeat_ms = 3600 * 1000};
	const char *bases[2];
	t_backends(bases);
	cleanup_free char *url = NULL;
	db = t_fresh_db(bases[0], "ssh", &url);
	RUN(test_changed_host_key);
	RUN(test_x64_over_ssh);
	RUN(test_arm64_over_ssh);
	loam_db_close(db);
	loam_transport_pool_free(app.pool);
	t_cleanup_dir();
	return t_summary();
}
