/*
 * `loam vm ssh`'s OpenSSH session (src/cli/ssh_session.c) against a real
 * sshd on 127.0.0.1 (tests/hosts/ssh-hosts.sh) standing in for the guest
 * and for the host to jump through: the command runs and its exit status
 * comes back; a command word that looks like an ssh option stays the
 * command's; the known-hosts check is strict (a key other than the
 * recorded one is refused with loam's error, for the guest and for the
 * jump host alike; no recorded key refuses to connect); and values that
 * could add a directive to the private ssh_config are refused.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/ssh_session.h"
#include "lib/cleanup.h"
#include "lib/fs.h"
#include "lib/spawn.h"
#include "t.h"

static char dir[] = "/tmp/loam-sshsess.XXXXXX";
static char host_key[2048], other_key[2048], client_key[512];
static long port;

/* KEY=VALUE from hosts.env, written with printf %q: backslashes escape
 * the next character (the space in "ssh-ed25519 AAAA..."), and a value
 * may be quoted. */
static void env_value(const char *env, const char *key, char *out, size_t size)
{
	char want[64];
	snprintf(want, sizeof(want), "%s=", key);
	const char *p = strstr(env, want);
	size_t n = 0;
	if (p)
		for (p += strlen(want); *p && *p != '\n' && n + 1 < size; p++) {
			if (*p == '\'' || *p == '"')
				continue;
			if (*p == '\\' && p[1])
				p++;
			out[n++] = *p;
		}
	out[n] = '\0';
}

static int run(const char *const *argv)
{
	struct loam_spawn_opts o = {.argv = argv, .timeout_ms = 300000, .inherit_stderr = true};
	struct loam_spawn_result r;
	loam_err err = NULL;
	int rc = loam_spawn(&o, &r, &err);
	if (rc < 0) {
		fprintf(stderr, "%s: %s\n", argv[0], loam_err_msg(err));
		loam_err_free(&err);
		return -1;
	}
	rc = r.exit_status;
	loam_spawn_result_free(&r);
	return rc;
}

static int start_host(void)
{
	const char *src = getenv("LOAM_SOURCE_DIR") ? getenv("LOAM_SOURCE_DIR") : ".";
	char script[1024], env_path[256], portbuf[16];
	snprintf(script, sizeof(script), "%s/tests/hosts/ssh-hosts.sh", src);
	const char *start[] = {"bash", script, "start", dir, "x64", NULL};
	if (!mkdtemp(dir) || run(start) != 0)
		return -1;
	snprintf(env_path, sizeof(env_path), "%s/hosts.env", dir);
	cleanup_free char *env = NULL;
	loam_err err = NULL;
	if (loam_read_file(env_path, 1 << 16, &env, NULL, &err) < 0)
		return -1;
	env_value(env, "X64_HOST_KEY", host_key, sizeof(host_key));
	env_value(env, "SSH_KEY", client_key, sizeof(client_key));
	env_value(env, "X64_PORT", portbuf, sizeof(portbuf));
	port = strtol(portbuf, NULL, 10);
	/* a key of the same type that the host does not have */
	char other[300], other_pub[320];
	snprintf(other, sizeof(other), "%s/other", dir);
	snprintf(other_pub, sizeof(other_pub), "%s/other.pub", dir);
	const char *keygen[] = {"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", other, NULL};
	cleanup_free char *pub = NULL;
	if (run(keygen) != 0 || loam_read_file(other_pub, 4096, &pub, NULL, &err) < 0)
		return -1;
	pub[strcspn(pub, "\n")] = '\0';
	snprintf(other_key, sizeof(other_key), "%s", pub);
	return *host_key && *client_key && port > 0 ? 0 : -1;
}

static void stop_host(void)
{
	const char *src = getenv("LOAM_SOURCE_DIR") ? getenv("LOAM_SOURCE_DIR") : ".";
	char script[1024];
	snprintf(script, sizeof(script), "%s/tests/hosts/ssh-hosts.sh", src);
	const char *stop[] = {"bash", script, "stop", dir, NULL};
	run(stop);
	const char *rm[] = {"rm", "-rf", dir, NULL};
	run(rm);
}

static struct ssh_target target(const char *const *keys)
{
	return (struct ssh_target){.vm = "t1",
				   .address = "127.0.0.1",
				   .user = "root",
				   .port = port,
				   .keys = keys,
				   .nkeys = 1,
				   .identity = client_key};
}

/* Runs the session with ssh's stdout in out. */
static int session(const struct ssh_target *t, const char *const *cmd, int *status, char *out,
		   size_t size, loam_err *err)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/stdout", dir);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int saved = dup(STDOUT_FILENO);
	fflush(stdout);
	dup2(fd, STDOUT_FILENO);
	int n = 0;
	while (cmd && cmd[n])
		n++;
	int rc = ssh_session_run(t, (char **)cmd, n, status, err);
	fflush(stdout);
	dup2(saved, STDOUT_FILENO);
	close(saved);
	close(fd);
	cleanup_free char *text = NULL;
	loam_err rerr = NULL;
	out[0] = '\0';
	if (loam_read_file(path, 1 << 16, &text, NULL, &rerr) == 0)
		snprintf(out, size, "%s", text);
	loam_err_free(&rerr);
	return rc;
}

static void test_runs_command(void)
{
	const char *keys[] = {host_key};
	struct ssh_target t = target(keys);
	char out[256];
	int status = -1;
	loam_err err = NULL;
	const char *uname[] = {"uname", "-m", NULL};
	CHECK_INT(session(&t, uname, &status, out, sizeof(out), &err), 0);
	CHECK_INT(status, 0);
	CHECK(strlen(out) > 1);
	const char *exit7[] = {"sh", "-c", "'exit 7'", NULL};
	CHECK_INT(session(&t, exit7, &status, out, sizeof(out), &err), 0);
	CHECK_INT(status, 7);
	const char *dash[] = {"echo", "-v", "-o", "ProxyCommand=x", NULL};
	CHECK_INT(session(&t, dash, &status, out, sizeof(out), &err), 0);
	CHECK_INT(status, 0);
	CHECK_CONTAINS(out, "-v -o ProxyCommand=x");
	loam_err_free(&err);
}

static void test_strict_keys(void)
{
	const char *wrong[] = {other_key};
	struct ssh_target t = target(wrong);
	char out[256];
	int status = -1;
	loam_err err = NULL;
	const char *cmd[] = {"true", NULL};
	CHECK_INT(session(&t, cmd, &status, out, sizeof(out), &err), -1);
	CHECK_INT(loam_err_kind_of(err), LOAM_E_AUTH);
	CHECK_CONTAINS(loam_err_msg(err), "does not match the key loam recorded");
	CHECK_INT(status, 255);
	loam_err_free(&err);
	t.nkeys = 0;
	CHECK_INT(session(&t, cmd, &status, out, sizeof(out), &err), -1);
	CHECK_INT(loam_err_kind_of(err), LOAM_E_CONFLICT);
	CHECK_CONTAINS(loam_err_msg(err), "no SSH host key");
	loam_err_free(&err);
}

static void test_jump(void)
{
	const char *keys[] = {host_key};
	struct ssh_target t = target(keys);
	t.jump_address = "127.0.0.1";
	t.jump_port = port;
	t.jump_user = "root";
	t.jump_key = host_key;
	t.jump_identity = client_key;
	char out[256];
	int status = -1;
	loam_err err = NULL;
	const char *cmd[] = {"echo", "through", NULL};
	CHECK_INT(session(&t, cmd, &status, out, sizeof(out), &err), 0);
	CHECK_INT(status, 0);
	CHECK_CONTAINS(out, "through");
	t.jump_key = other_key;
	CHECK_INT(session(&t, cmd, &status, out, sizeof(out), &err), -1);
	CHECK_INT(loam_err_kind_of(err), LOAM_E_AUTH);
	CHECK_CONTAINS(loam_err_msg(err), "or its host");
	loam_err_free(&err);
}

/* Attacks on the private ssh_config: each is refused before ssh runs. */
static void test_refuses_directives(void)
{
	char inject[2300];
	snprintf(inject, sizeof(inject), "%s\nHost *\n  ProxyCommand touch /tmp/pwned", host_key);
	const char *bad_key[] = {inject};
	struct ssh_target t = target(bad_key);
	int status = -1;
	char out[64];
	loam_err err = NULL;
	const char *cmd[] = {"true", NULL};
	CHECK_INT(session(&t, cmd, &status, out, sizeof(out), &err), -1);
	CHECK_INT(loam_err_kind_of(err), LOAM_E_INVALID);
	loam_err_free(&err);
	const char *keys[] = {host_key};
	struct ssh_target u = target(keys);
	u.address = "127.0.0.1\n  ProxyCommand x";
	CHECK_INT(session(&u, cmd, &status, out, sizeof(out), &err), -1);
	CHECK_INT(loam_err_kind_of(err), LOAM_E_INVALID);
	loam_err_free(&err);
	u = target(keys);
	u.identity = "/tmp/k\"\n  ProxyCommand x";
	CHECK_INT(session(&u, cmd, &status, out, sizeof(out), &err), -1);
	CHECK_INT(loam_err_kind_of(err), LOAM_E_INVALID);
	loam_err_free(&err);
	u = target(keys);
	u.user = "root -oProxyCommand=x";
	CHECK_INT(session(&u, cmd, &status, out, sizeof(out), &err), -1);
	CHECK_INT(loam_err_kind_of(err), LOAM_E_INVALID);
	loam_err_free(&err);
	CHECK(access("/tmp/pwned", F_OK) != 0);
}

int main(void)
{
	if (start_host() < 0) {
		fprintf(stderr, "FAIL: could not start the SSH test host\n");
		stop_host();
		return 1;
	}
	RUN(test_runs_command);
	RUN(test_strict_keys);
	RUN(test_jump);
	RUN(test_refuses_directives);
	stop_host();
	return t_summary();
}
