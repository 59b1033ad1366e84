/*
 * `loam vm ssh`'s OpenSSH run; see ssh_session.h. Every value that goes
 * into the private ssh_config is checked first (addresses, user names, key
 * lines), so no data can add a directive; the command words go to ssh as
 * argv. ssh's stderr passes through us so that a host key mismatch is
 * recognised and explained.
 */
#include "cli/ssh_session.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/argv.h"
#include "lib/cleanup.h"
#include "lib/inet.h"
#include "lib/valid.h"
#include "lib/xalloc.h"

extern char **environ;

#define KEY_MAX	      16384
#define PATH_TEXT_MAX 1024
#define TAIL_MAX      4096
#define VM_ALIAS      "loam-vm"
#define JUMP_ALIAS    "loam-jump"

/* "type base64 [comment]" → "type base64", or -1 when it is no key. */
static int key_words(const char *line, char *out, size_t size, loam_err *err)
{
	const char *type_end = line ? strchr(line, ' ') : NULL;
	size_t tlen = type_end ? (size_t)(type_end - line) : 0;
	const char *b64 = type_end ? type_end + 1 : "";
	size_t blen =
	    strspn(b64, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/");
	blen += strspn(b64 + blen, "=");
	bool ok = tlen > 0 && tlen <= 64 &&
		  strspn(line, "abcdefghijklmnopqrstuvwxyz0123456789@.-") == tlen && blen > 0 &&
		  blen <= KEY_MAX && (b64[blen] == '\0' || b64[blen] == ' ');
	if (!ok || tlen + 1 + blen + 1 > size)
		return loam_fail(err, LOAM_E_INVALID,
				 "a recorded SSH host key is not an OpenSSH public key line "
				 "(TYPE BASE64 [COMMENT])");
	snprintf(out, size, "%.*s %.*s", (int)tlen, line, (int)blen, b64);
	return 0;
}

static int check_path(const char *what, const char *path, loam_err *err)
{
	if (!path)
		return 0;
	if (!*path || strlen(path) > PATH_TEXT_MAX || strchr(path, '"') ||
	    loam_has_unsafe_chars(path))
		return loam_fail(err, LOAM_E_INVALID,
				 "%s must be a path without quotes or control characters", what);
	return 0;
}

static int check_target(const struct ssh_target *t, loam_err *err)
{
	uint32_t v4;
	if (loam_inet4_parse("the VM's address", t->address, &v4, err) < 0 ||
	    loam_valid_unix_user(t->user, err) < 0 || check_path("-i", t->identity, err) < 0)
		return -1;
	if (t->nkeys == 0)
		return loam_fail(err, LOAM_E_CONFLICT,
				 "loam has recorded no SSH host key for VM %s yet: the guest "
				 "reports its keys on its console once it has booted (see loam vm "
				 "show %s); refusing to connect without one",
				 t->vm, t->vm);
	if (!t->jump_address)
		return 0;
	if (loam_valid_address(t->jump_address, err) < 0 ||
	    loam_valid_unix_user(t->jump_user, err) < 0 ||
	    check_path("--jump-key", t->jump_identity, err) < 0)
		return -1;
	if (t->jump_port < 1 || t->jump_port > 65535 || t->port < 0 || t->port > 65535)
		return loam_fail(err, LOAM_E_INVALID, "an SSH port is out of range");
	if (!t->jump_key)
		return loam_fail(err, LOAM_E_CONFLICT,
				 "the VM's host has no pinned SSH key to check the jump against");
	return 0;
}

static void put_host(FILE *f, const char *alias, const char *key_alias, const char *dir)
{
	fprintf(f,
		"Host %s\n  HostKeyAlias %s\n  UserKnownHostsFile %s/known_hosts\n"
		"  GlobalKnownHostsFile /dev/null\n  StrictHostKeyChecking yes\n"
		"  UpdateHostKeys no\n  CheckHostIP no\n",
		alias, key_alias, dir);
}

/* known_hosts and ssh_config in dir (0700, ours). */
static int write_config(const struct ssh_target *t, const char *dir, loam_err *err)
{
	char path[PATH_TEXT_MAX + 32], key[KEY_MAX + 80], alias[96];
	snprintf(path, sizeof(path), "%s/known_hosts", dir);
	cleanup_fclose FILE *kh = fopen(path, "wx");
	snprintf(path, sizeof(path), "%s/config", dir);
	cleanup_fclose FILE *cf = fopen(path, "wx");
	if (!kh || !cf)
		return loam_fail_errno(err, "write the ssh files in %s", dir);
	snprintf(alias, sizeof(alias), VM_ALIAS "-%s", t->vm);
	for (size_t i = 0; i < t->nkeys; i++) {
		if (key_words(t->keys[i], key, sizeof(key), err) < 0)
			return -1;
		fprintf(kh, "%s %s\n", alias, key);
	}
	put_host(cf, VM_ALIAS, alias, dir);
	fprintf(cf, "  HostName %s\n  Port %ld\n  User %s\n", t->address, t->port ? t->port : 22,
		t->user);
	if (t->identity)
		fprintf(cf, "  IdentityFile \"%s\"\n", t->identity);
	if (!t->jump_address)
		return 0;
	if (key_words(t->jump_key, key, sizeof(key), err) < 0)
		return loam_err_wrap(err, "the host's pinned key");
	fprintf(kh, "%s %s\n", JUMP_ALIAS, key);
	fprintf(cf, "  ProxyJump %s\n", JUMP_ALIAS);
	put_host(cf, JUMP_ALIAS, JUMP_ALIAS, dir);
	fprintf(cf, "  HostName %s\n  Port %ld\n  User %s\n", t->jump_address, t->jump_port,
		t->jump_user);
	if (t->jump_identity)
		fprintf(cf, "  IdentityFile \"%s\"\n", t->jump_identity);
	return 0;
}

static void remove_dir(const char *dir)
{
	char path[PATH_TEXT_MAX + 32];
	snprintf(path, sizeof(path), "%s/known_hosts", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/config", dir);
	unlink(path);
	rmdir(dir);
}

/* Copies ssh's stderr to ours and keeps its tail. */
static void relay(int fd, char tail[TAIL_MAX])
{
	char buf[4096];
	size_t have = 0;
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (write(STDERR_FILENO, buf, (size_t)n) < 0) {
			/* nowhere to show it; keep reading so ssh is not blocked */
		}
		size_t keep = (size_t)n < TAIL_MAX - 1 ? (size_t)n : TAIL_MAX - 1;
		if (have + keep >= TAIL_MAX) {
			size_t drop = have + keep - (TAIL_MAX - 1);
			memmove(tail, tail + drop, have - drop);
			have -= drop;
		}
		memcpy(tail + have, buf + n - keep, keep);
		have += keep;
		tail[have] = '\0';
	}
}

static int spawn_ssh(const struct loam_argv *argv, int *status, char tail[TAIL_MAX], loam_err *err)
{
	int pipefd[2];
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return loam_fail_errno(err, "pipe");
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], STDERR_FILENO);
	pid_t pid;
	int rc = posix_spawnp(&pid, "ssh", &fa, NULL, argv->v, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(pipefd[1]);
	if (rc != 0) {
		close(pipefd[0]);
		errno = rc;
		return loam_fail_errno(err, "run ssh (install openssh-client)");
	}
	relay(pipefd[0], tail);
	close(pipefd[0]);
	int ws = 0;
	while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
		;
	*status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
	return 0;
}

static bool key_refused(const char *tail)
{
	return strstr(tail, "Host key verification failed") ||
	       strstr(tail, "REMOTE HOST IDENTIFICATION HAS CHANGED");
}

int ssh_session_run(const struct ssh_target *t, char **command, int ncommand, int *status,
		    loam_err *err)
{
	if (check_target(t, err) < 0)
		return -1;
	const char *tmp = getenv("TMPDIR");
	char dir[PATH_TEXT_MAX];
	snprintf(dir, sizeof(dir), "%s/loam-ssh.XXXXXX", tmp && *tmp == '/' ? tmp : "/tmp");
	if (check_path("TMPDIR", dir, err) < 0 || !mkdtemp(dir))
		return err && *err ? -1 : loam_fail_errno(err, "mkdtemp %s", dir);
	cleanup_argv struct loam_argv argv = {0};
	loam_argv_add(&argv, "ssh");
	loam_argv_add(&argv, "-F");
	loam_argv_addf(&argv, "%s/config", dir);
	/* before the host: ssh reads options after it too, a command's words
	 * must not become ssh's */
	loam_argv_add(&argv, "--");
	loam_argv_add(&argv, VM_ALIAS);
	for (int i = 0; i < ncommand; i++)
		loam_argv_add(&argv, command[i]);
	char tail[TAIL_MAX] = "";
	int rc = write_config(t, dir, err) < 0 ? -1 : spawn_ssh(&argv, status, tail, err);
	remove_dir(dir);
	if (rc == 0 && *status == 255 && key_refused(tail))
		return loam_fail(err, LOAM_E_AUTH,
				 "the SSH host key presented for VM %s%s does not match the key "
				 "loam recorded (loam vm show %s --json: %s); the keys changed or "
				 "something stands in between; not connecting",
				 t->vm, t->jump_address ? " or its host" : "", t->vm,
				 t->jump_address ? "ssh_host_keys, ssh_jump.host_key"
						 : "ssh_host_keys");
	return rc;
}
