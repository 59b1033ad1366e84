/*
 * What host-facing labels share: the host row, opening a transport to it
 * through the pool (pinning its key on first contact, refusing a changed
 * one), running the agent, and the host state changes of the heartbeat.
 * Every write here is idempotent, so a label re-run after a crash repeats
 * nothing.
 */
#ifndef LOAM_PROGS_HOSTOPS_H
#define LOAM_PROGS_HOSTOPS_H

#include <stdbool.h>

#include "db/db.h"
#include "db/host.h"
#include "engine/engine.h"
#include "lib/spawn.h"
#include "progs/progs.h"
#include "transport/transport.h"

/* The columns host-facing labels read, from the host model (db/host.h). */
struct loam_host_row {
	char id[27];
	char *name, *transport, *address, *ssh_user, *ssh_key_file, *host_key, *state_dir;
	char *arch, *allocation_state, *agent_path, *agent_sha256;
	int ssh_port;
	bool allow_tcg;
	enum loam_host_state state; /* allocation_state as the enum */
};

int loam_host_row_load(struct loam_db *db, const char *id, struct loam_host_row *h, loam_err *err);
void loam_host_row_free(struct loam_host_row *h);
#define cleanup_host_row __attribute__((cleanup(loam_host_row_free)))

/* A connected transport for one label, released back to the pool after. */
struct loam_host_conn {
	struct loamd_app *app;
	struct loam_transport *t;
	bool broken;
};

/*
 * Opens (or reuses) the host's transport and pins a first-seen host key.
 * A changed key is LOAM_E_AUTH: the caller marks the host failed.
 */
int loam_host_connect(struct loam_strand_ctx *ctx, const struct loam_host_row *h,
		      struct loam_host_conn *c, loam_err *err);
void loam_host_disconnect(struct loam_host_conn *c);
#define cleanup_host_conn __attribute__((cleanup(loam_host_disconnect)))

/* Runs argv and fails unless it exits 0; res->out holds its stdout. */
int loam_host_run(struct loam_host_conn *c, const char *const *argv, int timeout_ms,
		  struct loam_spawn_result *res, loam_err *err);

/* allocation_state = 'failed' with a reason; nothing runs there after. */
int loam_host_mark_failed(struct loam_db *db, struct loamd_app *app, const char *id,
			  const char *reason, loam_err *err);
/* Host 'unreachable' and its running/allocated VMs 'unavailable',
 * remembering both prior states; and back. No-ops when already so. */
int loam_host_mark_unreachable(struct loam_db *db, struct loamd_app *app, const char *id,
			       const char *reason, loam_err *err);
int loam_host_mark_reachable(struct loam_db *db, struct loamd_app *app, const char *id,
			     loam_err *err);

/* Tells the allocator (when there is one) that the host row changed. */
void loam_host_changed(struct loamd_app *app, const char *id);

#endif
