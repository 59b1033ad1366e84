/*
 * The cloudify prog on this machine through the `local` transport (the real
 * agent from $LOAM_DIST_DIR, learning real facts), on SQLite and
 * PostgreSQL, with a temp host state_dir:
 *  - a host goes from 'unprepared' to 'accepting' with its arch, agent
 *    (sha256-checked, versioned path) and learned facts stored;
 *  - SIGKILL right after each label (before its outcome is applied), then
 *    a restart: cloudify still ends accepting with one host row, one strand
 *    and one agent copy;
 *  - the heartbeat, after two missed beats in a row (one is only checked
 *    again), marks the host 'unreachable' and its running VMs
 *    'unavailable' when the agent stops answering, and restores both;
 *  - an ssh host that cannot be reached is retried with backoff, the
 *    'destroy' signal ends the heartbeat, and a host row whose state_dir is
 *    not a safe absolute path fails before anything runs.
 */
#include <dirent.h>
#include <stdlib.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../engine/engine_t.h"
#include "arch/arch.h"
#include "lib/log.h"
#include "lib/sha256.h"
#include "progs/progs.h"
#include "t.h"
#include "transport/transport.h"

static const char *base;
static int round_no;
static char dist_dir[512];
static struct loamd_app app;

static struct loam_db *fresh(const char *name, char **url)
{
	char tag[48];
	snprintf(tag, sizeof(tag), "%s_%d_%d", name, round_no, (int)getpid());
	return t_fresh_db(base, tag, url);
}

/* The host row the API would create; returns its state_dir (freed by the
 * caller). The host id doubles as the cloudify strand's id. */
static char *add_local_host(struct loam_db *db, const char *id)
{
	char *dir = NULL;
	if (asprintf(&dir, "%s/host-%s-%d", t_sqlite_dir, id, round_no) < 0 || mkdir(dir, 0755) < 0)
		abort();
	cleanup_err loam_err err = NULL;
	if (loam_db_exec(db,
			 "INSERT INTO host (id, name, transport, state_dir, created_at) VALUES (?, "
			 "?, 'local', ?, ?)",
			 DB_ARGS(DB_TEXT(id), DB_TEXT(id), DB_TEXT(dir), DB_INT(loam_db_now_ms())),
			 NULL, &err) < 0 ||
	    loam_strand_create(db, LOAM_PROG_CLOUDIFY, NULL, NULL, id, NULL, &err) < 0) {
		fprintf(stderr, "add host: %s\n", loam_err_msg(err));
		abort();
	}
	return dir;
}

/* Runs the engine with short leases until the strand sits in `wait` with
 * its next beat in the future (cloudify done). */
static void run_until_waiting(struct loam_db *db, const char *id)
{
	cleanup_err loam_err err = NULL;
	for (int64_t until = loam_db_now_ms() + 240000; loam_db_now_ms() < until;) {
		int rc = loam_engine_run_one(db, "test", 300, &app, &err);
		if (rc < 0) {
			fprintf(stderr, "run: %s\n", loam_err_msg(err));
			loam_err_free(&err);
		}
		if (rc == 1)
			continue;
		cleanup_free char *label = t_text(db, "SELECT label FROM strand WHERE id = ?", id);
		if (strcmp(label, "wait") == 0 &&
		    t_int(db, "SELECT schedule FROM strand WHERE id = ?", id) > loam_db_now_ms())
			return;
		if (t_int(db, "SELECT done FROM strand WHERE id = ?", id) == 1)
			return;
		if (t_int(db, "SELECT tries FROM strand WHERE id = ?", id) >= 3) {
			cleanup_free char *e =
			    t_text(db, "SELECT last_error FROM strand WHERE id = ?", id);
			fprintf(stderr, "strand %s keeps failing: %s\n", id, e);
			return; /* fail now rather than after minutes of backoff */
		}
		usleep(50 * 1000);
	}
}

static char *host_text(struct loam_db *db, const char *col, const char *id)
{
	char sql[128];
	snprintf(sql, sizeof(sql), "SELECT %s FROM host WHERE id = ?", col);
	return t_text(db, sql, id);
}

static int64_t host_int(struct loam_db *db, const char *col, const char *id)
{
	char sql[128];
	snprintf(sql, sizeof(sql), "SELECT %s FROM host WHERE id = ?", col);
	return t_int(db, sql, id);
}

static int count_entries(const char *dir)
{
	cleanup_dir DIR *d = opendir(dir);
	int n = 0;
	for (struct dirent *e; d && (e = readdir(d));)
		n += e->d_name[0] != '.';
	return d ? n : -1;
}

/* What every finished cloudify must look like. */
static void check_accepted(struct loam_db *db, const char *id, const char *state_dir)
{
	cleanup_free char *state = host_text(db, "allocation_state", id);
	cleanup_free char *arch = host_text(db, "arch", id);
	cleanup_free char *agent = host_text(db, "agent_path", id);
	cleanup_free char *sha = host_text(db, "agent_sha256", id);
	cleanup_free char *facts = host_text(db, "facts", id);
	cleanup_free char *accel = host_text(db, "accel", id);
	CHECK_STR(state, "accepting");
	cleanup_err loam_err err = NULL;
	const struct loam_arch *me = loam_arch_of_this_machine(&err);
	CHECK_STR(arch, me ? me->name : "?");
	char want_sha[LOAM_SHA256_HEX_LEN + 1] = "", got_sha[LOAM_SHA256_HEX_LEN + 1] = "";
	cleanup_free char *local = NULL, *want_path = NULL;
	if (asprintf(&local, "%s/loam-host-%s", dist_dir, arch) < 0)
		abort();
	CHECK_INT(loam_sha256_file(local, want_sha, NULL, &err), 0);
	CHECK_STR(sha, want_sha);
	if (asprintf(&want_path, "%s/agent/%.16s/loam-host", state_dir, want_sha) < 0)
		abort();
	CHECK_STR(agent, want_path);
	CHECK_INT(loam_sha256_file(agent, got_sha, NULL, &err), 0);
	CHECK_STR(got_sha, want_sha);
	cleanup_free char *agent_dir = NULL;
	if (asprintf(&agent_dir, "%s/agent", state_dir) < 0)
		abort();
	CHECK_INT(count_entries(agent_dir), 1);	 /* one versioned copy */
	CHECK_INT(count_entries(want_path), -1); /* (a file, not a dir) */
	CHECK(host_int(db, "cpus", id) > 0);
	CHECK(host_int(db, "total_cores", id) > 0);
	CHECK(host_int(db, "total_mem_gib", id) > 0);
	CHECK(host_int(db, "threads_per_core", id) >= 1);
	CHECK_CONTAINS(facts, "\"cpus\"");
	CHECK(strcmp(accel, "kvm") == 0 || strcmp(accel, "none") == 0);
	CHECK_INT(t_int(db, "SELECT count(*) FROM host", NULL), 1);
	CHECK_INT(t_int(db, "SELECT count(*) FROM strand", NULL), 1);
	cleanup_free char *label = t_text(db, "SELECT label FROM strand WHERE id = ?", id);
	CHECK_STR(label, "wait");
}

static void test_cloudify_local(void)
{
	cleanup_free char *url = NULL;
	struct loam_db *db = fresh("cloudify", &url);
	cleanup_free char *dir = add_local_host(db, "hlocal1");
	run_until_waiting(db, "hlocal1");
	check_accepted(db, "hlocal1", dir);
	cleanup_free char *last =
	    t_text(db, "SELECT last_error FROM strand WHERE id = ?", "hlocal1");
	CHECK_STR(last, "(null)");
	loam_db_close(db);
}

static const char *const labels[] = {"start", "connect",	   "detect_arch", "upload_agent",
				     "learn", "install_artifacts", "accept",	  "wait"};

/* The process that is killed runs in a fresh exec of this test (see
 * crash_child): a fork of a process with threads (the transport pool's,
 * the sanitizers') could inherit a lock held by another thread and hang
 * instead of reaching the fault point. */
static pid_t spawn_crash_child(const char *url, const char *name, const char *label)
{
	extern char **environ;
	size_t n = 0;
	while (environ[n])
		n++;
	char **envp = calloc(n + 2, sizeof(*envp));
	char fault[128];
	snprintf(fault, sizeof(fault), "LOAM_FAULT=engine-label-done/cloudify.%s", label);
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "LOAM_FAULT=", 11) != 0)
			envp[k++] = environ[i];
	envp[k] = fault;
	char *const argv[] = {"test_cloudify", "--crash-child", (char *)url, (char *)name, NULL};
	pid_t pid = fork();
	if (pid == 0) {
		execve("/proc/self/exe", argv, envp);
		_exit(127);
	}
	free(envp);
	return pid;
}

/* Waits for pid at most 300 s; a child still running then is killed and
 * reported, so that a hang fails this case rather than the whole test. */
static int wait_bounded(pid_t pid, const char *name)
{
	int st = 0;
	for (int i = 0; i < 3000; i++) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return st;
		usleep(100 * 1000);
	}
	fprintf(stderr, "%s: the crash child did not end in 300 s; killed\n", name);
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	return 0;
}

static void test_crash_at_each_label(void)
{
	for (size_t i = 0; i < sizeof(labels) / sizeof(*labels); i++) {
		cleanup_free char *url = NULL;
		char name[40];
		snprintf(name, sizeof(name), "ckill_%zu", i);
		struct loam_db *db = fresh(name, &url);
		cleanup_free char *dir = add_local_host(db, name);
		int st = wait_bounded(spawn_crash_child(url, name, labels[i]), name);
		CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
		cleanup_free char *killed_at =
		    t_text(db, "SELECT label FROM strand WHERE id = ?", name);
		CHECK_STR(killed_at, labels[i]); /* the killed label's outcome was not applied */
		run_until_waiting(db, name);
		check_accepted(db, name, dir);
		loam_db_close(db);
	}
}

static void set_vm(struct loam_db *db, const char *id, const char *host, const char *state)
{
	cleanup_err loam_err err = NULL;
	if (loam_db_exec(db,
			 "INSERT INTO size (arch, name, vcpus, memory_gib, storage_gib) VALUES "
			 "('x64', 't-2', 2, 8, 40) ON CONFLICT DO NOTHING",
			 DB_NOARGS, NULL, &err) < 0 ||
	    loam_db_exec(
		db,
		"INSERT INTO vm (id, name, arch, size, vcpus, memory_gib, storage_gib, "
		"host_id, state, created_at) VALUES (?, ?, 'x64', 't-2', 2, 8, 40, ?, ?, ?)",
		DB_ARGS(DB_TEXT(id), DB_TEXT(id), DB_TEXT(host), DB_TEXT(state),
			DB_INT(loam_db_now_ms())),
		NULL, &err) < 0)
		fprintf(stderr, "vm: %s\n", loam_err_msg(err));
}

static char *vm_state(struct loam_db *db, const char *id)
{
	return t_text(db, "SELECT state FROM vm WHERE id = ?", id);
}

static void beat(struct loam_db *db, const char *id)
{
	t_exec_sql(db, "UPDATE strand SET schedule = 0 WHERE id = ?", id);
	cleanup_err loam_err err = NULL;
	CHECK_INT(loam_engine_run_one(db, "test", 30000, &app, &err), 1);
}

/* The host and its running VM as they were before any missed beat. */
static void check_not_marked(struct loam_db *db)
{
	cleanup_free char *hs = host_text(db, "allocation_state", "hbeat");
	cleanup_free char *v1 = vm_state(db, "vm-run");
	CHECK_STR(hs, "draining");
	CHECK_STR(v1, "running");
}

static void test_heartbeat(void)
{
	cleanup_free char *url = NULL;
	struct loam_db *db = fresh("beat", &url);
	cleanup_free char *dir = add_local_host(db, "hbeat");
	run_until_waiting(db, "hbeat");
	check_accepted(db, "hbeat", dir);
	set_vm(db, "vm-run", "hbeat", "running");
	set_vm(db, "vm-stopped", "hbeat", "stopped");
	t_exec_sql(db, "UPDATE host SET allocation_state = 'draining' WHERE id = ?", "hbeat");
	cleanup_free char *agent = host_text(db, "agent_path", "hbeat");
	cleanup_free char *moved = NULL;
	if (asprintf(&moved, "%s.away", agent) < 0 || rename(agent, moved) < 0)
		abort();
	beat(db, "hbeat"); /* one missed beat is checked again, not acted on */
	check_not_marked(db);
	for (int i = 0; i < 2; i++) { /* the second miss marks; a third changes nothing */
		beat(db, "hbeat");
		cleanup_free char *hs = host_text(db, "allocation_state", "hbeat");
		cleanup_free char *before = host_text(db, "state_before_unreachable", "hbeat");
		cleanup_free char *reason = host_text(db, "state_reason", "hbeat");
		cleanup_free char *v1 = vm_state(db, "vm-run");
		cleanup_free char *v2 = vm_state(db, "vm-stopped");
		cleanup_free char *v1b =
		    t_text(db, "SELECT state_before_unavailable FROM vm WHERE id = ?", "vm-run");
		CHECK_STR(hs, "unreachable");
		CHECK_STR(before, "draining");
		CHECK(strcmp(reason, "(null)") != 0);
		CHECK_STR(v1, "unavailable");
		CHECK_STR(v1b, "running");
		CHECK_STR(v2, "stopped");
	}
	if (rename(moved, agent) < 0)
		abort();
	beat(db, "hbeat");
	cleanup_free char *hs = host_text(db, "allocation_state", "hbeat");
	cleanup_free char *v1 = vm_state(db, "vm-run");
	cleanup_free char *v2 = vm_state(db, "vm-stopped");
	CHECK_STR(hs, "draining");
	CHECK_STR(v1, "running");
	CHECK_STR(v2, "stopped");
	CHECK(host_int(db, "last_seen_at", "hbeat") > 0);
	/* An answer forgets a miss: miss, answer, miss is not two in a row. */
	if (rename(agent, moved) < 0)
		abort();
	beat(db, "hbeat");
	if (rename(moved, agent) < 0)
		abort();
	beat(db, "hbeat");
	if (rename(agent, moved) < 0)
		abort();
	beat(db, "hbeat");
	check_not_marked(db);
	if (rename(moved, agent) < 0)
		abort();
	beat(db, "hbeat");
	check_not_marked(db);
	/* Removing the host: the destroy signal ends the heartbeat. */
	cleanup_err loam_err err = NULL;
	CHECK_INT(loam_strand_signal(db, "hbeat", "destroy", &err), 0);
	CHECK_INT(loam_engine_run_one(db, "test", 30000, &app, &err), 1);
	CHECK_INT(t_int(db, "SELECT done FROM strand WHERE id = ?", "hbeat"), 1);
	loam_db_close(db);
}

static int free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) < 0)
		abort();
	close(fd); /* nothing listens there now */
	return ntohs(a.sin_port);
}

static void test_unreachable_ssh_host_retries(void)
{
	cleanup_free char *url = NULL;
	struct loam_db *db = fresh("noconn", &url);
	cleanup_err loam_err err = NULL;
	if (loam_db_exec(
		db,
		"INSERT INTO host (id, name, transport, address, ssh_port, state_dir, "
		"created_at) VALUES ('hgone', 'hgone', 'ssh', '127.0.0.1', ?, '/nonexistent', ?)",
		DB_ARGS(DB_INT(free_port()), DB_INT(loam_db_now_ms())), NULL, &err) < 0 ||
	    loam_strand_create(db, LOAM_PROG_CLOUDIFY, NULL, NULL, "hgone", NULL, &err) < 0)
		abort();
	CHECK_INT(loam_engine_run_due(db, "test", &app, &err), 2); /* start, then connect fails */
	cleanup_free char *label = t_text(db, "SELECT label FROM strand WHERE id = ?", "hgone");
	cleanup_free char *last = t_text(db, "SELECT last_error FROM strand WHERE id = ?", "hgone");
	cleanup_free char *state = host_text(db, "allocation_state", "hgone");
	CHECK_STR(label, "connect");
	CHECK_CONTAINS(last, "hgone");
	CHECK_INT(t_int(db, "SELECT tries FROM strand WHERE id = ?", "hgone"), 1);
	CHECK_STR(state, "unprepared");
	loam_db_close(db);
}

static void test_bad_state_dir_refused(void)
{
	cleanup_free char *url = NULL;
	struct loam_db *db = fresh("baddir", &url);
	cleanup_err loam_err err = NULL;
	if (loam_db_exec(db,
			 "INSERT INTO host (id, name, transport, state_dir, created_at) VALUES "
			 "('hbad', 'hbad', 'local', '/tmp/x;touch y', ?)",
			 DB_ARGS(DB_INT(loam_db_now_ms())), NULL, &err) < 0 ||
	    loam_strand_create(db, LOAM_PROG_CLOUDIFY, NULL, NULL, "hbad", NULL, &err) < 0)
		abort();
	CHECK_INT(loam_engine_run_due(db, "test", &app, &err), 1);
	cleanup_free char *state = host_text(db, "allocation_state", "hbad");
	cleanup_free char *reason = host_text(db, "state_reason", "hbad");
	cleanup_free char *arch = host_text(db, "arch", "hbad");
	CHECK_STR(state, "failed");
	CHECK_CONTAINS(reason, "state_dir");
	CHECK_STR(arch, "(null)"); /* nothing ran */
	CHECK_INT(t_int(db, "SELECT done FROM strand WHERE id = ?", "hbad"), 1);
	loam_db_close(db);
}

/* test_cloudify --crash-child URL STRAND: runs the engine on that
 * database until the fault point in LOAM_FAULT kills this process. */
static int crash_child(const char *url, const char *name)
{
	struct loam_db *db = NULL;
	cleanup_err loam_err err = NULL;
	if (loam_db_open(url, &db, &err) < 0) {
		fprintf(stderr, "crash child: %s\n", loam_err_msg(err));
		return 4;
	}
	run_until_waiting(db, name);
	return 0; /* should not get here */
}

int main(int argc, char **argv)
{
	loam_log_init("test_cloudify", false, LOAM_LOG_WARN);
	const char *dist = getenv("LOAM_DIST_DIR");
	snprintf(dist_dir, sizeof(dist_dir), "%s", dist && *dist ? dist : "build/dist");
	char agent[600];
	const struct loam_arch *me = loam_arch_of_this_machine(NULL);
	snprintf(agent, sizeof(agent), "%s/loam-host-%s", dist_dir, me ? me->name : "?");
	if (access(agent, X_OK) != 0) {
		fprintf(stderr, "%s is missing: build the agents first with: make\n", agent);
		return 1;
	}
	loam_progs_register_all();
	app = (struct loamd_app){
	    .pool = loam_transport_pool_new(), .dist_dir = dist_dir, .heartbeat_ms = 3600 * 1000};
	if (argc == 4 && strcmp(argv[1], "--crash-child") == 0)
		return crash_child(argv[2], argv[3]);
	const char *bases[2];
	int n = t_backends(bases);
	for (round_no = 0; round_no < n; round_no++) {
		base = bases[round_no];
		fprintf(stderr, "== backend %s\n", round_no ? "postgresql" : "sqlite");
		RUN(test_cloudify_local);
		RUN(test_crash_at_each_label);
		RUN(test_heartbeat);
		RUN(test_unreachable_ssh_host_retries);
		RUN(test_bad_state_dir_refused);
	}
	loam_transport_pool_free(app.pool);
	t_cleanup_dir();
	return t_summary();
}
