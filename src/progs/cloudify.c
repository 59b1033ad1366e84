/*
 * The cloudify prog: turns a host row into an accepting host, then keeps a
 * heartbeat on it. The API creates the host row and this strand together,
 * with strand id = host id, so a host never gets a second row. Every label
 * is idempotent (it may re-run after a crash):
 *
 *   start → connect → detect_arch → upload_agent → learn →
 *   install_artifacts → accept → wait (↺ heartbeat)
 *
 * install_artifacts runs the agent's install as a detached job on the host
 * and naps until it has ended (the host watcher wakes it), so downloading
 * the artifacts never holds a worker.
 *
 * A changed host key sends the host to 'failed' and ends the strand before
 * anything runs there.
 */
#include <stdlib.h>
#include <string.h>

#include "arch/arch.h"
#include "artifact/host_install.h"
#include "artifact/upgrade.h"
#include "db/host_artifact.h"
#include "db/host.h"
#include "lib/cleanup.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/metrics.h"
#include "lib/sha256.h"
#include "lib/valid.h"
#include "lib/xalloc.h"
#include "progs/hostops.h"
#include "progs/images.h"
#include "progs/watch.h"
#include "proto/agent.h"
#include "proto/client.h"

/* The labels; a changed host key ends the strand from any of them. */
#define CL_START	     "start"
#define CL_CONNECT	     "connect"
#define CL_DETECT_ARCH	     "detect_arch"
#define CL_UPLOAD_AGENT	     "upload_agent"
#define CL_LEARN	     "learn"
#define CL_INSTALL_ARTIFACTS "install_artifacts"
#define CL_ACCEPT	     "accept"
#define CL_WAIT		     "wait"

#define DEFAULT_HEARTBEAT_MS 30000
/* One lost beat (a dropped connection, a busy host) is checked again soon;
 * only this many in a row mark the host unreachable. */
#define HEARTBEAT_MISSES	2
#define HEARTBEAT_RECHECK_MS	2000
#define DEFAULT_COMMAND_TIMEOUT 300000
#define QUICK_COMMAND_TIMEOUT	30000
#define AGENT_DIR_PREFIX_LEN	16
/* Without a watcher, how often a running install job is asked about. */
#define INSTALL_POLL_MS	       2000
#define INSTALL_WATCHED_NAP_MS 10000

static struct loamd_app *app_of(struct loam_strand_ctx *ctx)
{
	return ctx->app;
}

static int command_timeout(struct loam_strand_ctx *ctx)
{
	struct loamd_app *app = app_of(ctx);
	return app && app->command_timeout_ms > 0 ? app->command_timeout_ms
						  : DEFAULT_COMMAND_TIMEOUT;
}

/* Ends the strand with the host failed; nothing more runs on it. */
static int give_up(struct loam_strand_ctx *ctx, const char *reason, struct loam_outcome *out,
		   loam_err *err)
{
	if (loam_host_mark_failed(ctx->db, app_of(ctx), ctx->id, reason, err) < 0)
		return -1;
	*out = loam_pop(json_pack("{s:s, s:s}", "state", "failed", "reason", reason));
	return 0;
}

/* Connects, turning a refused host key into the host's failure. Returns 1
 * when the host was failed (*out is set), 0 when connected, -1 on error. */
static int connect_or_fail(struct loam_strand_ctx *ctx, const struct loam_host_row *h,
			   struct loam_host_conn *c, struct loam_outcome *out, loam_err *err)
{
	if (loam_host_connect(ctx, h, c, err) == 0)
		return 0;
	if (loam_err_kind_of(*err) != LOAM_E_AUTH)
		return -1;
	cleanup_free char *reason =
	    xasprintf("host key changed or refused: %s", loam_err_msg(*err));
	loam_err_free(err);
	return give_up(ctx, reason, out, err) < 0 ? -1 : 1;
}

static int load(struct loam_strand_ctx *ctx, struct loam_host_row *h, loam_err *err)
{
	return loam_host_row_load(ctx->db, ctx->id, h, err);
}

static int cloudify_start(struct loam_strand_ctx *ctx, struct loam_outcome *out, loam_err *err)
{
	cleanup_host_row struct loam_host_row h = {0};
	if (load(ctx, &h, err) < 0)
		return -1;
	if (strcmp(h.allocation_state, "failed") == 0) {
		*out = loam_pop(json_pack("{s:s}", "state", "failed"));
		return 0;
	}
	/* The API validates too; this guards rows written any other way, since
	 * state_dir becomes words of remote commands. */
	cleanup_err loam_err bad = NULL;
	if (loam_valid_abs_path("host state_dir", h.state_dir, &bad) < 0)
		return give_up(ctx, loam_err_msg(bad), out, err);
	*out = loam_hop(CL_CONNECT);
	return 0;
}

static int cloudify_connect(struct loam_strand_ctx *ctx, struct loam_outcome *out, loam_err *err)
{
	cleanup_host_row struct loam_host_row h = {0};
	cleanup_host_conn struct loam_host_conn c = {0};
	if (load(ctx, &h, err) < 0)
		return -1;
	int rc = connect_or_fail(ctx, &h, &c, out, err);
	if (rc != 0)
		return rc < 0 ? -1 : 0;
	*out = loam_hop(CL_DETECT_ARCH);
	return 0;
}

static int cloudify_detect_arch(struct loam_strand_ctx *ctx, struct loam_outcome *out,
				loam_err *err)
{
	cleanup_host_row struct loam_host_row h = {0};
	cleanup_host_conn struct loam_host_conn c = {0};
	if (load(ctx, &h, err) < 0)
		return -1;
	int rc = connect_or_fail(ctx, &h, &c, out, err);
	if (rc != 0)
		return rc < 0 ? -1 : 0;
	const char *const argv[] = {"uname", "-m", NULL};
	struct loam_spawn_result res = {0};
	rc = loam_host_run(&c, argv, QUICK_COMMAND_TIMEOUT, &res, err);
	if (rc == 0) {
		res.out[strcspn(res.out, "\r\n")] = '\0';
		const struct loam_arch *arch = loam_arch_normalize(res.out, err);
		rc = arch ? loam_host_record_arch(ctx->db, ctx->id, arch->name, err) : -1;
		if (arch)
			log_info("host %s: arch %s (uname -m: %s)", h.name, arch->name, res.out);
	}
	loam_spawn_result_free(&res);
	if (rc < 0)
		return loam_err_wrap(err, "detect arch of %s", h.name);
	*out = loam_hop(CL_UPLOAD_AGENT);
	return 0;
}

/* sha256sum prints "HEX  PATH"; *matches tells whether HEX is want. */
static int remote_sha256_matches(struct loam_host_conn *c, const char *path, const char *want,
				 bool *matches, loam_err *err)
{
	const char *const argv[] = {"sha256sum", path, NULL};
	struct loam_spawn_result res = {0};
	*matches = false;
	if (loam_transport_run(c->t, argv, NULL, 0, QUICK_COMMAND_TIMEOUT, &res, err) < 0)
		return -1;
	*matches = !res.timed_out && !res.signaled && res.exit_status == 0 &&
		   strncmp(res.out, want, LOAM_SHA256_HEX_LEN) == 0 &&
		   res.out[LOAM_SHA256_HEX_LEN] == ' ';
	loam_spawn_result_free(&res);
	return 0;
}

static int upload_verified(struct loam_host_conn *c, const char *local, const char *dir,
			   const char *remote, const char *sha, loam_err *err)
{
	bool ok = false;
	if (remote_sha256_matches(c, remote, sha, &ok, err) < 0)
		return -1;
	if (ok)
		return 0; /* already there from an earlier run */
	const char *const mkdir_argv[] = {"mkdir", "-p", dir, NULL};
	struct loam_spawn_result res = {0};
	int rc = loam_host_run(c, mkdir_argv, QUICK_COMMAND_TIMEOUT, &res, err);
	loam_spawn_result_free(&res);
	if (rc < 0 || loam_transport_upload(c->t, local, remote, 0755, err) < 0)
		return -1;
	if (remote_sha256_matches(c, remote, sha, &ok, err) < 0)
		return -1;
	if (!ok)
		return loam_fail(err, LOAM_E_IO,
				 "uploaded agent %s does not have sha256 %s on the host", remote,
				 sha);
	return 0;
}

static int cloudify_upload_agent(struct loam_strand_ctx *ctx, struct loam_outcome *out,
				 loam_err *err)
{
	cleanup_host_row struct loam_host_row h = {0};
	cleanup_host_conn struct loam_host_conn c = {0};
	if (load(ctx, &h, err) < 0)
		return -1;
	if (!h.arch)
		return loam_fail(err, LOAM_E_INTERNAL, "host %s has no arch yet", h.name);
	const char *dist = app_of(ctx)->dist_dir ? app_of(ctx)->dist_dir : "build/dist";
	char sha[LOAM_SHA256_HEX_LEN + 1];
	cleanup_free char *local = xasprintf("%s/loam-host-%s", dist, h.arch);
	if (loam_sha256_file(local, sha, NULL, err) < 0)
		return loam_err_wrap(err, "agent for %s (build it with: make)", h.arch);
	cleanup_free char *dir = xasprintf("%s/agent/%.*s", h.state_dir, AGENT_DIR_PREFIX_LEN, sha);
	cleanup_free char *remote = xasprintf("%s/loam-host", dir);
	int rc = connect_or_fail(ctx, &h, &c, out, err);
	if (rc != 0)
		return rc < 0 ? -1 : 0;
	if (upload_verified(&c, local, dir, remote, sha, err) < 0)
		return loam_err_wrap(err, "upload agent to %s", h.name);
	if (loam_host_record_agent(ctx->db, ctx->id, remote, sha, err) < 0)
		return -1;
	*out = loam_hop(CL_LEARN);
	return 0;
}

/* The agent on the host for one label. */
static struct loam_agent agent_of(struct loam_strand_ctx *ctx, const struct loam_host_row *h,
				  const struct loam_host_conn *c, int timeout_ms)
{
	(void)ctx;
	return (struct loam_agent){
	    .t = c->t, .path = h->agent_path, .state_dir = h->state_dir, .timeout_ms = timeout_ms};
}

static int store_facts(struct loam_strand_ctx *ctx, const struct loam_host_row *h,
		       const struct loam_agent_facts *f, loam_err *err)
{
	if (!h->arch || strcmp(f->arch, h->arch) != 0)
		return loam_fail(err, LOAM_E_IO, "learn reports arch '%s' but uname said '%s'",
				 *f->arch ? f->arch : "(none)", h->arch ? h->arch : "(none)");
	struct loam_host_facts l = {.cpus = f->cpus,
				    .cores = f->cores,
				    .sockets = f->sockets,
				    .dies = f->dies,
				    .threads_per_core =
					f->threads_per_core > 0 ? f->threads_per_core : 1,
				    .numa_nodes = f->numa_nodes,
				    .memory_gib = f->memory_gib,
				    .hugepages_1g = f->hugepages_1g_total,
				    .storage_gib = f->storage_total_gib,
				    .available_storage_gib = f->storage_available_gib,
				    .kvm = f->kvm,
				    .cpu_model = f->cpu_model,
				    .os = f->os,
				    .kernel = f->kernel,
				    .json = f->raw,
				    .accel = f->kvm	    ? "kvm"
					     : h->allow_tcg ? "tcg"
							    : "none"};
	return loam_host_record_facts(ctx->db, ctx->id, &l, err);
}

static int cloudify_learn(struct loam_strand_ctx *ctx, struct loam_outcome *out, loam_err *err)
{
	cleanup_host_row struct loam_host_row h = {0};
	cleanup_host_conn struct loam_host_conn c = {0};
	if (load(ctx, &h, err) < 0)
		return -1;
	if (!h.agent_path)
		return loam_fail(err, LOAM_E_INTERNAL, "host %s has no agent yet", h.name);
	int rc = connect_or_fail(ctx, &h, &c, out, err);
	if (rc != 0)
		return rc < 0 ? -1 : 0;
	struct loam_agent a = agent_of(ctx, &h, &c, command_timeout(ctx));
	cleanup_agent_facts struct loam_agent_facts f = {0};
	if (loam_agent_learn(&a, h.state_dir, &f, err) < 0 || store_facts(ctx, &h, &f, err) < 0)
		return loam_err_wrap(err, "learn facts of %s", h.name);
	*out = loam_hop(CL_INSTALL_ARTIFACTS);
	return 0;
}

/* The host's own arch, then the arches it is opted in to emulate (the
 * strings point into *model, which the caller frees). */
static int served_arches(struct loam_db *db, const struct loam_host_row *h, struct loam_host *model,
			 const char **out, size_t max, loam_err *err)
{
	int found = loam_host_get(db, h->id, model, err);
	if (found <= 0)
		return found < 0 ? -1
				 : loam_fail(err, LOAM_E_NOTFOUND, "no host with id %s", h->id);
	const struct loam_arch *own = loam_arch_by_name(h->arch);
	if (!own)
		return loam_fail(err, LOAM_E_INTERNAL, "host %s has no arch yet", h->name);
	loam_artifact_host_selection(own, loam_argv_view(&model->emulate), out, max);
	return 0;
}

/* Frame keys of the install step: its request, kept until the job ended so
 * that asking again uses the same input, and whether it only installs what
 * `loam host upgrade` asked for. */
#define CL_FRAME_REQUEST "install_request"
#define CL_FRAME_UPGRADE "install_upgrade"

/* The store's manifest as it is now on disk (an upgrade reads the same
 * file), else the one loamd read at start; NULL: no store. */
static const struct loam_artifact_manifest *store_manifest(struct loamd_app *app,
							   struct loam_artifact_manifest *fresh)
{
	if (!app->manifest || !app->artifact_store)
		return app->manifest;
	cleanup_free char *path = xasprintf("%s/manifest.json", app->artifact_store);
	cleanup_err loam_err err = NULL;
	if (loam_artifact_manifest_load(path, fresh, &err) == 0)
		return fresh;
	log_warn("artifact store: %s; using the manifest read at start", loam_err_msg(err));
	return app->manifest;
}

static bool same_key(const struct loam_artifact_entry *e, const struct loam_host_artifact *a)
{
	return strcmp(loam_artifact_component_name(e->component), a->component) == 0 &&
	       strcmp(e->name, a->name) == 0 && strcmp(e->version, a->version) == 0 &&
	       strcmp(e->arch, a->arch) == 0;
}

/* Adds to *list (which has room) the manifest's entry for each row an
 * upgrade asked for; one the store no longer has fails. */
static int add_requested(struct loam_strand_ctx *ctx, const struct loam_artifact_manifest *m,
			 struct loam_artifact_manifest *list, loam_err *err)
{
	cleanup_host_artifacts struct loam_host_artifacts rows = {0};
	if (loam_host_artifacts_installing(ctx->db, ctx->id, &rows, err) < 0)
		return -1;
	for (size_t r = 0; r < rows.n; r++) {
		const struct loam_artifact_entry *found = NULL;
		for (size_t i = 0; i < m->count && !found; i++)
			found = same_key(&m->entries[i], &rows.v[r]) ? &m->entries[i] : NULL;
		bool listed = false;
		for (size_t i = 0; found && i < list->count; i++)
			listed |= same_key(&list->entries[i], &rows.v[r]);
		struct loam_artifact_key k = {rows.v[r].component, rows.v[r].name,
					      rows.v[r].version, rows.v[r].arch};
		if (!found && loam_host_artifact_fail_installing(
				  ctx->db, ctx->id, &k,
				  "the artifact store's manifest no longer has it", err) < 0)
			return -1;
		if (found && !listed)
			list->entries[list->count++] = *found;
	}
	return 0;
}

/* The agent's install request: the newest version of each artifact the
 * host takes (a new host, or new served arches), unless this run only
 * installs what an upgrade asked for, plus every version an upgrade asked
 * for (rows 'installing'). */
static int build_request(struct loam_strand_ctx *ctx, const struct loam_host_row *h,
			 const char *const *arches, bool upgrade, char **request, loam_err *err)
{
	struct loamd_app *app = app_of(ctx);
	struct loam_artifact_manifest fresh = {0}, newest = {0};
	const struct loam_artifact_manifest *m = store_manifest(app, &fresh);
	struct loam_artifact_manifest list = {.entries =
						  xcalloc(m->count + 1, sizeof(*m->entries))};
	int rc = 0;
	if (!upgrade &&
	    (rc = loam_artifact_upgrade_select(m, arches, NULL, NULL, &newest, err)) == 0)
		for (size_t i = 0; i < newest.count; i++)
			list.entries[list.count++] = newest.entries[i];
	if (rc == 0)
		rc = add_requested(ctx, m, &list, err);
	cleanup_free char *prefix = app->artifact_prefix ? xstrdup(app->artifact_prefix)
							 : xasprintf("%s/artifacts", h->state_dir);
	if (rc == 0)
		rc = loam_artifact_install_request(ctx->db, h->id, &list, arches,
						   app->artifact_base_url, prefix, request, err);
	free(list.entries);
	free(newest.entries);
	loam_artifact_manifest_free(&fresh);
	return rc;
}

/* Records what the ended job installed; fails as the install did. */
static int install_record(struct loam_strand_ctx *ctx, const struct loam_host_row *h,
			  const struct loam_agent *a, const char *request,
			  const struct loam_job_status *st, loam_err *err)
{
	cleanup_err loam_err why = NULL;
	bool results =
	    st->state == LOAM_JOB_IS_DONE && (st->exit_status == 0 || st->exit_status == 1);
	if (!results)
		loam_job_fail(a, st, LOAM_VERB_INSTALL, &why);
	return loam_artifact_install_record(ctx->db, h->id, h->name, request,
					    results ? st->out : NULL,
					    why ? loam_err_msg(why) : NULL, err);
}

/* Starts the install job or asks about it: 1 when it ended and its result
 * is recorded, 0 when it runs (*out is the nap). */
static int install_job(struct loam_strand_ctx *ctx, const struct loam_host_row *h,
		       const struct loam_agent *a, const char *request, struct loam_outcome *out,
		       loam_err *err)
{
	cleanup_job_status struct loam_job_status st = {0};
	if (loam_agent_install_job(a, request, loam_agent_job_wait_ms(ctx->idle_workers), &st,
				   err) < 0) {
		cleanup_err loam_err ignored = NULL;
		loam_artifact_install_record(ctx->db, h->id, h->name, request, NULL,
					     loam_err_msg(*err), &ignored);
		return -1;
	}
	if (st.state != LOAM_JOB_IS_RUNNING)
		return install_record(ctx, h, a, request, &st, err) < 0 ? -1 : 1;
	struct loam_watch *w = app_of(ctx)->watch;
	if (w)
		loam_watch_job(w, h->id, LOAM_JOB_INSTALL, ctx->id);
	*out = loam_nap(w ? INSTALL_WATCHED_NAP_MS : INSTALL_POLL_MS);
	return 0;
}

static bool request_empty(const char *request)
{
	cleanup_json json_t *j = json_loads(request, 0, NULL);
	return json_array_size(json_object_get(j, LOAM_KEY_ENTRIES)) == 0;
}

/* Whether a kept request still downloads from this loamd's artifact
 * listener: a loamd restarted without a fixed --artifact-listen serves
 * the store on another port, and a request naming the old one would fail
 * on every try. */
static bool request_current(const char *request, const char *base_url)
{
	cleanup_json json_t *j = json_loads(request, 0, NULL);
	size_t n = strlen(base_url), i;
	json_t *e;
	json_array_foreach(json_object_get(j, LOAM_KEY_ENTRIES), i, e)
	{
		const char *url = json_string_value(json_object_get(e, LOAM_KEY_URL));
		if (url && strstr(url, "/artifacts/") && strncmp(url, base_url, n) != 0)
			return false;
	}
	return true;
}

/* Runs the install: 1 when done, 0 when the job runs (*out is the nap). */
static int install_run(struct loam_strand_ctx *ctx, const struct loam_host_row *h,
		       const char *const *arches, bool upgrade, struct loam_outcome *out,
		       loam_err *err)
{
	const char *kept = json_string_value(json_object_get(ctx->frame, CL_FRAME_REQUEST));
	if (kept && !request_current(kept, app_of(ctx)->artifact_base_url))
		kept = NULL;
	cleanup_free char *request = kept ? xstrdup(kept) : NULL;
	if (!request && build_request(ctx, h, arches, upgrade, &request, err) < 0)
		return -1;
	if (request_empty(request))
		return 1;
	cleanup_host_conn struct loam_host_conn c = {0};
	int rc = connect_or_fail(ctx, h, &c, out, err);
	if (rc != 0)
		return rc < 0 ? -1 : 2;
	json_object_set_new(ctx->frame, CL_FRAME_REQUEST, json_string(request));
	struct loam_agent a = agent_of(ctx, h, &c, 0);
	return install_job(ctx, h, &a, request, out, err);
}

/*
 * Installs the store's artifacts the host takes (guest-arch artifacts of
 * the arches it serves, bundles of its own arch) under the install prefix,
 * records them (host_artifact) and refreshes the allocator's image index.
 * Re-run by `host set --emulate` (signal "install"), and by `loam host
 * upgrade` (signal "upgrade": only what it asked for; a failure then is
 * recorded on the versions and the heartbeat goes on). Already installed
 * entries are skipped by the agent.
 */
static int cloudify_install_artifacts(struct loam_strand_ctx *ctx, struct loam_outcome *out,
				      loam_err *err)
{
	struct loamd_app *app = app_of(ctx);
	if (!app || !app->manifest || !app->artifact_base_url) {
		log_warn("host %s: no artifact store in this loamd; nothing installed", ctx->id);
		*out = loam_hop(CL_ACCEPT);
		return 0;
	}
	cleanup_host_row struct loam_host_row h = {0};
	cleanup_host struct loam_host model = {0};
	const char *arches[9] = {0};
	if (load(ctx, &h, err) < 0 || served_arches(ctx->db, &h, &model, arches, 9, err) < 0)
		return -1;
	bool upgrade = json_is_true(json_object_get(ctx->frame, CL_FRAME_UPGRADE));
	int ended = install_run(ctx, &h, arches, upgrade, out, err);
	if (ended == 0 || ended == 2)
		return 0; /* the job runs, or the host was failed */
	if (ended < 0 && !upgrade)
		return loam_err_wrap(err, "install artifacts on %s", h.name);
	if (ended < 0) {
		log_warn("host %s: upgrade failed: %s", h.name, loam_err_msg(*err));
		loam_err_free(err);
	}
	json_object_del(ctx->frame, CL_FRAME_REQUEST);
	json_object_del(ctx->frame, CL_FRAME_UPGRADE);
	if (app->images && loam_image_index_reload(app->images, ctx->db, err) < 0)
		return -1;
	loam_host_changed(app, ctx->id);
	log_info("host %s: artifacts installed for %s%s%s", h.name, arches[0],
		 arches[1] ? " and " : "", arches[1] ? arches[1] : "");
	*out = loam_hop(CL_ACCEPT);
	return 0;
}

static int cloudify_accept(struct loam_strand_ctx *ctx, struct loam_outcome *out, loam_err *err)
{
	/* Only a fresh host is opened for VMs: an operator's 'draining' stays. */
	if (loam_host_record_accepting(ctx->db, ctx->id, err) < 0)
		return -1;
	loam_host_changed(app_of(ctx), ctx->id);
	log_info("host %s accepting", ctx->id);
	*out = loam_hop(CL_WAIT);
	return 0;
}

static int beat_missed(struct loam_strand_ctx *ctx, int period, const char *why,
		       struct loam_outcome *out, loam_err *err)
{
	json_int_t missed = json_integer_value(json_object_get(ctx->frame, "missed_beats")) + 1;
	json_object_set_new(ctx->frame, "missed_beats", json_integer(missed));
	if (missed < HEARTBEAT_MISSES) {
		log_warn("host %s missed a heartbeat (%lld of %d): %s; checking again", ctx->id,
			 (long long)missed, HEARTBEAT_MISSES, why);
		*out = loam_nap(period < HEARTBEAT_RECHECK_MS ? period : HEARTBEAT_RECHECK_MS);
		return 0;
	}
	if (loam_host_mark_unreachable(ctx->db, app_of(ctx), ctx->id, why, err) < 0)
		return -1;
	*out = loam_nap(period);
	return 0;
}

/* The heartbeat: a cheap agent command; HEARTBEAT_MISSES failures in a row
 * mark the host and its VMs, an answer restores them. Never fails itself:
 * the next beat retries. */
static int cloudify_wait(struct loam_strand_ctx *ctx, struct loam_outcome *out, loam_err *err)
{
	struct loamd_app *app = app_of(ctx);
	int period = app && app->heartbeat_ms > 0 ? app->heartbeat_ms : DEFAULT_HEARTBEAT_MS;
	if (loam_strand_take_signal(ctx, LOAM_SIGNAL_DESTROY)) {
		*out = loam_pop(json_pack("{s:s}", "state", "removed"));
		return 0;
	}
	if (loam_strand_take_signal(ctx, LOAM_SIGNAL_INSTALL)) { /* served arches changed */
		*out = loam_hop(CL_INSTALL_ARTIFACTS);
		return 0;
	}
	if (loam_strand_take_signal(ctx, LOAM_SIGNAL_UPGRADE)) { /* loam host upgrade */
		json_object_set_new(ctx->frame, CL_FRAME_UPGRADE, json_true());
		*out = loam_hop(CL_INSTALL_ARTIFACTS);
		return 0;
	}
	cleanup_host_row struct loam_host_row h = {0};
	if (load(ctx, &h, err) < 0) {
		if (loam_err_kind_of(*err) != LOAM_E_NOTFOUND)
			return -1;
		loam_err_free(err); /* the host was removed: the heartbeat ends */
		*out = loam_pop(json_pack("{s:s}", "state", "removed"));
		return 0;
	}
	cleanup_host_conn struct loam_host_conn c = {0};
	cleanup_err loam_err beat = NULL;
	int rc = connect_or_fail(ctx, &h, &c, out, &beat);
	if (rc > 0)
		return 0; /* host key changed: failed, strand ends */
	if (rc == 0) {
		struct loam_agent a = agent_of(ctx, &h, &c, QUICK_COMMAND_TIMEOUT);
		a.path = h.agent_path ? h.agent_path : "loam-host";
		char arch[16];
		rc = loam_agent_arch(&a, arch, &beat);
		if (rc < 0)
			c.broken = true;
	}
	if (rc == 0) {
		json_object_del(ctx->frame, "missed_beats");
		if (loam_host_mark_reachable(ctx->db, app, ctx->id, err) < 0)
			return -1;
		*out = loam_nap(period);
		return 0;
	}
	LOAM_METRIC_INC(LOAM_METRIC_HEARTBEAT_MISSES, h.name);
	return beat_missed(ctx, period, loam_err_msg(beat), out, err);
}

static const struct loam_label cloudify_labels[] = {
    {CL_START, cloudify_start, 0, LOAM_NEXT(CL_CONNECT)},
    {CL_CONNECT, cloudify_connect, 300, LOAM_NEXT(CL_DETECT_ARCH)},
    {CL_DETECT_ARCH, cloudify_detect_arch, 300, LOAM_NEXT(CL_UPLOAD_AGENT)},
    {CL_UPLOAD_AGENT, cloudify_upload_agent, 600, LOAM_NEXT(CL_LEARN)},
    {CL_LEARN, cloudify_learn, 600, LOAM_NEXT(CL_INSTALL_ARTIFACTS)},
    {CL_INSTALL_ARTIFACTS, cloudify_install_artifacts, 3600, LOAM_NEXT(CL_ACCEPT)},
    {CL_ACCEPT, cloudify_accept, 300, LOAM_NEXT(CL_WAIT)},
    {CL_WAIT, cloudify_wait, 0, LOAM_NEXT(CL_INSTALL_ARTIFACTS)},
    {0},
};

const struct loam_prog loam_prog_cloudify = {LOAM_PROG_CLOUDIFY, cloudify_labels, NULL, NULL};
