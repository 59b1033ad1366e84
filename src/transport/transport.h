/*
 * Transports run the agent on a host and move files there. `local` spawns
 * programs on this machine; `ssh` goes through libssh with public-key
 * authentication and a host key pinned on first contact.
 *
 * How words cross SSH safely: SSH carries a command as one string that the
 * remote user's shell parses. loam never quotes or escapes; instead every
 * word of a remote argv must be shell-inert (loam_shell_inert_word: only
 * [A-Za-z0-9._/:=@%+,-]), so the remote shell's word-splitting gives back
 * exactly the argv we built, and a word that is not inert is refused before
 * anything is sent. Data that is not a simple word (JSON, seeds, keys)
 * travels on the agent's stdin.
 */
#ifndef LOAM_TRANSPORT_H
#define LOAM_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "lib/err.h"
#include "lib/spawn.h"

enum loam_transport_kind { LOAM_TRANSPORT_LOCAL, LOAM_TRANSPORT_SSH };

struct loam_host_target {
	enum loam_transport_kind kind;
	const char *name;	     /* host name, for messages */
	const char *address;	     /* ssh only */
	int port;		     /* ssh only; 0 means 22 */
	const char *user;	     /* ssh only; NULL means root */
	const char *key_file;	     /* private key; NULL means ~/.ssh/id_ed25519 or id_rsa */
	const char *pinned_host_key; /* "ssh-ed25519 AAAA..." or NULL on first contact */
	int connect_timeout_ms;	     /* 0 means 10000 */
};

struct loam_transport;

/*
 * Connects (ssh) or prepares (local). On first contact, *seen_host_key is
 * set to the key the server presented (the caller pins it). A server whose
 * key differs from pinned_host_key is refused with LOAM_E_AUTH and nothing
 * runs. The caller frees *seen_host_key.
 */
int loam_transport_open(const struct loam_host_target *target, struct loam_transport **out,
			char **seen_host_key, loam_err *err);
void loam_transport_close(struct loam_transport *t);

/*
 * Runs argv on the host; returns 0 when it ran, whatever its exit status
 * (res->timed_out is set when timeout_ms (0: none) ran out and the command
 * was killed). Over ssh, a word that is not shell-inert is refused with
 * LOAM_E_INVALID before anything is sent, and a lost connection is
 * LOAM_E_UNAVAILABLE and marks the transport broken. res is zeroed first
 * and filled on success; free it with loam_spawn_result_free.
 */
int loam_transport_run(struct loam_transport *t, const char *const *argv, const char *stdin_data,
		       size_t stdin_len, int timeout_ms, struct loam_spawn_result *res,
		       loam_err *err);
/* Like loam_transport_run, but fails unless the command exited 0: LOAM_E_TIMEOUT
 * when it ran out of time, LOAM_E_IO with the last line of stderr otherwise.
 * res is filled either way and the caller frees it. */
int loam_transport_run_ok(struct loam_transport *t, const char *const *argv, const char *stdin_data,
			  size_t stdin_len, int timeout_ms, struct loam_spawn_result *res,
			  loam_err *err);
/* True once the connection failed; such a transport must not be reused. */
bool loam_transport_is_broken(const struct loam_transport *t);
/* The host name the transport was opened for (for messages). */
const char *loam_transport_name(const struct loam_transport *t);
/* Copies a local file to remote_path (via a temp name and rename). */
int loam_transport_upload(struct loam_transport *t, const char *local_path, const char *remote_path,
			  mode_t mode, loam_err *err);

/* A process-wide cache of open transports keyed by host name, so that
 * connections are reused. Thread-safe; a transport is used by one thread
 * at a time. */
struct loam_transport_pool;
struct loam_transport_pool *loam_transport_pool_new(void);
/* Closes the idle transports; release every acquired one first. */
void loam_transport_pool_free(struct loam_transport_pool *p);
/* An idle transport for the same name, address, port, user and key file,
 * or a new one. One whose peer has gone away, or whose server's key is not
 * target->pinned_host_key, is closed and replaced. seen_host_key works as
 * in loam_transport_open (also when an unpinned connection is reused). */
int loam_transport_pool_acquire(struct loam_transport_pool *p,
				const struct loam_host_target *target, struct loam_transport **out,
				char **seen_host_key, loam_err *err);
/* broken: the connection failed and must not be reused (a transport that
 * noticed its own failure is dropped either way). */
void loam_transport_pool_release(struct loam_transport_pool *p, struct loam_transport *t,
				 bool broken);

#endif
