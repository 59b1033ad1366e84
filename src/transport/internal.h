/*
 * What the transport files share and nothing else sees: the transport
 * struct and each kind's functions. transport.c dispatches on the kind, so
 * callers only ever use the functions in transport.h.
 */
#ifndef LOAM_TRANSPORT_INTERNAL_H
#define LOAM_TRANSPORT_INTERNAL_H

#include <libssh/libssh.h>

#include "transport/transport.h"

struct loam_transport {
	enum loam_transport_kind kind;
	char *name;
	char *pool_key;		     /* set while owned by a pool */
	bool broken;		     /* the connection failed; never reuse it */
	struct loam_transport *next; /* a pool's idle list */
	ssh_session session;	     /* ssh only */
	int timeout_ms;		     /* ssh only: bound on blocking libssh calls */
	char *host_key;		     /* ssh only: the key the server presented */
};

struct loam_transport *loam_transport_alloc(enum loam_transport_kind kind, const char *name);

/* "<path>.tmp.<random>", for uploads. */
char *loam_transport_temp_name(const char *path);

int loam_local_run(struct loam_transport *t, const char *const *argv, const char *stdin_data,
		   size_t stdin_len, int timeout_ms, struct loam_spawn_result *res, loam_err *err);
int loam_local_upload(const char *local_path, const char *remote_path, mode_t mode, loam_err *err);

int loam_ssh_open(const struct loam_host_target *target, struct loam_transport *t,
		  char **seen_host_key, loam_err *err);
void loam_ssh_close(struct loam_transport *t);
int loam_ssh_run(struct loam_transport *t, const char *const *argv, const char *stdin_data,
		 size_t stdin_len, int timeout_ms, struct loam_spawn_result *res, loam_err *err);
int loam_ssh_upload(struct loam_transport *t, const char *local_path, const char *remote_path,
		    mode_t mode, loam_err *err);
/* pinned ("type base64 [comment]") names the presented key. */
bool loam_ssh_key_matches(const char *pinned, const char *presented);
/* False when the peer has closed the connection while it sat idle. */
bool loam_ssh_alive(struct loam_transport *t);

#endif
