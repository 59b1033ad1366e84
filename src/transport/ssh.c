/*
 * The ssh transport, on libssh: key authentication, a host key pinned on
 * first contact, commands on exec channels and uploads over SFTP.
 *
 * How words cross SSH safely. The SSH protocol carries a command as one
 * string, which sshd hands to the remote user's shell (`sh -c STRING`), so
 * whatever we send is parsed as shell syntax there. loam never quotes or
 * escapes to survive that parse. Instead, every word of a remote argv must
 * be shell-inert (loam_shell_inert_word: non-empty, only
 * [A-Za-z0-9._/:=@%+,-]), and the first word may not contain '=' (the
 * shell would read it as an assignment). No character in that set is
 * special to a POSIX shell: no quotes, no '$', no globs, no separators, no
 * whitespace and no '~'. The words are joined with single spaces, and the
 * remote shell's word splitting gives back exactly the argv we built. A
 * word outside the set is refused with LOAM_E_INVALID before a byte is
 * sent. Anything that is not a simple word (JSON, keys, seeds) travels on
 * the command's stdin, which the shell never parses.
 *
 * Host keys. The server's key is formatted as OpenSSH writes it ("type
 * base64"). With no pinned key it is returned to the caller to pin; a key
 * that differs from the pinned one ends the connection before we
 * authenticate, so nothing runs on an impostor. ~/.ssh/config and
 * known_hosts files are not read: the pinned key in loam's store is the
 * only trust anchor.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <libssh/callbacks.h>
#include <libssh/libssh.h>
#include <libssh/sftp.h>

#include "lib/cleanup.h"
#include "lib/valid.h"
#include "lib/xalloc.h"
#include "transport/internal.h"

#define DEFAULT_CONNECT_TIMEOUT_MS 10000
#define MAX_OUTPUT		   ((size_t)64 << 20)
#define IO_CHUNK		   32768
/* Each SFTP write waits for its reply, so fewer, larger writes are faster;
 * OpenSSH's sftp-server takes messages of up to 256 KiB. */
#define UPLOAD_CHUNK ((size_t)128 * 1024)

static pthread_once_t libssh_once = PTHREAD_ONCE_INIT;

static void libssh_init(void)
{
	ssh_init();
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void free_ssh_charp(char **p)
{
	ssh_string_free_char(*p);
}

static void free_ssh_key(ssh_key *k)
{
	ssh_key_free(*k);
}

#define cleanup_ssh_char __attribute__((cleanup(free_ssh_charp)))
#define cleanup_ssh_key	 __attribute__((cleanup(free_ssh_key)))

/* ---- connecting ---- */

static int check_target(const struct loam_host_target *tg, loam_err *err)
{
	if (!tg->address)
		return loam_fail(err, LOAM_E_INVALID, "host %s has no ssh address", tg->name);
	if (loam_valid_address(tg->address, err) < 0)
		return -1;
	if (tg->user && loam_valid_unix_user(tg->user, err) < 0)
		return -1;
	if (tg->port < 0 || tg->port > 65535)
		return loam_fail(err, LOAM_E_INVALID, "ssh port %d is out of range 1-65535",
				 tg->port);
	return 0;
}

/* Bounds every blocking libssh call on the session (connect included). */
static int set_timeout(ssh_session s, long long ms)
{
	long sec = (long)(ms / 1000), usec = (long)(ms % 1000) * 1000;
	return ssh_options_set(s, SSH_OPTIONS_TIMEOUT, &sec) |
	       ssh_options_set(s, SSH_OPTIONS_TIMEOUT_USEC, &usec);
}

/* libssh's own preference order for host key algorithms. */
static const char *const hostkey_algos[] = {
    "ssh-ed25519",	   "ecdsa-sha2-nistp521", "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp256", "rsa-sha2-512",	  "rsa-sha2-256",
};

static bool pinned_type_is(const char *pinned, const char *algo)
{
	/* An "ssh-rsa" key is offered under the rsa-sha2-* algorithms. */
	const char *type = strncmp(algo, "rsa-sha2-", 9) == 0 ? "ssh-rsa" : algo;
	size_t n = strlen(type);
	return strncmp(pinned, type, n) == 0 && (pinned[n] == ' ' || pinned[n] == '\t');
}

/* A server with several host keys shows the one of the first algorithm we
 * both know, so the pinned key's type goes first: pinning never depends on
 * which of its keys a server happens to pick. */
static char *hostkey_order(const char *pinned)
{
	size_t n = sizeof(hostkey_algos) / sizeof(hostkey_algos[0]);
	char *out = xcalloc(1, 256);
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < n; i++) {
			bool first = pinned && pinned_type_is(pinned, hostkey_algos[i]);
			if (first == (pass == 0)) {
				if (*out)
					strncat(out, ",", 255 - strlen(out));
				strncat(out, hostkey_algos[i], 255 - strlen(out));
			}
		}
	return out;
}

static int set_options(ssh_session s, const struct loam_host_target *tg, int timeout_ms)
{
	cleanup_free char *hostkeys = hostkey_order(tg->pinned_host_key);
	int port = tg->port ? tg->port : 22;
	bool no = false;
	int nodelay = 1; /* SFTP writes wait for each reply: Nagle would stall them */
	int rc = set_timeout(s, timeout_ms);
	rc |= ssh_options_set(s, SSH_OPTIONS_NODELAY, &nodelay);
	rc |= ssh_options_set(s, SSH_OPTIONS_HOST, tg->address);
	rc |= ssh_options_set(s, SSH_OPTIONS_PORT, &port);
	rc |= ssh_options_set(s, SSH_OPTIONS_USER, tg->user ? tg->user : "root");
	rc |= ssh_options_set(s, SSH_OPTIONS_PROCESS_CONFIG, &no);
	rc |= ssh_options_set(s, SSH_OPTIONS_HOSTKEYS, hostkeys);
	rc |= ssh_options_set(s, SSH_OPTIONS_KNOWNHOSTS, "/dev/null");
	rc |= ssh_options_set(s, SSH_OPTIONS_GLOBAL_KNOWNHOSTS, "/dev/null");
	return rc;
}

static char *presented_key(ssh_session s, loam_err *err)
{
	cleanup_ssh_key ssh_key key = NULL;
	if (ssh_get_server_publickey(s, &key) != SSH_OK) {
		loam_fail(err, LOAM_E_IO, "read the server's host key: %s", ssh_get_error(s));
		return NULL;
	}
	cleanup_ssh_char char *b64 = NULL;
	if (ssh_pki_export_pubkey_base64(key, &b64) != SSH_OK) {
		loam_fail(err, LOAM_E_IO, "encode the server's host key");
		return NULL;
	}
	char *out = xasprintf("%s %s", ssh_key_type_to_char(ssh_key_type(key)), b64);
	return out;
}

/* Compares "type base64" against a pinned key that may carry a comment. */
bool loam_ssh_key_matches(const char *pinned, const char *presented)
{
	while (*pinned == ' ' || *pinned == '\t')
		pinned++;
	size_t n = strlen(presented);
	if (strncmp(pinned, presented, n) != 0)
		return false;
	char next = pinned[n];
	return next == '\0' || next == ' ' || next == '\t' || next == '\n' || next == '\r';
}

static int check_host_key(struct loam_transport *t, const struct loam_host_target *tg, char **seen,
			  loam_err *err)
{
	const char *key = t->host_key = presented_key(t->session, err);
	if (!key)
		return -1;
	if (!tg->pinned_host_key) {
		if (seen) {
			*seen = xstrdup(key);
		}
		return 0;
	}
	if (!loam_ssh_key_matches(tg->pinned_host_key, key))
		return loam_fail(err, LOAM_E_AUTH,
				 "host key for %s changed: pinned %s, server presented %s; if the "
				 "host was reinstalled, remove and re-add it",
				 tg->name, tg->pinned_host_key, key);
	return 0;
}

static char *default_key_file(void)
{
	const char *home = getenv("HOME");
	struct passwd *pw = home ? NULL : getpwuid(getuid());
	if (!home && pw)
		home = pw->pw_dir;
	if (!home)
		return NULL;
	static const char *const names[] = {"id_ed25519", "id_rsa"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char *p = xasprintf("%s/.ssh/%s", home, names[i]);
		if (access(p, R_OK) == 0)
			return p;
		free(p);
	}
	return NULL;
}

static int authenticate(ssh_session s, const struct loam_host_target *tg, loam_err *err)
{
	cleanup_free char *found = tg->key_file ? NULL : default_key_file();
	const char *path = tg->key_file ? tg->key_file : found;
	if (!path)
		return loam_fail(
		    err, LOAM_E_AUTH,
		    "no ssh key: give one with --ssh-key, or create ~/.ssh/id_ed25519");
	cleanup_ssh_key ssh_key key = NULL;
	if (ssh_pki_import_privkey_file(path, NULL, NULL, NULL, &key) != SSH_OK)
		return loam_fail(err, LOAM_E_AUTH,
				 "read private key %s: not a readable, "
				 "unencrypted private key",
				 path);
	int rc = ssh_userauth_publickey(s, NULL, key);
	if (rc != SSH_AUTH_SUCCESS)
		return loam_fail(err, LOAM_E_AUTH,
				 "%s@%s refused the key %s (%s); add its public key to that "
				 "user's authorized_keys",
				 tg->user ? tg->user : "root", tg->address, path,
				 rc == SSH_AUTH_ERROR ? ssh_get_error(s) : "denied");
	return 0;
}

static int connect_session(ssh_session s, const struct loam_host_target *tg, int timeout_ms,
			   loam_err *err)
{
	if (set_options(s, tg, timeout_ms) != 0)
		return loam_fail(err, LOAM_E_INTERNAL, "set ssh options: %s", ssh_get_error(s));
	if (ssh_connect(s) != SSH_OK)
		return loam_fail(err, LOAM_E_UNAVAILABLE,
				 "connect to %s port %d: %s; check the address and that sshd runs "
				 "there",
				 tg->address, tg->port ? tg->port : 22, ssh_get_error(s));
	return 0;
}

int loam_ssh_open(const struct loam_host_target *target, struct loam_transport *t, char **seen,
		  loam_err *err)
{
	struct loam_host_target named = *target;
	named.name = t->name; /* never NULL in messages */
	const struct loam_host_target *tg = &named;
	pthread_once(&libssh_once, libssh_init);
	if (check_target(tg, err) < 0)
		return loam_err_wrap(err, "ssh to %s", t->name);
	t->session = xalloc_check(ssh_new());
	t->timeout_ms =
	    tg->connect_timeout_ms > 0 ? tg->connect_timeout_ms : DEFAULT_CONNECT_TIMEOUT_MS;
	if (connect_session(t->session, tg, t->timeout_ms, err) < 0 ||
	    check_host_key(t, tg, seen, err) < 0 || authenticate(t->session, tg, err) < 0) {
		if (seen && *seen && *err) {
			free(*seen);
			*seen = NULL;
		}
		return loam_err_wrap(err, "ssh to %s", t->name);
	}
	return 0;
}

void loam_ssh_close(struct loam_transport *t)
{
	if (!t->session)
		return;
	if (ssh_is_connected(t->session))
		ssh_disconnect(t->session);
	ssh_free(t->session);
	t->session = NULL;
	free(t->host_key);
	t->host_key = NULL;
}

bool loam_ssh_alive(struct loam_transport *t)
{
	if (!t->session || !ssh_is_connected(t->session))
		return false;
	/* An idle connection has nothing to read; anything readable is most
	 * likely the peer's EOF or a disconnect, so it is not worth keeping. */
	struct pollfd p = {.fd = ssh_get_fd(t->session), .events = POLLIN};
	return p.fd >= 0 && poll(&p, 1, 0) == 0;
}

/* ---- running commands ---- */

static int build_command(const char *const *argv, char **out, loam_err *err)
{
	size_t len = 1;
	for (size_t i = 0; argv[i]; i++) {
		if (!loam_shell_inert_word(argv[i]) || (i == 0 && strchr(argv[i], '=')))
			return loam_fail(err, LOAM_E_INVALID,
					 "word %zu of the remote command is not shell-inert (only "
					 "[A-Za-z0-9._/:=@%%+,-], non-empty); pass data on stdin",
					 i);
		len += strlen(argv[i]) + 1;
	}
	char *cmd = xcalloc(1, len);
	size_t pos = 0;
	for (size_t i = 0; argv[i]; i++) {
		size_t n = strlen(argv[i]);
		if (i)
			cmd[pos++] = ' ';
		memcpy(cmd + pos, argv[i], n);
		pos += n;
	}
	*out = cmd;
	return 0;
}

struct exchange {
	ssh_channel ch;
	const char *in;
	size_t in_len, sent;
	bool eof_sent;
	struct loam_output out, err;
	char signal_name[32];
	bool got_status;
	int status;
	struct ssh_channel_callbacks_struct cb;
};

static void on_exit_status(ssh_session session, ssh_channel channel, int status, void *userdata)
{
	(void)session, (void)channel;
	struct exchange *x = userdata;
	x->got_status = true;
	x->status = status;
}

static void on_exit_signal(ssh_session session, ssh_channel channel, const char *signal, int core,
			   const char *errmsg, const char *lang, void *userdata)
{
	(void)session, (void)channel, (void)core, (void)errmsg, (void)lang;
	struct exchange *x = userdata;
	snprintf(x->signal_name, sizeof(x->signal_name), "%s", signal ? signal : "");
}

static int signal_number(const char *name)
{
	static const struct {
		const char *name;
		int num;
	} table[] = {{"HUP", 1},   {"INT", 2},	 {"QUIT", 3},  {"ILL", 4},   {"ABRT", 6},
		     {"FPE", 8},   {"KILL", 9},	 {"USR1", 10}, {"SEGV", 11}, {"USR2", 12},
		     {"PIPE", 13}, {"ALRM", 14}, {"TERM", 15}};
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (strcmp(name, table[i].name) == 0)
			return table[i].num;
	return 0;
}

/* A write failed. On a live connection that means the command is done
 * with its stdin (it exited, and sshd closed the channel; libssh keeps such
 * a channel "open" until we have read what it holds), which is fine: a
 * command need not read all of its input. */
static int write_failed(struct exchange *x)
{
	if (!ssh_is_connected(ssh_channel_get_session(x->ch)))
		return -1;
	x->eof_sent = true;
	return 1;
}

/* Sends as much stdin as the window allows; -1 on a broken channel. */
static int feed_stdin(struct exchange *x)
{
	if (x->eof_sent)
		return 0;
	if (x->sent < x->in_len && !ssh_channel_is_eof(x->ch)) {
		uint32_t win = ssh_channel_window_size(x->ch);
		size_t n = x->in_len - x->sent;
		if (n > win)
			n = win;
		if (n > IO_CHUNK)
			n = IO_CHUNK;
		if (n == 0)
			return 0;
		int w = ssh_channel_write(x->ch, x->in + x->sent, (uint32_t)n);
		if (w == SSH_ERROR)
			return write_failed(x);
		x->sent += (size_t)w;
		return 1;
	}
	/* All sent, or the command stopped reading: either way, EOF. */
	x->eof_sent = true;
	if (ssh_channel_is_closed(x->ch))
		return 1;
	return ssh_channel_send_eof(x->ch) == SSH_ERROR ? write_failed(x) : 1;
}

static int drain(struct exchange *x, int is_stderr)
{
	char buf[IO_CHUNK];
	int got = 0;
	for (;;) {
		int n = ssh_channel_read_nonblocking(x->ch, buf, sizeof(buf), is_stderr);
		if (n == SSH_ERROR)
			return -1;
		if (n <= 0)
			return got;
		loam_output_append(is_stderr ? &x->err : &x->out, buf, (size_t)n);
		got += n;
	}
}

/* 0: the command finished; 1: it ran out of time; -1: the connection broke. */
static int pump(struct exchange *x, long long deadline)
{
	for (;;) {
		int fed = feed_stdin(x);
		int o = drain(x, 0), e = drain(x, 1);
		if (fed < 0 || o < 0 || e < 0)
			return -1;
		if (ssh_channel_is_eof(x->ch))
			return 0;
		if (deadline && now_ms() >= deadline)
			return 1;
		if (fed == 0 && o == 0 && e == 0 &&
		    ssh_channel_poll_timeout(x->ch, 50, 0) == SSH_ERROR)
			return -1;
	}
}

static void fill_result(struct exchange *x, struct loam_spawn_result *res)
{
	res->out = loam_output_take(&x->out, &res->out_len);
	res->err = loam_output_take(&x->err, &res->err_len);
}

static int start_channel(struct loam_transport *t, struct exchange *x, const char *cmd,
			 loam_err *err)
{
	x->ch = ssh_channel_new(t->session);
	if (!x->ch)
		return loam_fail(err, LOAM_E_UNAVAILABLE, "open a channel: %s",
				 ssh_get_error(t->session));
	x->cb.userdata = x;
	x->cb.channel_exit_signal_function = on_exit_signal;
	x->cb.channel_exit_status_function = on_exit_status;
	ssh_callbacks_init(&x->cb);
	ssh_set_channel_callbacks(x->ch, &x->cb);
	if (ssh_channel_open_session(x->ch) != SSH_OK)
		return loam_fail(err, LOAM_E_UNAVAILABLE, "open a channel: %s",
				 ssh_get_error(t->session));
	if (ssh_channel_request_exec(x->ch, cmd) != SSH_OK)
		return loam_fail(err, LOAM_E_UNAVAILABLE, "start the command: %s",
				 ssh_get_error(t->session));
	return 0;
}

/* The exit status follows the output's EOF, normally at once; but a
 * command may close its output and keep running, so wait for it only until
 * the deadline. 0: known; 1: out of time; -1: the connection broke. */
static int collect_status(struct loam_transport *t, struct exchange *x, long long deadline,
			  struct loam_spawn_result *res)
{
	while (!x->got_status && !x->signal_name[0]) {
		if (!ssh_is_connected(t->session))
			return -1;
		if (ssh_channel_is_closed(x->ch))
			break;
		if (deadline && now_ms() >= deadline)
			return 1;
		long long left = deadline - now_ms();
		if (deadline)
			set_timeout(t->session, left > 0 ? left : 1);
		ssh_channel_get_exit_status(x->ch); /* waits at most the session timeout */
		if (deadline)
			set_timeout(t->session, t->timeout_ms);
	}
	if (x->signal_name[0]) {
		res->signaled = true;
		res->term_signal = signal_number(x->signal_name);
	} else if (x->got_status) {
		res->exit_status = x->status;
	} else {
		res->exit_status = 255; /* closed without a status, as ssh(1) reports it */
	}
	return 0;
}

int loam_ssh_run(struct loam_transport *t, const char *const *argv, const char *stdin_data,
		 size_t stdin_len, int timeout_ms, struct loam_spawn_result *res, loam_err *err)
{
	cleanup_free char *cmd = NULL;
	if (build_command(argv, &cmd, err) < 0)
		return loam_err_wrap(err, "refused to run a command on %s", t->name);
	struct exchange x = {.in = stdin_data,
			     .in_len = stdin_data ? stdin_len : 0,
			     .out.max = MAX_OUTPUT,
			     .err.max = MAX_OUTPUT};
	long long deadline = timeout_ms > 0 ? now_ms() + timeout_ms : 0;
	bool no_channel = start_channel(t, &x, cmd, err) < 0; /* sets err */
	int rc = no_channel ? -1 : pump(&x, deadline);
	if (rc == 0)
		rc = collect_status(t, &x, deadline, res);
	if (rc == 1) {
		/* sshd delivers the signal to the command's process group, but
		 * only in privilege-separated sessions: OpenSSH refuses it for
		 * root logins. Closing the channel below closes the command's
		 * pipes, so a command that writes or reads then dies of
		 * SIGPIPE/EOF; one that does neither runs until it ends. */
		ssh_channel_request_send_signal(x.ch, "KILL");
		res->timed_out = true;
	}
	if (x.ch) {
		/* libssh keeps a closed channel until the peer confirms; its
		 * late packets must not reach our stack frame. */
		ssh_remove_channel_callbacks(x.ch, &x.cb);
		ssh_channel_close(x.ch);
		ssh_channel_free(x.ch);
	}
	fill_result(&x, res);
	if (rc < 0) {
		t->broken = true;
		loam_spawn_result_free(res);
		if (!no_channel)
			loam_fail(err, LOAM_E_UNAVAILABLE, "connection lost: %s",
				  ssh_get_error(t->session));
		return loam_err_wrap(err, "run %s on %s", argv[0], t->name);
	}
	return 0;
}

/* ---- uploads ---- */

static void free_sftp(sftp_session *s)
{
	if (*s)
		sftp_free(*s);
}

#define cleanup_sftp __attribute__((cleanup(free_sftp)))

static int sftp_fail(struct loam_transport *t, sftp_session sf, loam_err *err, const char *what,
		     const char *path)
{
	int code = sf ? sftp_get_error(sf) : 0;
	if (!ssh_is_connected(t->session))
		t->broken = true;
	enum loam_err_kind kind = t->broken			? LOAM_E_UNAVAILABLE
				  : code == SSH_FX_NO_SUCH_FILE ? LOAM_E_NOTFOUND
								: LOAM_E_IO;
	static const char *const reasons[] = {
	    [SSH_FX_NO_SUCH_FILE] = "no such file or directory",
	    [SSH_FX_PERMISSION_DENIED] = "permission denied",
	    [SSH_FX_FAILURE] = "failure",
	    [SSH_FX_FILE_ALREADY_EXISTS] = "file exists",
	};
	const char *reason =
	    code > 0 && (size_t)code < sizeof(reasons) / sizeof(reasons[0]) && reasons[code]
		? reasons[code]
		: ssh_get_error(t->session);
	return loam_fail(err, kind, "%s %s: %s", what, path, reason);
}

static int send_file(struct loam_transport *t, sftp_session sf, int fd, const char *local_path,
		     const char *tmp, loam_err *err)
{
	sftp_file f = sftp_open(sf, tmp, O_WRONLY | O_CREAT | O_EXCL, 0600);
	if (!f)
		return sftp_fail(t, sf, err, "create", tmp);
	cleanup_free char *buf = xmalloc(UPLOAD_CHUNK);
	int rc = 0;
	for (;;) {
		ssize_t n = read(fd, buf, UPLOAD_CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = loam_fail_errno(err, "read %s", local_path);
			break;
		}
		if (n == 0)
			break;
		if (sftp_write(f, buf, (size_t)n) != n) {
			rc = sftp_fail(t, sf, err, "write", tmp);
			break;
		}
	}
	if (rc == 0 && sftp_extension_supported(sf, "fsync@openssh.com", "1") && sftp_fsync(f) < 0)
		rc = sftp_fail(t, sf, err, "fsync", tmp);
	if (sftp_close(f) < 0 && rc == 0)
		rc = sftp_fail(t, sf, err, "close", tmp);
	return rc;
}

/* SFTP v3 rename refuses an existing target, and libssh 0.10 cannot send
 * OpenSSH's posix-rename; replacing a file is then an atomic `mv -f`,
 * whose words (two checked paths) are shell-inert. */
static int replace(struct loam_transport *t, sftp_session sf, const char *tmp, const char *path,
		   loam_err *err)
{
	if (sftp_rename(sf, tmp, path) == 0)
		return 0;
	if (!ssh_is_connected(t->session))
		return sftp_fail(t, sf, err, "rename", tmp);
	const char *argv[] = {"mv", "-f", tmp, path, NULL};
	struct loam_spawn_result res;
	if (loam_transport_run_ok(t, argv, NULL, 0, 60000, &res, err) < 0)
		return -1;
	loam_spawn_result_free(&res);
	return 0;
}

static int upload_via(struct loam_transport *t, sftp_session sf, const char *local_path,
		      const char *remote_path, mode_t mode, loam_err *err)
{
	cleanup_close int fd = open(local_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return loam_fail_errno(err, "open %s", local_path);
	cleanup_free char *tmp = loam_transport_temp_name(remote_path);
	if (send_file(t, sf, fd, local_path, tmp, err) < 0 ||
	    (sftp_chmod(sf, tmp, mode) < 0 && sftp_fail(t, sf, err, "chmod", tmp)) ||
	    replace(t, sf, tmp, remote_path, err) < 0) {
		if (!t->broken)
			sftp_unlink(sf, tmp);
		return -1;
	}
	return 0;
}

int loam_ssh_upload(struct loam_transport *t, const char *local_path, const char *remote_path,
		    mode_t mode, loam_err *err)
{
	cleanup_sftp sftp_session sf = sftp_new(t->session);
	if (!sf || sftp_init(sf) != SSH_OK) {
		sftp_fail(t, sf, err, "start SFTP for", remote_path);
		return loam_err_wrap(err, "upload to %s (the server needs an sftp Subsystem)",
				     t->name);
	}
	if (upload_via(t, sf, local_path, remote_path, mode, err) < 0)
		return loam_err_wrap(err, "upload %s to %s", local_path, t->name);
	return 0;
}
