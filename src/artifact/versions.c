/*
 * Artifact versions per host (versions.h): JSON views of the model's
 * host_artifact rows, the pick rule for new VMs, and GC's removal.
 */
#include "artifact/versions.h"

#include <string.h>

#include "db/host_artifact.h"
#include "lib/cleanup.h"
#include "lib/json.h"
#include "transport/transport.h"

static json_t *key_json(const struct loam_host_artifact *a)
{
	return json_pack("{s:s, s:s, s:s, s:s}", "component", a->component, "name", a->name,
			 "version", a->version, "arch", a->arch);
}

struct gc_ctx {
	const char *host_id;
	json_t *entries;
};

static int gc_pick(struct loam_db *db, void *arg, loam_err *err)
{
	struct gc_ctx *ctx = arg;
	json_array_clear(ctx->entries); /* the transaction may run again */
	cleanup_host_artifacts struct loam_host_artifacts unused = {0};
	if (loam_host_artifacts_take_unused(db, ctx->host_id, &unused, err) < 0)
		return -1;
	for (size_t i = 0; i < unused.n; i++)
		json_array_append_new(ctx->entries, key_json(&unused.v[i]));
	return 0;
}

int loam_artifact_gc_host(struct loam_db *db, struct loam_transport *t, const char *host_id,
			  const char *agent_path, const char *prefix, json_t **removed,
			  loam_err *err)
{
	struct gc_ctx ctx = {.host_id = host_id, .entries = json_array()};
	cleanup_json json_t *req =
	    json_pack("{s:s, s:o}", "prefix", prefix, "entries", ctx.entries);
	if (loam_db_tx(db, gc_pick, &ctx, err) < 0)
		return -1;
	if (json_array_size(ctx.entries) > 0) {
		cleanup_free char *text = loam_json_dump(req);
		const char *argv[] = {agent_path, "uninstall", NULL};
		struct loam_spawn_result res = {0};
		int rc =
		    loam_transport_run_ok(t, argv, text, strlen(text), 10 * 60 * 1000, &res, err);
		loam_spawn_result_free(&res);
		if (rc < 0)
			return loam_err_wrap(err, "remove unused artifacts on %s",
					     loam_transport_name(t));
	}
	if (removed)
		*removed = json_incref(ctx.entries);
	return 0;
}

static json_t *host_row_json(const struct loam_host_artifact *a)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s?, s:s?, s:s?, s:o}", "component",
			 a->component, "name", a->name, "version", a->version, "arch", a->arch,
			 "kind", a->kind, "state", a->state, "path", a->path, "sha256", a->sha256,
			 "error", a->error, "installed_at",
			 a->has_installed_at ? json_integer(a->installed_at) : json_null());
}

int loam_artifact_host_json(struct loam_db *db, const char *host_id, json_t **out, loam_err *err)
{
	cleanup_host_artifacts struct loam_host_artifacts l = {0};
	if (loam_host_artifacts_of(db, host_id, &l, err) < 0)
		return -1;
	json_t *list = json_array();
	for (size_t i = 0; i < l.n; i++)
		json_array_append_new(list, host_row_json(&l.v[i]));
	*out = list;
	return 0;
}

int loam_artifact_ls_json(struct loam_db *db, json_t **out, loam_err *err)
{
	cleanup_host_artifacts struct loam_host_artifacts l = {0};
	if (loam_host_artifacts_all(db, &l, err) < 0)
		return -1;
	json_t *list = json_array();
	for (size_t i = 0; i < l.n; i++) {
		const struct loam_host_artifact *a = &l.v[i];
		json_array_append_new(list,
				      json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I}", "host",
						a->host_name, "component", a->component, "name",
						a->name, "version", a->version, "arch", a->arch,
						"state", a->state, "vms", (json_int_t)a->vms));
	}
	*out = list;
	return 0;
}

int loam_artifact_pick_for_vm(struct loam_db *db, const char *host_id, const char *arch,
			      const char *component, char **name, char **version, loam_err *err)
{
	return loam_host_artifact_newest(db, host_id, arch, component, name, version, err);
}
