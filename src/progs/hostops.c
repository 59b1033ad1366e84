/*
 * Host operations shared by host-facing progs (see hostops.h).
 */
#include "progs/hostops.h"

#include <string.h>

#include "lib/cleanup.h"
#include "lib/log.h"
#include "alloc/alloc.h"

#define HOST_COLS                                                                                  \
	"name, transport, address, ssh_user, ssh_key_file, host_key, state_dir, arch, "            \
	"allocation_state, agent_path, agent_sha256, ssh_port, allow_tcg"

static char *dup_or_null(const struct loam_db_rows *r, size_t col)
{
	return loam_db_rows_null(r, 0, col) ? NULL : strdup(loam_db_rows_text(r, 0, col));
}

int loam_host_row_load(struct loam_db *db, const char *id, struct loam_host_row *h, loam_err *err)
{
	cleanup_rows struct loam_db_rows *r = NULL;
	if (loam_db_query(db, "SELECT " HOST_COLS " FROM host WHERE id = ?", DB_ARGS(DB_TEXT(id)),
			  &r, err) < 0)
		return -1;
	if (loam_db_rows_count(r) == 0)
		return loam_fail(err, LOAM_E_NOTFOUND, "no host with id %s", id);
	*h = (struct loam_host_row){0};
	snprintf(h->id, sizeof(h->id), "%s", id);
	char **cols[] = {&h->name,	 &h->transport,	   &h->address,
			 &h->ssh_user,	 &h->ssh_key_file, &h->host_key,
			 &h->state_dir,	 &h->arch,	   &h->allocation_state,
			 &h->agent_path, &h->agent_sha256};
	for (size_t i = 0; i < sizeof(cols) / sizeof(*cols); i++)
		*cols[i] = dup_or_null(r, i);
	h->ssh_port = (int)loam_db_rows_int(r, 0, 11);
	h->allow_tcg = loam_db_rows_int(r, 0, 12) != 0;
	return 0;
}

void loam_host_row_free(struct loam_host_row *h)
{
	char *cols[] = {h->name,       h->transport,	h->address,
			h->ssh_user,   h->ssh_key_file, h->host_key,
			h->state_dir,  h->arch,		h->allocation_state,
			h->agent_path, h->agent_sha256};
	for (size_t i = 0; i < sizeof(cols) / sizeof(*cols); i++)
		free(cols[i]);
	*h = (struct loam_host_row){0};
}

void loam_host_changed(struct loamd_app *app, const char *id)
{
	if (app && app->alloc)
		loam_alloc_host_changed(app->alloc, id);
}

/* Pins the key only if none is pinned yet: a concurrent pin cannot be
 * overwritten, and re-running after a crash writes the same value. */
static int pin_host_key(struct loam_db *db, const char *id, const char *key, loam_err *err)
{
	return loam_db_exec(db, "UPDATE host SET host_key = ? WHERE id = ? AND host_key IS NULL",
			    DB_ARGS(DB_TEXT(key), DB_TEXT(id)), NULL, err);
}

int loam_host_connect(struct loam_strand_ctx *ctx, const struct loam_host_row *h,
		      struct loam_host_conn *c, loam_err *err)
{
	struct loamd_app *app = ctx->app;
	*c = (struct loam_host_conn){.app = app};
	if (!app || !app->pool)
		return loam_fail(err, LOAM_E_INTERNAL, "no transport pool in this process");
	struct loam_host_target target = {
	    .kind = strcmp(h->transport, "local") == 0 ? LOAM_TRANSPORT_LOCAL : LOAM_TRANSPORT_SSH,
	    .name = h->name,
	    .address = h->address,
	    .port = h->ssh_port,
	    .user = h->ssh_user,
	    .key_file = h->ssh_key_file,
	    .pinned_host_key = h->host_key,
	};
	cleanup_free char *seen = NULL;
	if (loam_transport_pool_acquire(app->pool, &target, &c->t, &seen, err) < 0)
		return loam_err_wrap(err, "connect to host %s", h->name);
	if (seen && !h->host_key && pin_host_key(ctx->db, h->id, seen, err) < 0)
		return loam_err_wrap(err, "pin host key of %s", h->name);
	return 0;
}

void loam_host_disconnect(struct loam_host_conn *c)
{
	if (c->t)
		loam_transport_pool_release(c->app->pool, c->t, c->broken);
	c->t = NULL;
}

static const char *last_line(const char *s)
{
	size_t n = strlen(s);
	while (n && s[n - 1] == '\n')
		n--;
	const char *p = s + n;
	while (p > s && p[-1] != '\n')
		p--;
	return p;
}

int loam_host_run(struct loam_host_conn *c, const char *const *argv, int timeout_ms,
		  struct loam_spawn_result *res, loam_err *err)
{
	*res = (struct loam_spawn_result){0};
	if (loam_transport_run(c->t, argv, NULL, 0, timeout_ms, res, err) < 0) {
		c->broken = loam_err_kind_of(*err) == LOAM_E_UNAVAILABLE;
		return -1;
	}
	if (res->timed_out)
		return loam_fail(err, LOAM_E_TIMEOUT, "%s timed out after %d ms", argv[0],
				 timeout_ms);
	if (res->signaled)
		return loam_fail(err, LOAM_E_IO, "%s killed by signal %d", argv[0],
				 res->term_signal);
	if (res->exit_status != 0)
		return loam_fail(err, LOAM_E_IO, "%s exited %d: %.300s", argv[0], res->exit_status,
				 res->err ? last_line(res->err) : "");
	return 0;
}

int loam_host_mark_failed(struct loam_db *db, struct loamd_app *app, const char *id,
			  const char *reason, loam_err *err)
{
	log_error("host %s failed: %s", id, reason);
	if (loam_db_exec(db,
			 "UPDATE host SET allocation_state = 'failed', state_reason = ?, "
			 "generation = generation + 1 WHERE id = ?",
			 DB_ARGS(DB_TEXT(reason), DB_TEXT(id)), NULL, err) < 0)
		return -1;
	loam_host_changed(app, id);
	return 0;
}

struct reach {
	const char *id, *reason;
	int64_t changed;
};

static int unreachable_tx(struct loam_db *db, void *p, loam_err *err)
{
	struct reach *r = p;
	if (loam_db_exec(
		db,
		"UPDATE host SET state_before_unreachable = allocation_state, "
		"allocation_state = 'unreachable', state_reason = ?, generation = generation "
		"+ 1 WHERE id = ? AND allocation_state IN ('accepting', 'draining')",
		DB_ARGS(DB_TEXT(r->reason), DB_TEXT(r->id)), &r->changed, err) < 0)
		return -1;
	return loam_db_exec(db,
			    "UPDATE vm SET state_before_unavailable = state, state = 'unavailable' "
			    "WHERE host_id = ? AND state IN ('running', 'allocated')",
			    DB_ARGS(DB_TEXT(r->id)), NULL, err);
}

int loam_host_mark_unreachable(struct loam_db *db, struct loamd_app *app, const char *id,
			       const char *reason, loam_err *err)
{
	struct reach r = {.id = id, .reason = reason};
	if (loam_db_tx(db, unreachable_tx, &r, err) < 0)
		return -1;
	if (r.changed) {
		log_warn("host %s unreachable: %s", id, reason);
		loam_host_changed(app, id);
	}
	return 0;
}

static int reachable_tx(struct loam_db *db, void *p, loam_err *err)
{
	struct reach *r = p;
	if (loam_db_exec(
		db,
		"UPDATE vm SET state = state_before_unavailable, state_before_unavailable = "
		"NULL WHERE host_id = ? AND state = 'unavailable' AND "
		"state_before_unavailable IS NOT NULL",
		DB_ARGS(DB_TEXT(r->id)), NULL, err) < 0)
		return -1;
	return loam_db_exec(db,
			    "UPDATE host SET allocation_state = COALESCE(state_before_unreachable, "
			    "'accepting'), state_before_unreachable = NULL, state_reason = NULL, "
			    "last_seen_at = ?, generation = generation + 1 WHERE id = ? AND "
			    "allocation_state = 'unreachable'",
			    DB_ARGS(DB_INT(loam_db_now_ms()), DB_TEXT(r->id)), &r->changed, err);
}

int loam_host_mark_reachable(struct loam_db *db, struct loamd_app *app, const char *id,
			     loam_err *err)
{
	struct reach r = {.id = id};
	if (loam_db_tx(db, reachable_tx, &r, err) < 0)
		return -1;
	if (r.changed) {
		log_info("host %s reachable again", id);
		loam_host_changed(app, id);
	}
	return loam_db_exec(db, "UPDATE host SET last_seen_at = ? WHERE id = ?",
			    DB_ARGS(DB_INT(loam_db_now_ms()), DB_TEXT(id)), NULL, err);
}
