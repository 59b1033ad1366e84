/*
 * Host operations shared by host-facing progs (see hostops.h), over the
 * host model (db/host.h): this file holds no SQL.
 */
#include "progs/hostops.h"

#include <string.h>

#include "lib/cleanup.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "alloc/alloc.h"

int loam_host_row_load(struct loam_db *db, const char *id, struct loam_host_row *h, loam_err *err)
{
	cleanup_host struct loam_host m = {0};
	int found = loam_host_get(db, id, &m, err);
	if (found <= 0)
		return found < 0 ? -1 : loam_fail(err, LOAM_E_NOTFOUND, "no host with id %s", id);
	*h = (struct loam_host_row){
	    .name = xstrdup(m.name),
	    .transport = xstrdup(m.transport),
	    .address = xstrdup(m.address),
	    .ssh_user = xstrdup(m.ssh_user),
	    .ssh_key_file = xstrdup(m.ssh_key_file),
	    .host_key = xstrdup(m.host_key),
	    .state_dir = xstrdup(m.state_dir),
	    .arch = xstrdup(m.arch),
	    .allocation_state = xstrdup(loam_host_state_name(m.state)),
	    .agent_path = xstrdup(m.agent_path),
	    .agent_sha256 = xstrdup(m.agent_sha256),
	    .ssh_port = (int)m.ssh_port,
	    .allow_tcg = m.allow_tcg,
	    .state = m.state,
	};
	snprintf(h->id, sizeof(h->id), "%s", id);
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
	if (seen && !h->host_key && loam_host_pin_key(ctx->db, h->id, seen, err) < 0) {
		/* A connection to a key that lost the pin race is never reused. */
		c->broken = true;
		loam_host_disconnect(c);
		return loam_err_wrap(err, "pin host key of %s", h->name);
	}
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
	if (loam_host_record_failed(db, id, reason, err) < 0)
		return -1;
	loam_host_changed(app, id);
	return 0;
}

struct reach {
	const char *id, *reason;
	bool changed;
};

static int unreachable_tx(struct loam_db *db, void *p, loam_err *err)
{
	struct reach *r = p;
	return loam_host_record_unreachable(db, r->id, r->reason, &r->changed, err);
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
	return loam_host_record_reachable(db, r->id, &r->changed, err);
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
	return loam_host_record_seen(db, id, err);
}
