/*
 * Artifact versions per host (versions.h): JSON views of the model's
 * host_artifact rows, and GC's removal, files first and rows last.
 */
#include "artifact/versions.h"

#include <string.h>

#include "db/host_artifact.h"
#include "lib/cleanup.h"
#include "lib/fault.h"
#include "lib/json.h"
#include "proto/agent.h"
#include "transport/transport.h"

static json_t *key_json(const struct loam_host_artifact *a)
{
	return json_pack("{s:s, s:s, s:s, s:s}", LOAM_KEY_COMPONENT, a->component, LOAM_KEY_NAME,
			 a->name, LOAM_KEY_VERSION, a->version, LOAM_KEY_ARCH, a->arch);
}

struct gc_ctx {
	const char *host_id;
	struct loam_host_artifacts marked;
};

static int gc_mark(struct loam_db *db, void *arg, loam_err *err)
{
	struct gc_ctx *ctx = arg;
	loam_host_artifacts_free(&ctx->marked); /* the transaction may run again */
	return loam_host_artifacts_mark_removing(db, ctx->host_id, &ctx->marked, err);
}

static int uninstall(struct loam_transport *t, const char *agent_path, const char *prefix,
		     const json_t *entries, loam_err *err)
{
	cleanup_json json_t *req =
	    json_pack("{s:s, s:O}", LOAM_KEY_PREFIX, prefix, LOAM_KEY_ENTRIES, entries);
	cleanup_free char *text = loam_json_dump(req);
	const char *argv[] = {agent_path, LOAM_VERB_UNINSTALL, NULL};
	struct loam_spawn_result res = {0};
	int rc = loam_transport_run_ok(t, argv, text, strlen(text), 10 * 60 * 1000, &res, err);
	loam_spawn_result_free(&res);
	return rc < 0 ? loam_err_wrap(err, "remove unused artifacts on %s", loam_transport_name(t))
		      : 0;
}

int loam_artifact_gc_host(struct loam_db *db, struct loam_transport *t, const char *host_id,
			  const char *agent_path, const char *prefix, json_t **removed,
			  loam_err *err)
{
	struct gc_ctx ctx = {.host_id = host_id};
	cleanup_json json_t *entries = json_array();
	int rc = loam_db_tx(db, gc_mark, &ctx, err);
	for (size_t i = 0; rc == 0 && i < ctx.marked.n; i++)
		json_array_append_new(entries, key_json(&ctx.marked.v[i]));
	if (rc == 0 && json_array_size(entries) > 0)
		rc = uninstall(t, agent_path, prefix, entries, err);
	loam_fault_point("gc-after-uninstall");
	for (size_t i = 0; rc == 0 && i < ctx.marked.n; i++) {
		const struct loam_host_artifact *a = &ctx.marked.v[i];
		struct loam_artifact_key k = {a->component, a->name, a->version, a->arch};
		rc = loam_host_artifact_forget(db, host_id, &k, err);
	}
	loam_host_artifacts_free(&ctx.marked);
	if (rc == 0 && removed)
		*removed = json_incref(entries);
	return rc;
}

/* "name" keys of what a row lists, from links (sorted like the rows). */
static json_t *listed(const struct loam_artifact_links *l, const struct loam_host_artifact *a,
		      bool pairs)
{
	json_t *list = json_array();
	for (size_t i = 0; i < l->n; i++) {
		const struct loam_artifact_link *k = &l->v[i];
		if (strcmp(k->host_id, a->host_id) != 0 ||
		    strcmp(k->component, a->component) != 0 || strcmp(k->name, a->name) != 0 ||
		    strcmp(k->version, a->version) != 0 || strcmp(k->arch, a->arch) != 0)
			continue;
		json_array_append_new(list, pairs ? json_pack("{s:s, s:s}", LOAM_KEY_NAME, k->value,
							      LOAM_KEY_VERSION, k->value2)
						  : json_string(k->value));
	}
	return list;
}

/* The row with what it lists: guest_arches (bundles) and firmware (VMMs). */
static json_t *row_json(const struct loam_host_artifact *a, const struct loam_artifact_links *ga,
			const struct loam_artifact_links *fw)
{
	json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s?, s:s?, s:s?, s:o, s:I, s:I}",
			      "component", a->component, "name", a->name, "version", a->version,
			      "arch", a->arch, "kind", a->kind, "state", a->state, "path", a->path,
			      "sha256", a->sha256, "error", a->error, "installed_at",
			      a->has_installed_at ? json_integer(a->installed_at) : json_null(),
			      "weight", (json_int_t)a->weight, "vms", (json_int_t)a->vms);
	json_t *guests = listed(ga, a, false), *tested = listed(fw, a, true);
	json_object_set_new(j, "guest_arches", json_array_size(guests) ? guests : json_null());
	json_object_set_new(j, "firmware", json_array_size(tested) ? tested : json_null());
	if (!json_array_size(guests))
		json_decref(guests);
	if (!json_array_size(tested))
		json_decref(tested);
	return j;
}

static int rows_json(struct loam_db *db, const char *host_id, const struct loam_host_artifacts *l,
		     json_t **out, loam_err *err)
{
	cleanup_artifact_links struct loam_artifact_links ga = {0}, fw = {0};
	if (loam_host_artifact_guest_arches(db, host_id, &ga, err) < 0 ||
	    loam_host_artifact_firmware_lists(db, host_id, &fw, err) < 0)
		return -1;
	json_t *list = json_array();
	for (size_t i = 0; i < l->n; i++) {
		json_t *row = json_object(), *fields = row_json(&l->v[i], &ga, &fw);
		if (l->v[i].host_name) /* the fleet's listing: host first */
			json_object_set_new(row, "host", json_string(l->v[i].host_name));
		json_object_update(row, fields);
		json_decref(fields);
		json_array_append_new(list, row);
	}
	*out = list;
	return 0;
}

int loam_artifact_host_json(struct loam_db *db, const char *host_id, json_t **out, loam_err *err)
{
	cleanup_host_artifacts struct loam_host_artifacts l = {0};
	return loam_host_artifacts_of(db, host_id, &l, err) < 0
		   ? -1
		   : rows_json(db, host_id, &l, out, err);
}

int loam_artifact_ls_json(struct loam_db *db, json_t **out, loam_err *err)
{
	cleanup_host_artifacts struct loam_host_artifacts l = {0};
	return loam_host_artifacts_all(db, &l, err) < 0 ? -1 : rows_json(db, NULL, &l, out, err);
}
