/*
 * The cloudify prog: turns a host row into an accepting host, then keeps a
 * heartbeat on it. The API creates the host row and this strand together,
 * with strand id = host id, so a host never gets a second row. Every label
 * is idempotent (it may re-run after a crash):
 *
 *   start → connect → detect_arch → upload_agent → learn →
 *   install_artifacts → accept → wait (↺ heartbeat)
 *
 * A changed host key sends the host to 'failed' and ends the strand before
 * anything runs there.
 */
#include <string.h>

#include "arch/arch.h"
#include "artifact/host_install.h"
#include "artifact/upgrade.h"
#include "lib/cleanup.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/sha256.h"
#include "lib/valid.h"
#include "progs/hostops.h"
#include "progs/images.h"

#define DEFAULT_HEARTBEAT_MS 30000
/* One lost beat (a dropped connection, a busy host) is checked again soon;
 * only this many in a row mark the host unreachable. */
#define HEARTBEAT_MISSES	2
#define HEARTBEAT_RECHECK_MS	2000
#define DEFAULT_COMMAND_TIMEOUT 300000
#define QUICK_COMMAND_TIMEOUT	30000
#define AGENT_DIR_PREFIX_LEN	16

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
	cleanup_free char *reason = NULL;
	if (asprintf(&reason, "host key changed or refused: %s", loam_err_msg(*err)) < 0)
		abort();
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
	*out = loam_hop("connect");
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
	*out = loam_hop("detect_arch");
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
		rc = arch ? loam_db_exec(ctx->db,
					 "UPDATE host SET arch = ?, generation = generation + 1 "
					 "WHERE id = ?",
					 DB_ARGS(DB_TEXT(arch->name), DB_TEXT(ctx->id)), NULL, err)
			  : -1;
		if (arch)
			log_info("host %s: arch %s (uname -m: %s)", h.name, arch->name, res.out);
	}
	loam_spawn_result_free(&res);
	if (rc < 0)
		return loam_err_wrap(err, "detect arch of %s", h.name);
	*out = loam_hop("upload_agent");
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
	cleanup_free char *local = NULL, *dir = NULL, *remote = NULL;
	char sha[LOAM_SHA256_HEX_LEN + 1];
	if (asprintf(&local, "%s/loam-host-%s", dist, h.arch) < 0)
		abort();
	if (loam_sha256_file(local, sha, NULL, err) < 0)
		return loam_err_wrap(err, "agent for %s (build it with: make)", h.arch);
	if (asprintf(&dir, "%s/agent/%.*s", h.state_dir, AGENT_DIR_PREFIX_LEN, sha) < 0 ||
	    asprintf(&remote, "%s/loam-host", dir) < 0)
		abort();
	int rc = connect_or_fail(ctx, &h, &c, out, err);
	if (rc != 0)
		return rc < 0 ? -1 : 0;
	if (upload_verified(&c, local, dir, remote, sha, err) < 0)
		return loam_err_wrap(err, "upload agent to %s", h.name);
	if (loam_db_exec(ctx->db, "UPDATE host SET agent_path = ?, agent_sha256 = ? WHERE id = ?",
			 DB_ARGS(DB_TEXT(remote), DB_TEXT(sha), DB_TEXT(ctx->id)), NULL, err) < 0)
		return -1;
	*out = loam_hop("learn");
	return 0;
}

static int64_t fact_int(const json_t *facts, const char *key)
{
	json_t *v = json_object_get(facts, key);
	return json_is_integer(v) ? json_integer_value(v) : 0;
}

static const char *fact_str(const json_t *facts, const char *key)
{
	return json_string_value(json_object_get(facts, key));
}

static struct loam_db_val text_or_null(const char *s)
{
	return s ? DB_TEXT(s) : DB_NULL;
}

static int store_facts(struct loam_strand_ctx *ctx, const struct loam_host_row *h,
		       const json_t *facts, const char *raw, loam_err *err)
{
	const char *arch = fact_str(facts, "arch");
	if (!arch || !h->arch || strcmp(arch, h->arch) != 0)
		return loam_fail(err, LOAM_E_IO, "learn reports arch '%s' but uname said '%s'",
				 arch ? arch : "(none)", h->arch ? h->arch : "(none)");
	bool kvm = json_is_true(json_object_get(facts, "kvm"));
	const char *accel = kvm ? "kvm" : h->allow_tcg ? "tcg" : "none";
	return loam_db_exec(
	    ctx->db,
	    "UPDATE host SET cpus = ?, total_cores = ?, sockets = ?, dies = ?, "
	    "threads_per_core = ?, numa_nodes = ?, total_mem_gib = ?, total_hugepages_1g = ?, "
	    "total_storage_gib = ?, available_storage_gib = ?, kvm = ?, cpu_model = ?, os = ?, "
	    "kernel = ?, facts = ?, accel = ?, generation = generation + 1 WHERE id = ?",
	    DB_ARGS(DB_INT(fact_int(facts, "cpus")), DB_INT(fact_int(facts, "cores")),
		    DB_INT(fact_int(facts, "sockets")), DB_INT(fact_int(facts, "dies")),
		    DB_INT(fact_int(facts, "threads_per_core") > 0
			       ? fact_int(facts, "threads_per_core")
			       : 1),
		    DB_INT(fact_int(facts, "numa_nodes")), DB_INT(fact_int(facts, "memory_gib")),
		    DB_INT(fact_int(facts, "hugepages_1g_total")),
		    DB_INT(fact_int(facts, "storage_total_gib")),
		    DB_INT(fact_int(facts, "storage_available_gib")), DB_INT(kvm),
		    text_or_null(fact_str(facts, "cpu_model")), text_or_null(fact_str(facts, "os")),
		    text_or_null(fact_str(facts, "kernel")), DB_TEXT(raw), DB_TEXT(accel),
		    DB_TEXT(ctx->id)),
	    NULL, err);
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
	const char *const argv[] = {h.agent_path, "learn", "--storage-dir", h.state_dir, NULL};
	struct loam_spawn_result res = {0};
	rc = loam_host_run(&c, argv, command_timeout(ctx), &res, err);
	json_t *facts = rc == 0 ? loam_json_parse(res.out, res.out_len, "learn output", err) : NULL;
	if (facts && !json_is_object(facts))
		loam_fail(err, LOAM_E_IO, "learn output is not a JSON object");
	rc = json_is_object(facts) ? store_facts(ctx, &h, facts, res.out, err) : -1;
	json_decref(facts);
	loam_spawn_result_free(&res);
	if (rc < 0)
		return loam_err_wrap(err, "learn facts of %s", h.name);
	*out = loam_hop("install_artifacts");
	return 0;
}

/* The host's own arch, then the arches it is opted in to emulate. */
static int served_arches(struct loam_db *db, const struct loam_host_row *h,
			 struct loam_db_rows **rows, const char **out, size_t max, loam_err *err)
{
	if (loam_db_query(db, "SELECT arch FROM host_emulation WHERE host_id = ? ORDER BY arch",
			  DB_ARGS(DB_TEXT(h->id)), rows, err) < 0)
		return -1;
	const char *emulated[8] = {0};
	for (size_t i = 0; i < loam_db_rows_count(*rows) && i + 1 < 8; i++)
		emulated[i] = loam_db_rows_text(*rows, i, 0);
	const struct loam_arch *own = loam_arch_by_name(h->arch);
	if (!own)
		return loam_fail(err, LOAM_E_INTERNAL, "host %s has no arch yet", h->name);
	loam_artifact_host_selection(own, emulated, out, max);
	return 0;
}

/*
 * Installs the store's artifacts for every arch the host serves (its own and
 * the emulated ones) under the install prefix, records them (host_artifact)
 * and refreshes the allocator's image index. Re-run by `host set --emulate`
 * (signal "install"); already installed entries are skipped by the agent.
 */
static int cloudify_install_artifacts(struct loam_strand_ctx *ctx, struct loam_outcome *out,
				      loam_err *err)
{
	struct loamd_app *app = app_of(ctx);
	if (!app || !app->manifest || !app->artifact_base_url) {
		log_warn("host %s: no artifact store in this loamd; nothing installed", ctx->id);
		*out = loam_hop("accept");
		return 0;
	}
	cleanup_host_row struct loam_host_row h = {0};
	cleanup_host_conn struct loam_host_conn c = {0};
	cleanup_rows struct loam_db_rows *emu = NULL;
	const char *arches[9] = {0};
	if (load(ctx, &h, err) < 0 || served_arches(ctx->db, &h, &emu, arches, 9, err) < 0)
		return -1;
	int rc = connect_or_fail(ctx, &h, &c, out, err);
	if (rc != 0)
		return rc < 0 ? -1 : 0;
	cleanup_free char *prefix = NULL;
	if (app->artifact_prefix ? asprintf(&prefix, "%s", app->artifact_prefix) < 0
				 : asprintf(&prefix, "%s/artifacts", h.state_dir) < 0)
		abort();
	/* A store may list several versions of a component (upgrades append
	 * theirs); a new host gets the newest of each, older ones only through
	 * `loam host upgrade`. */
	struct loam_artifact_manifest newest = {0};
	if (loam_artifact_upgrade_select(app->manifest, arches, NULL, NULL, &newest, err) < 0)
		return loam_err_wrap(err, "install artifacts on %s", h.name);
	int installed = loam_artifact_install_on_host(ctx->db, c.t, h.id, h.agent_path, &newest,
						      arches, app->artifact_base_url, prefix, err);
	free(newest.entries);
	if (installed < 0)
		return loam_err_wrap(err, "install artifacts on %s", h.name);
	if (app->images && loam_image_index_reload(app->images, ctx->db, err) < 0)
		return -1;
	loam_host_changed(app, ctx->id);
	log_info("host %s: artifacts installed for %s%s%s", h.name, arches[0],
		 arches[1] ? " and " : "", arches[1] ? arches[1] : "");
	*out = loam_hop("accept");
	return 0;
}

static int cloudify_accept(struct loam_strand_ctx *ctx, struct loam_outcome *out, loam_err *err)
{
	/* Only a fresh host is opened for VMs: an operator's 'draining' stays. */
	if (loam_db_exec(ctx->db,
			 "UPDATE host SET allocation_state = 'accepting', state_reason = NULL, "
			 "last_seen_at = ?, generation = generation + 1 WHERE id = ? AND "
			 "allocation_state = 'unprepared'",
			 DB_ARGS(DB_INT(loam_db_now_ms()), DB_TEXT(ctx->id)), NULL, err) < 0)
		return -1;
	loam_host_changed(app_of(ctx), ctx->id);
	log_info("host %s accepting", ctx->id);
	*out = loam_hop("wait");
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
	if (loam_strand_take_signal(ctx, "destroy")) {
		*out = loam_pop(json_pack("{s:s}", "state", "removed"));
		return 0;
	}
	if (loam_strand_take_signal(ctx, "install")) { /* served arches changed */
		*out = loam_hop("install_artifacts");
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
		const char *const argv[] = {h.agent_path ? h.agent_path : "loam-host", "arch",
					    NULL};
		struct loam_spawn_result res = {0};
		rc = loam_host_run(&c, argv, QUICK_COMMAND_TIMEOUT, &res, &beat);
		loam_spawn_result_free(&res);
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
	return beat_missed(ctx, period, loam_err_msg(beat), out, err);
}

static const struct loam_label cloudify_labels[] = {
    {"start", cloudify_start, 0},
    {"connect", cloudify_connect, 300},
    {"detect_arch", cloudify_detect_arch, 300},
    {"upload_agent", cloudify_upload_agent, 600},
    {"learn", cloudify_learn, 600},
    {"install_artifacts", cloudify_install_artifacts, 3600},
    {"accept", cloudify_accept, 300},
    {"wait", cloudify_wait, 0},
    {0},
};

const struct loam_prog loam_prog_cloudify = {LOAM_PROG_CLOUDIFY, cloudify_labels};
