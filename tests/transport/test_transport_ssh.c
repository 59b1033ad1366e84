/*
 * The ssh transport against the real test hosts (tests/hosts/): host key
 * pinning and refusal, stdin/stdout/stderr/exit status, timeouts, refusal
 * of words that are not shell-inert before anything is sent, SFTP uploads,
 * connection reuse and reconnection in the pool, an unreachable host, and
 * the arm64 chroot host running the uploaded arm64 agent.
 *
 * Run by ssh_test.sh, which starts the hosts and exports hosts.env. The x64
 * host is this machine, so the test checks remote effects on the local
 * file system directly.
 */
#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "lib/cleanup.h"
#include "lib/fs.h"
#include "lib/sha256.h"
#include "t.h"
#include "transport/transport.h"

static const char *hosts_dir, *work_dir;

static const char *env(const char *name)
{
	const char *v = getenv(name);
	if (!v || !*v) {
		fprintf(stderr, "test_transport_ssh: %s is not set; run ssh_test.sh\n", name);
		exit(1);
	}
	return v;
}

static struct loam_host_target target(const char *prefix, const char *pinned)
{
	char name[64];
	snprintf(name, sizeof(name), "%s_PORT", prefix);
	struct loam_host_target tg = {
	    .kind = LOAM_TRANSPORT_SSH,
	    .name = strcmp(prefix, "X64") == 0 ? "test-x64" : "test-arm64",
	    .address = "127.0.0.1",
	    .port = atoi(env(name)),
	    .user = "root",
	    .key_file = env("SSH_KEY"),
	    .pinned_host_key = pinned,
	    .connect_timeout_ms = 5000,
	};
	return tg;
}

static struct loam_transport *open_pinned(const char *prefix)
{
	char name[64];
	snprintf(name, sizeof(name), "%s_HOST_KEY", prefix);
	struct loam_host_target tg = target(prefix, env(name));
	struct loam_transport *t = NULL;
	cleanup_err loam_err err = NULL;
	if (loam_transport_open(&tg, &t, NULL, &err) < 0)
		fprintf(stderr, "open %s: %s\n", prefix, loam_err_msg(err));
	CHECK(t != NULL);
	return t;
}

static char *path_in(const char *dir, const char *leaf)
{
	char *p = NULL;
	if (asprintf(&p, "%s/%s", dir, leaf) < 0)
		abort();
	return p;
}

/* How many sessions sshd has authenticated so far: its log says so. */
static int accepted_logins(const char *prefix)
{
	char name[64];
	snprintf(name, sizeof(name), "%s_LOG", prefix);
	cleanup_free char *log = NULL;
	size_t len = 0;
	cleanup_err loam_err err = NULL;
	if (loam_read_file(env(name), 0, &log, &len, &err) < 0)
		return -1;
	int n = 0;
	for (const char *p = log; (p = strstr(p, "Accepted publickey")); p++)
		n++;
	return n;
}

static void test_first_contact_returns_key(void)
{
	struct loam_host_target tg = target("X64", NULL);
	struct loam_transport *t = NULL;
	char *seen = NULL;
	cleanup_err loam_err err = NULL;
	CHECK_INT(loam_transport_open(&tg, &t, &seen, &err), 0);
	CHECK_STR(seen, env("X64_HOST_KEY"));
	free(seen);
	loam_transport_close(t);
}

static void test_pinned_key_accepted(void)
{
	struct loam_host_target tg = target("X64", env("X64_HOST_KEY"));
	struct loam_transport *t = NULL;
	char *seen = (char *)"untouched";
	cleanup_err loam_err err = NULL;
	CHECK_INT(loam_transport_open(&tg, &t, &seen, &err), 0);
	CHECK(seen == NULL);
	/* A pinned key with a trailing comment is the same key. */
	cleanup_free char *commented = NULL;
	CHECK(asprintf(&commented, "%s root@somewhere", env("X64_HOST_KEY")) > 0);
	tg.pinned_host_key = commented;
	struct loam_transport *t2 = NULL;
	CHECK_INT(loam_transport_open(&tg, &t2, NULL, &err), 0);
	loam_transport_close(t2);

	/* The server's other key (ecdsa) pinned: that one is asked for. */
	cleanup_free char *pub_path = path_in(hosts_dir, "x64/ssh_host_ecdsa_key.pub");
	cleanup_free char *ecdsa = NULL;
	size_t len = 0;
	CHECK_INT(loam_read_file(pub_path, 0, &ecdsa, &len, &err), 0);
	tg.pinned_host_key = ecdsa;
	t2 = NULL;
	if (loam_transport_open(&tg, &t2, NULL, &err) < 0)
		fprintf(stderr, "ecdsa pin: %s\n", loam_err_msg(err));
	CHECK(t2 != NULL);
	loam_transport_close(t2);
	loam_transport_close(t);
}

static void test_changed_key_refused_and_nothing_runs(void)
{
	/* The arm64 host's key stands in for "the key we pinned before". */
	struct loam_host_target tg = target("X64", env("ARM64_HOST_KEY"));
	cleanup_free char *marker = path_in(work_dir, "changed-key-marker");
	int logins = accepted_logins("X64");
	struct loam_transport *t = NULL;
	cleanup_err loam_err err = NULL;
	if (loam_transport_open(&tg, &t, NULL, &err) == 0) {
		const char *argv[] = {"touch", marker, NULL};
		struct loam_spawn_result res;
		loam_transport_run(t, argv, NULL, 0, 10000, &res, &err);
		loam_spawn_result_free(&res);
		loam_transport_close(t);
		CHECK(!"opened a host whose key changed");
	}
	CHECK_INT(loam_err_kind_of(err), LOAM_E_AUTH);
	CHECK_CONTAINS(loam_err_msg(err), "host key for test-x64 changed");
	CHECK_CONTAINS(loam_err_msg(err), env("X64_HOST_KEY"));
	CHECK_CONTAINS(loam_err_msg(err), "remove and re-add it");
	CHECK(access(marker, F_OK) != 0);
	/* We never even authenticated. */
	CHECK_INT(accepted_logins("X64"), logins);
}

static void test_run_streams_and_status(void)
{
	struct loam_transport *t = open_pinned("X64");
	if (!t)
		return;
	cleanup_err loam_err err = NULL;
	struct loam_spawn_result res;
	const char *cat[] = {"cat", NULL};
	CHECK_INT(loam_transport_run(t, cat, "line one\nline two\n", 18, 10000, &res, &err), 0);
	CHECK_STR(res.out, "line one\nline two\n");
	CHECK_INT(res.exit_status, 0);
	CHECK_INT(res.err_len, 0);
	loam_spawn_result_free(&res);

	const char *ls[] = {"ls", "/nonexistent-loam-path", NULL};
	CHECK_INT(loam_transport_run(t, ls, NULL, 0, 10000, &res, &err), 0);
	CHECK_INT(res.exit_status, 2);
	CHECK_STR(res.out, "");
	CHECK_CONTAINS(res.err, "nonexistent-loam-path");
	loam_spawn_result_free(&res);

	CHECK_INT(loam_transport_run_ok(t, ls, NULL, 0, 10000, &res, &err), -1);
	CHECK_INT(loam_err_kind_of(err), LOAM_E_IO);
	CHECK_CONTAINS(loam_err_msg(err), "exited with status 2");
	loam_spawn_result_free(&res);

	const char *f[] = {"false", NULL};
	CHECK_INT(loam_transport_run(t, f, NULL, 0, 10000, &res, &err), 0);
	CHECK_INT(res.exit_status, 1);
	loam_spawn_result_free(&res);
	loam_transport_close(t);
}

static void test_run_large_streams(void)
{
	struct loam_transport *t = open_pinned("X64");
	if (!t)
		return;
	cleanup_err loam_err err = NULL;
	struct loam_spawn_result res;
	/* More stdin than an SSH window holds, through sha256sum. */
	size_t n = 3u << 20;
	cleanup_free char *data = malloc(n);
	for (size_t i = 0; i < n; i++)
		data[i] = (char)(i * 7 + i / 4096);
	char want[LOAM_SHA256_HEX_LEN + 1];
	CHECK_INT(loam_sha256_buf(data, n, want, &err), 0);
	const char *sum[] = {"sha256sum", NULL};
	CHECK_INT(loam_transport_run(t, sum, data, n, 60000, &res, &err), 0);
	CHECK(strncmp(res.out, want, LOAM_SHA256_HEX_LEN) == 0);
	loam_spawn_result_free(&res);

	/* More stdout than a window, and stderr at the same time. */
	const char *head[] = {"head", "-c", "5000000", "/dev/zero", NULL};
	CHECK_INT(loam_transport_run(t, head, NULL, 0, 60000, &res, &err), 0);
	CHECK_INT(res.out_len, 5000000);
	loam_spawn_result_free(&res);

	/* stdin the command never reads, or stops reading, is no error
	 * (whenever the command's exit overtakes our writing). */
	const char *t_true[] = {"true", NULL};
	const char *head1[] = {"head", "-c", "1", NULL};
	for (int i = 0; i < 10; i++) {
		if (loam_transport_run(t, i % 2 ? head1 : t_true, data, n, 60000, &res, &err) < 0)
			fprintf(stderr, "unread stdin: %s\n", loam_err_msg(err));
		CHECK_INT(res.exit_status, 0);
		CHECK_INT(res.out_len, i % 2 ? 1 : 0);
		loam_spawn_result_free(&res);
	}
	CHECK(!loam_transport_is_broken(t));
	loam_transport_close(t);
}

/* Is `prog arg` running on this machine (the x64 host)? */
static bool running(const char *prog, const char *arg)
{
	cleanup_dir DIR *d = opendir("/proc");
	for (struct dirent *e; d && (e = readdir(d));) {
		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		char path[300];
		snprintf(path, sizeof(path), "/proc/%s/cmdline", e->d_name);
		cleanup_free char *cmd = NULL;
		size_t len = 0;
		cleanup_err loam_err err = NULL;
		if (loam_read_file(path, 4096, &cmd, &len, &err) < 0)
			continue;
		size_t pl = strlen(prog);
		if (len > pl + 1 && strcmp(cmd, prog) == 0 && strcmp(cmd + pl + 1, arg) == 0) {
			char stat_path[300];
			snprintf(stat_path, sizeof(stat_path), "/proc/%s/stat", e->d_name);
			cleanup_free char *st = NULL;
			if (loam_read_file(stat_path, 4096, &st, &len, &err) == 0 &&
			    strstr(st, ") Z "))
				continue;
			return true;
		}
	}
	return false;
}

static void test_timeout_kills_and_connection_survives(void)
{
	struct loam_transport *t = open_pinned("X64");
	if (!t)
		return;
	cleanup_err loam_err err = NULL;
	struct loam_spawn_result res;
	/* A command that never ends on its own. It dies when its output
	 * channel closes (OpenSSH refuses signal requests in root sessions,
	 * see ssh.c); that happens asynchronously, so poll for it. */
	const char *yes[] = {"yes", "loam-timeout-test", NULL};
	CHECK_INT(loam_transport_run(t, yes, NULL, 0, 300, &res, &err), 0);
	CHECK(res.timed_out);
	loam_spawn_result_free(&res);
	bool gone = false;
	for (int i = 0; i < 200 && !(gone = !running("yes", "loam-timeout-test")); i++)
		usleep(50000);
	CHECK(gone);

	const char *argv[] = {"sleep", "3.25", NULL};

	CHECK_INT(loam_transport_run_ok(t, argv, NULL, 0, 300, &res, &err), -1);
	CHECK_INT(loam_err_kind_of(err), LOAM_E_TIMEOUT);
	loam_spawn_result_free(&res);

	/* A command that closes its output and keeps running: the deadline
	 * also bounds the wait for its exit status. */
	cleanup_free char *script = path_in(work_dir, "quiet-sleeper");
	static const char body[] = "#!/bin/sh\nexec >/dev/null 2>&1 </dev/null\nsleep 4.5\n";
	cleanup_free char *script_src = path_in(work_dir, "quiet-sleeper.src");
	CHECK_INT(loam_write_file_atomic(script_src, body, sizeof(body) - 1, 0644, &err), 0);
	CHECK_INT(loam_transport_upload(t, script_src, script, 0755, &err), 0);
	const char *quiet[] = {script, NULL};
	CHECK_INT(loam_transport_run(t, quiet, NULL, 0, 500, &res, &err), 0);
	CHECK(res.timed_out);
	loam_spawn_result_free(&res);

	const char *echo[] = {"echo", "still-here", NULL};
	CHECK_INT(loam_transport_run(t, echo, NULL, 0, 10000, &res, &err), 0);
	CHECK_STR(res.out, "still-here\n");
	CHECK(!loam_transport_is_broken(t));
	loam_spawn_result_free(&res);
	loam_transport_close(t);
}

static void test_unsafe_words_refused_before_sending(void)
{
	struct loam_transport *t = open_pinned("X64");
	if (!t)
		return;
	static const char *const bad_suffixes[] = {";",	  "$(id)", " x", "'", "\"", "\nx",
						   "`x`", "*",	   "|x", "&", ">x", "~"};
	int logins = accepted_logins("X64");
	for (size_t i = 0; i < sizeof(bad_suffixes) / sizeof(bad_suffixes[0]); i++) {
		cleanup_free char *word = NULL;
		CHECK(asprintf(&word, "%s/unsafe-%zu%s", work_dir, i, bad_suffixes[i]) > 0);
		const char *argv[] = {"touch", word, NULL};
		struct loam_spawn_result res;
		cleanup_err loam_err err = NULL;
		CHECK_INT(loam_transport_run(t, argv, NULL, 0, 10000, &res, &err), -1);
		CHECK_INT(loam_err_kind_of(err), LOAM_E_INVALID);
		CHECK_CONTAINS(loam_err_msg(err), "not shell-inert");
		cleanup_free char *created = NULL;
		CHECK(asprintf(&created, "%s/unsafe-%zu", work_dir, i) > 0);
		CHECK(access(created, F_OK) != 0);
	}
	const char *empty[] = {"touch", "", NULL};
	const char *assign[] = {"A=b", "touch", NULL};
	const char *const *more[] = {empty, assign};
	for (size_t i = 0; i < 2; i++) {
		struct loam_spawn_result res;
		cleanup_err loam_err err = NULL;
		CHECK_INT(loam_transport_run(t, more[i], NULL, 0, 10000, &res, &err), -1);
		CHECK_INT(loam_err_kind_of(err), LOAM_E_INVALID);
	}
	CHECK(!loam_transport_is_broken(t));
	CHECK_INT(accepted_logins("X64"), logins);
	loam_transport_close(t);
}

static void remote_sha256(struct loam_transport *t, const char *path, char *out)
{
	const char *argv[] = {"sha256sum", path, NULL};
	struct loam_spawn_result res;
	cleanup_err loam_err err = NULL;
	out[0] = '\0';
	if (loam_transport_run_ok(t, argv, NULL, 0, 60000, &res, &err) < 0)
		fprintf(stderr, "sha256sum: %s\n", loam_err_msg(err));
	else if (res.out_len >= LOAM_SHA256_HEX_LEN)
		snprintf(out, LOAM_SHA256_HEX_LEN + 1, "%s", res.out);
	loam_spawn_result_free(&res);
}

static int count_entries(const char *dir)
{
	cleanup_dir DIR *d = opendir(dir);
	int n = 0;
	for (struct dirent *e; d && (e = readdir(d));)
		if (e->d_name[0] != '.')
			n++;
	return n;
}

/* The static agents `make` builds, in $LOAM_DIST_DIR (CTest sets it). */
static char *dist_agent(const char *arch)
{
	const char *dir = getenv("LOAM_DIST_DIR");
	char *p = NULL;
	if (asprintf(&p, "%s/loam-host-%s", dir && *dir ? dir : LOAM_SOURCE_DIR "/build/dist",
		     arch) < 0)
		abort();
	return p;
}

static void test_upload(void)
{
	struct loam_transport *t = open_pinned("X64");
	if (!t)
		return;
	cleanup_err loam_err err = NULL;
	cleanup_free char *updir = path_in(work_dir, "up");
	cleanup_free char *dst = path_in(updir, "loam-host");
	CHECK_INT(loam_mkdir_p(updir, 0755, &err), 0);
	cleanup_free char *agent = dist_agent("x64");
	char want[LOAM_SHA256_HEX_LEN + 1], got[LOAM_SHA256_HEX_LEN + 1];
	CHECK_INT(loam_sha256_file(agent, want, NULL, &err), 0);

	CHECK_INT(loam_transport_upload(t, agent, dst, 0755, &err), 0);
	remote_sha256(t, dst, got);
	CHECK_STR(got, want);
	struct stat st;
	CHECK_INT(stat(dst, &st), 0);
	CHECK_INT(st.st_mode & 07777, 0755);

	/* Replacing it (a new version) is atomic too; no temp file is left. */
	cleanup_free char *other = path_in(work_dir, "other");
	CHECK_INT(loam_write_file_atomic(other, "v2\n", 3, 0644, &err), 0);
	CHECK_INT(loam_transport_upload(t, other, dst, 0700, &err), 0);
	remote_sha256(t, dst, got);
	CHECK_INT(loam_sha256_buf("v2\n", 3, want, &err), 0);
	CHECK_STR(got, want);
	CHECK_INT(stat(dst, &st), 0);
	CHECK_INT(st.st_mode & 07777, 0700);
	CHECK_INT(count_entries(updir), 1);

	/* A destination that is not a safe absolute path changes nothing. */
	CHECK_INT(loam_transport_upload(t, other, "up/relative", 0755, &err), -1);
	CHECK_INT(loam_err_kind_of(err), LOAM_E_INVALID);
	cleanup_free char *missing = path_in(work_dir, "no-such-dir/x");
	CHECK_INT(loam_transport_upload(t, other, missing, 0755, &err), -1);
	CHECK_INT(loam_err_kind_of(err), LOAM_E_NOTFOUND);
	CHECK_CONTAINS(loam_err_msg(err), "no such file or directory");
	CHECK(!loam_transport_is_broken(t));
	loam_transport_close(t);
}

/* The remote command's parent is the sshd process of its connection. */
static long connection_id(struct loam_transport *t)
{
	const char *argv[] = {"grep", "PPid:", "/proc/self/status", NULL};
	struct loam_spawn_result res;
	cleanup_err loam_err err = NULL;
	long id = -1;
	if (loam_transport_run_ok(t, argv, NULL, 0, 10000, &res, &err) < 0)
		fprintf(stderr, "connection_id: %s\n", loam_err_msg(err));
	else
		id = strtol(res.out + strlen("PPid:"), NULL, 10);
	loam_spawn_result_free(&res);
	return id;
}

/* Until pid has exited (a zombie has closed its sockets already). */
static void wait_dead(long pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	for (int i = 0; i < 500; i++) {
		cleanup_free char *st = NULL;
		size_t len = 0;
		cleanup_err loam_err err = NULL;
		if (loam_read_file(path, 4096, &st, &len, &err) < 0 || strstr(st, ") Z "))
			return;
		usleep(10000);
	}
}

struct killer {
	long pid;
	int delay_ms;
};

static void *kill_later(void *arg)
{
	struct killer *k = arg;
	usleep((useconds_t)k->delay_ms * 1000);
	kill((pid_t)k->pid, SIGKILL);
	return NULL;
}

static void test_connection_dies(void)
{
	struct loam_transport *t = open_pinned("X64");
	if (!t)
		return;
	cleanup_err loam_err err = NULL;
	struct loam_spawn_result res;
	/* Mid-run: the connection's sshd dies while a command runs. */
	struct killer k = {.pid = connection_id(t), .delay_ms = 300};
	CHECK(k.pid > 1);
	pthread_t th;
	pthread_create(&th, NULL, kill_later, &k);
	const char *argv[] = {"sleep", "5.5", NULL};
	CHECK_INT(loam_transport_run(t, argv, NULL, 0, 0, &res, &err), -1);
	pthread_join(th, NULL);
	CHECK_INT(loam_err_kind_of(err), LOAM_E_UNAVAILABLE);
	CHECK(loam_transport_is_broken(t));
	loam_transport_close(t);

	/* Between runs, with stdin to send: an error, never SIGPIPE. */
	t = open_pinned("X64");
	if (!t)
		return;
	long pid = connection_id(t);
	CHECK(pid > 1);
	kill((pid_t)pid, SIGKILL);
	wait_dead(pid);
	const char *cat[] = {"cat", NULL};
	CHECK_INT(loam_transport_run(t, cat, "data", 4, 10000, &res, &err), -1);
	CHECK_INT(loam_err_kind_of(err), LOAM_E_UNAVAILABLE);
	CHECK(loam_transport_is_broken(t));
	CHECK_INT(
	    loam_transport_upload(t, LOAM_SOURCE_DIR "/README.md", "/tmp/loam-never", 0644, &err),
	    -1);
	loam_transport_close(t);
}

static void restart_x64_sshd(void)
{
	const char *argv[] = {
	    "bash", LOAM_SOURCE_DIR "/tests/hosts/ssh-hosts.sh", "restart", hosts_dir, "x64", NULL};
	struct loam_spawn_opts o = {.argv = argv, .timeout_ms = 60000};
	struct loam_spawn_result res;
	cleanup_err loam_err err = NULL;
	if (loam_spawn_ok(&o, &res, &err) < 0)
		fprintf(stderr, "restart: %s\n", loam_err_msg(err));
	loam_spawn_result_free(&res);
}

static void test_pool_reuses_and_reconnects(void)
{
	struct loam_transport_pool *pool = loam_transport_pool_new();
	struct loam_host_target tg = target("X64", NULL);
	cleanup_err loam_err err = NULL;
	struct loam_transport *t = NULL;
	char *seen = NULL;
	CHECK_INT(loam_transport_pool_acquire(pool, &tg, &t, &seen, &err), 0);
	CHECK_STR(seen, env("X64_HOST_KEY"));
	long first = connection_id(t);
	CHECK(first > 0);
	loam_transport_pool_release(pool, t, false);

	/* Pinned now: the connection of the first contact is reused. */
	tg.pinned_host_key = seen;
	int logins = accepted_logins("X64");
	CHECK_INT(loam_transport_pool_acquire(pool, &tg, &t, NULL, &err), 0);
	CHECK_INT(connection_id(t), first);
	loam_transport_pool_release(pool, t, false);
	CHECK_INT(loam_transport_pool_acquire(pool, &tg, &t, NULL, &err), 0);
	CHECK_INT(connection_id(t), first);
	loam_transport_pool_release(pool, t, false);
	CHECK_INT(accepted_logins("X64"), logins);

	/* The host's sshd restarts (its sessions die): a new connection. */
	restart_x64_sshd();
	CHECK_INT(loam_transport_pool_acquire(pool, &tg, &t, NULL, &err), 0);
	long second = connection_id(t);
	CHECK(second > 0 && second != first);
	loam_transport_pool_release(pool, t, false);

	/* A caller that saw the connection break gets a new one. */
	CHECK_INT(loam_transport_pool_acquire(pool, &tg, &t, NULL, &err), 0);
	loam_transport_pool_release(pool, t, true);
	CHECK_INT(loam_transport_pool_acquire(pool, &tg, &t, NULL, &err), 0);
	long third = connection_id(t);
	CHECK(third > 0 && third != second);
	loam_transport_pool_release(pool, t, false);

	/* A wrong pin never reuses a connection to that host. */
	struct loam_host_target wrong = tg;
	wrong.pinned_host_key = env("ARM64_HOST_KEY");
	CHECK_INT(loam_transport_pool_acquire(pool, &wrong, &t, NULL, &err), -1);
	CHECK_INT(loam_err_kind_of(err), LOAM_E_AUTH);
	free(seen);
	loam_transport_pool_free(pool);
}

static void test_unreachable_host(void)
{
	/* A port nobody listens on: the x64 host's own port, after a stop would
	 * race with others; a fresh bind-and-close port is used instead. */
	struct loam_host_target tg = target("X64", NULL);
	tg.port = atoi(env("CLOSED_PORT"));
	tg.connect_timeout_ms = 2000;
	struct loam_transport *t = NULL;
	cleanup_err loam_err err = NULL;
	CHECK_INT(loam_transport_open(&tg, &t, NULL, &err), -1);
	CHECK(t == NULL);
	CHECK_INT(loam_err_kind_of(err), LOAM_E_UNAVAILABLE);
	CHECK_CONTAINS(loam_err_msg(err), "test-x64");

	/* Bad target details are refused before any connection. */
	tg.address = "127.0.0.1;reboot";
	CHECK_INT(loam_transport_open(&tg, &t, NULL, &err), -1);
	CHECK_INT(loam_err_kind_of(err), LOAM_E_INVALID);
	tg.address = "127.0.0.1";
	tg.user = "root name";
	CHECK_INT(loam_transport_open(&tg, &t, NULL, &err), -1);
	CHECK_INT(loam_err_kind_of(err), LOAM_E_INVALID);
}

static void test_unroutable_host_times_out(void)
{
	/* TEST-NET-1 is never routed: the connect either times out or fails
	 * at once; either way the host is unavailable, never hung. */
	struct loam_host_target tg = target("X64", NULL);
	tg.address = "192.0.2.1";
	tg.port = 22;
	tg.connect_timeout_ms = 1000;
	struct loam_transport *t = NULL;
	cleanup_err loam_err err = NULL;
	CHECK_INT(loam_transport_open(&tg, &t, NULL, &err), -1);
	CHECK_INT(loam_err_kind_of(err), LOAM_E_UNAVAILABLE);
	CHECK_CONTAINS(loam_err_msg(err), "192.0.2.1");
}

static void test_default_key_files(void)
{
	cleanup_free char *old_home = getenv("HOME") ? strdup(getenv("HOME")) : NULL;
	cleanup_free char *home = path_in(work_dir, "home");
	cleanup_free char *dotssh = path_in(home, ".ssh");
	cleanup_err loam_err err = NULL;
	CHECK_INT(loam_mkdir_p(dotssh, 0700, &err), 0);
	setenv("HOME", home, 1);
	struct loam_host_target tg = target("X64", env("X64_HOST_KEY"));
	tg.key_file = NULL;
	struct loam_transport *t = NULL;
	CHECK_INT(loam_transport_open(&tg, &t, NULL, &err), -1);
	CHECK_INT(loam_err_kind_of(err), LOAM_E_AUTH);
	CHECK_CONTAINS(loam_err_msg(err), "no ssh key");

	/* ~/.ssh/id_rsa is the fallback name; any key type may live there. */
	cleanup_free char *key = NULL;
	size_t len = 0;
	CHECK_INT(loam_read_file(env("SSH_KEY"), 0, &key, &len, &err), 0);
	cleanup_free char *rsa = path_in(dotssh, "id_rsa");
	CHECK_INT(loam_write_file_atomic(rsa, key, len, 0600, &err), 0);
	CHECK_INT(loam_transport_open(&tg, &t, NULL, &err), 0);
	loam_transport_close(t);

	/* ~/.ssh/id_ed25519 comes first: an unauthorized one there is used. */
	cleanup_free char *other = NULL;
	cleanup_free char *host_key = path_in(hosts_dir, "x64/ssh_host_ed25519_key");
	CHECK_INT(loam_read_file(host_key, 0, &other, &len, &err), 0);
	cleanup_free char *ed = path_in(dotssh, "id_ed25519");
	CHECK_INT(loam_write_file_atomic(ed, other, len, 0600, &err), 0);
	CHECK_INT(loam_transport_open(&tg, &t, NULL, &err), -1);
	CHECK_INT(loam_err_kind_of(err), LOAM_E_AUTH);
	CHECK_CONTAINS(loam_err_msg(err), "id_ed25519");
	if (old_home)
		setenv("HOME", old_home, 1);
}

struct worker {
	struct loam_transport_pool *pool;
	int ok;
};

static void *pool_worker(void *arg)
{
	struct worker *w = arg;
	struct loam_host_target tg = target("X64", env("X64_HOST_KEY"));
	for (int i = 0; i < 5; i++) {
		struct loam_transport *t = NULL;
		cleanup_err loam_err err = NULL;
		if (loam_transport_pool_acquire(w->pool, &tg, &t, NULL, &err) < 0)
			continue;
		const char *argv[] = {"echo", "pooled", NULL};
		struct loam_spawn_result res;
		if (loam_transport_run_ok(t, argv, NULL, 0, 30000, &res, &err) == 0 &&
		    strcmp(res.out, "pooled\n") == 0)
			w->ok++;
		loam_spawn_result_free(&res);
		loam_transport_pool_release(w->pool, t, loam_transport_is_broken(t));
	}
	return NULL;
}

static void test_pool_from_threads(void)
{
	struct loam_transport_pool *pool = loam_transport_pool_new();
	struct worker w[4];
	pthread_t th[4];
	for (int i = 0; i < 4; i++) {
		w[i] = (struct worker){.pool = pool};
		pthread_create(&th[i], NULL, pool_worker, &w[i]);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		CHECK_INT(w[i].ok, 5);
	}
	loam_transport_pool_free(pool);
}

static void test_wrong_client_key_is_auth_error(void)
{
	struct loam_host_target tg = target("X64", env("X64_HOST_KEY"));
	cleanup_free char *key = path_in(hosts_dir, "x64/ssh_host_ed25519_key");
	tg.key_file = key; /* a valid key, just not an authorized one */
	struct loam_transport *t = NULL;
	cleanup_err loam_err err = NULL;
	CHECK_INT(loam_transport_open(&tg, &t, NULL, &err), -1);
	CHECK_INT(loam_err_kind_of(err), LOAM_E_AUTH);
	CHECK_CONTAINS(loam_err_msg(err), "authorized_keys");
}

/* `learn` sees the chroot's /proc and /sys. */
static void check_learn(struct loam_transport *t)
{
	const char *learn[] = {"/var/lib/loam-host/loam-host", "learn", NULL};
	struct loam_spawn_result res;
	cleanup_err loam_err err = NULL;
	CHECK_INT(loam_transport_run(t, learn, NULL, 0, 60000, &res, &err), 0);
	CHECK_INT(res.exit_status, 0);
	json_t *facts = json_loads(res.out ? res.out : "", 0, NULL);
	CHECK(facts != NULL);
	CHECK_STR(json_string_value(json_object_get(facts, "arch")), "arm64");
	CHECK(json_integer_value(json_object_get(facts, "cpus")) > 0);
	json_decref(facts);
	loam_spawn_result_free(&res);
}

static void test_arm64_host(void)
{
	struct loam_transport *t = open_pinned("ARM64");
	if (!t)
		return;
	cleanup_err loam_err err = NULL;
	struct loam_spawn_result res;
	const char *uname[] = {"uname", "-m", NULL};
	CHECK_INT(loam_transport_run_ok(t, uname, NULL, 0, 30000, &res, &err), 0);
	CHECK_STR(res.out, "aarch64\n");
	loam_spawn_result_free(&res);

	cleanup_free char *agent = dist_agent("arm64");
	CHECK_INT(loam_transport_upload(t, agent, "/var/lib/loam-host/loam-host", 0755, &err), 0);
	char want[LOAM_SHA256_HEX_LEN + 1], got[LOAM_SHA256_HEX_LEN + 1];
	CHECK_INT(loam_sha256_file(agent, want, NULL, &err), 0);
	remote_sha256(t, "/var/lib/loam-host/loam-host", got);
	CHECK_STR(got, want);

	const char *arch[] = {"/var/lib/loam-host/loam-host", "arch", NULL};
	if (loam_transport_run_ok(t, arch, NULL, 0, 30000, &res, &err) < 0)
		fprintf(stderr, "arch: %s\n", loam_err_msg(err));
	CHECK_STR(res.out, "arm64\n");
	loam_spawn_result_free(&res);
	check_learn(t);
	loam_transport_close(t);
}

static double seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Figures only, no thresholds: upload rate, and a run on a kept
 * connection against a run that pays for its own connection. */
static void bench_figures(void)
{
	struct loam_transport *t = open_pinned("X64");
	if (!t)
		return;
	cleanup_err loam_err err = NULL;
	size_t n = (size_t)32 << 20;
	cleanup_free char *data = calloc(1, n);
	cleanup_free char *src = path_in(work_dir, "bench.src");
	cleanup_free char *dst = path_in(work_dir, "bench.dst");
	CHECK_INT(loam_write_file_atomic(src, data, n, 0644, &err), 0);
	double t0 = seconds();
	CHECK_INT(loam_transport_upload(t, src, dst, 0644, &err), 0);
	double up = seconds() - t0;
	printf("bench: sftp upload %zu MiB in %.2f s (%.1f MiB/s)\n", n >> 20, up,
	       (double)(n >> 20) / up);

	const char *argv[] = {"true", NULL};
	struct loam_spawn_result res;
	t0 = seconds();
	for (int i = 0; i < 10; i++) {
		CHECK_INT(loam_transport_run(t, argv, NULL, 0, 10000, &res, &err), 0);
		loam_spawn_result_free(&res);
	}
	double kept = (seconds() - t0) / 10;
	loam_transport_close(t);
	t0 = seconds();
	for (int i = 0; i < 10; i++) {
		t = open_pinned("X64");
		if (t && loam_transport_run(t, argv, NULL, 0, 10000, &res, &err) == 0)
			loam_spawn_result_free(&res);
		loam_transport_close(t);
	}
	double fresh = (seconds() - t0) / 10;
	printf("bench: run `true`: %.1f ms on a kept connection, %.1f ms with a new one "
	       "(%.1fx)\n",
	       kept * 1000, fresh * 1000, fresh / kept);
}

int main(void)
{
	hosts_dir = env("LOAM_TEST_HOSTS_DIR");
	work_dir = env("WORK_DIR");
	RUN(test_first_contact_returns_key);
	RUN(test_pinned_key_accepted);
	RUN(test_changed_key_refused_and_nothing_runs);
	RUN(test_run_streams_and_status);
	RUN(test_run_large_streams);
	RUN(test_timeout_kills_and_connection_survives);
	RUN(test_unsafe_words_refused_before_sending);
	RUN(test_upload);
	RUN(test_unreachable_host);
	RUN(test_wrong_client_key_is_auth_error);
	RUN(test_unroutable_host_times_out);
	RUN(test_default_key_files);
	RUN(test_pool_from_threads);
	RUN(test_arm64_host);
	RUN(test_pool_reuses_and_reconnects);
	RUN(test_connection_dies);
	RUN(bench_figures);
	return t_summary();
}
