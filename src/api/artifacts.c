/*
 * /v1/artifacts (issue 5 item 6, issue 14 item 4): the installed versions
 * per host with their weights and how many VMs pin each, weights (drain:
 * no new VM takes a version), and GC (removes versions no VM uses, never
 * the newest, and says why each other one stays). GC runs the agent's
 * uninstall within the request, over a transport opened for it with the
 * host's pinned key, like cloudify does. `host upgrade` and `vm upgrade`
 * are upgrade.c. See docs/api.md and docs/artifacts.md.
 */
#include "api/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/cleanup.h"
#include "lib/json.h"
#include "lib/valid.h"
#include "lib/xalloc.h"

#include "artifact/upgrade.h"
#include "artifact/versions.h"
#include "db/host_artifact.h"
#include "transport/transport.h"

/* A host that has an agent, with its transport open. */
struct agent_host {
	struct loam_host row;
	struct loam_transport *t;
	char *prefix; /* where artifacts go there: STATE_DIR/artifacts, as cloudify */
};

static void agent_host_close(struct agent_host *h)
{
	if (h->t)
		loam_transport_close(h->t);
	loam_host_free(&h->row);
	free(h->prefix);
	*h = (struct agent_host){0};
}

static int load_host(struct loam_db *db, const char *name, struct agent_host *h, loam_err *err)
{
	int found = loam_host_get_by_name(db, name, &h->row, err);
	if (found <= 0)
		return found < 0 ? -1
				 : loam_fail(err, LOAM_E_NOTFOUND,
					     "no host named %s; see loam host ls", name);
	h->prefix = xasprintf("%s/artifacts", h->row.state_dir);
	return 0;
}

/* Fails (conflict) unless cloudify has put the agent there. */
static int check_prepared(const struct agent_host *h, loam_err *err)
{
	const struct loam_host *row = &h->row;
	if (row->state == LOAM_HOST_FAILED)
		return loam_fail(err, LOAM_E_CONFLICT, "host %s has failed; see loam host show %s",
				 row->name, row->name);
	if (!row->agent_path || !row->arch ||
	    (strcmp(row->transport, "ssh") == 0 && !row->host_key))
		return loam_fail(err, LOAM_E_CONFLICT,
				 "host %s is not prepared yet (no agent); wait until loam host "
				 "show %s says accepting",
				 row->name, row->name);
	return 0;
}

static int open_transport(struct agent_host *h, loam_err *err)
{
	return api_host_transport(&h->row, &h->t, err);
}

/* ---- GET /v1/artifacts ---- */

/* "host/component/name/version/arch": the key pages of the listing take. */
static char *artifact_key(const json_t *a)
{
	const char *k[5] = {"host", "component", "name", "version", "arch"};
	const char *v[5];
	for (size_t i = 0; i < 5; i++) {
		v[i] = json_string_value(json_object_get(a, k[i]));
		v[i] = v[i] ? v[i] : "";
	}
	return xasprintf("%s/%s/%s/%s/%s", v[0], v[1], v[2], v[3], v[4]);
}

int api_artifacts_list(struct api_req *r, loam_err *err)
{
	if (loam_artifact_ls_json(r->db, &r->out, err) < 0)
		return -1;
	api_page_array(r, r->out, artifact_key);
	return 0;
}

/* ---- POST /v1/artifacts/gc ---- */

/* Plan entries that GC was to remove but did not (a VM took one meanwhile)
 * move to keep. */
static void settle_plan(json_t *plan, const json_t *removed)
{
	json_t *keep = json_object_get(plan, "keep"), *e;
	size_t i, k;
	json_array_foreach(json_object_get(plan, "remove"), i, e)
	{
		bool gone = false;
		const json_t *g;
		json_array_foreach(removed, k, g)
		{
			gone |=
			    json_equal(json_object_get(e, "version"),
				       json_object_get(g, "version")) &&
			    json_equal(json_object_get(e, "component"),
				       json_object_get(g, "component")) &&
			    json_equal(json_object_get(e, "name"), json_object_get(g, "name")) &&
			    json_equal(json_object_get(e, "arch"), json_object_get(g, "arch"));
		}
		if (!gone) {
			json_object_set_new(e, "reason", json_string("a VM started using it"));
			json_array_append(keep, e);
			json_array_remove(json_object_get(plan, "remove"), i--);
		}
	}
}

static int gc_one_host(struct api_req *r, const char *name, bool dry_run, json_t **out,
		       loam_err *err)
{
	struct agent_host h = {0};
	json_t *plan = NULL;
	int rc = load_host(r->db, name, &h, err);
	if (rc == 0)
		rc = loam_artifact_gc_plan(r->db, h.row.id, &plan, err);
	if (rc == 0 && !dry_run && json_array_size(json_object_get(plan, "remove")) > 0) {
		json_t *removed = NULL;
		rc = check_prepared(&h, err) < 0 || open_transport(&h, err) < 0 ||
			     loam_artifact_gc_host(r->db, h.t, h.row.id, h.row.agent_path, h.prefix,
						   &removed, err) < 0
			 ? -1
			 : 0;
		if (rc == 0)
			settle_plan(plan, removed);
		json_decref(removed);
	}
	agent_host_close(&h);
	if (rc < 0) {
		json_decref(plan);
		return loam_err_wrap(err, "gc on host %s", name);
	}
	*out = json_pack("{s:s, s:o, s:o}", "host", name, "removed",
			 json_incref(json_object_get(plan, "remove")), "kept",
			 json_incref(json_object_get(plan, "keep")));
	json_decref(plan);
	return 0;
}

static int gc_fields(struct api_req *r, const char **host, bool *dry_run, loam_err *err)
{
	static const char *const allowed[] = {"host", "dry_run", NULL};
	if (api_body_check(r, allowed, true, err) < 0 ||
	    api_body_str(r, "host", LOAM_NAME_MAX, host, err) < 0)
		return -1;
	json_t *d = json_object_get(r->body, "dry_run");
	if (d && !json_is_boolean(d))
		return loam_fail(err, LOAM_E_INVALID, "field 'dry_run' must be true or false");
	*dry_run = json_is_true(d);
	return 0;
}

/* The named host, or every host that has artifacts. */
static int gc_hosts(struct loam_db *db, const char *only, char ***names, size_t *n, loam_err *err)
{
	if (!only)
		return loam_host_artifact_hosts(db, names, n, err);
	cleanup_host struct loam_host h = {0};
	int found = loam_host_get_by_name(db, only, &h, err);
	if (found <= 0)
		return found < 0 ? -1
				 : loam_fail(err, LOAM_E_NOTFOUND,
					     "no host named %s; see loam host ls", only);
	*names = xcalloc(2, sizeof(**names));
	(*names)[0] = xstrdup(only);
	*n = 1;
	return 0;
}

int api_artifacts_gc(struct api_req *r, loam_err *err)
{
	const char *only = NULL;
	bool dry_run = false;
	cleanup_strv char **hosts = NULL;
	size_t nhosts = 0;
	if (gc_fields(r, &only, &dry_run, err) < 0 ||
	    gc_hosts(r->db, only, &hosts, &nhosts, err) < 0)
		return -1;
	json_t *list = json_array();
	size_t failed = 0;
	for (size_t i = 0; i < nhosts; i++) {
		json_t *one = NULL;
		cleanup_err loam_err host_err = NULL;
		if (gc_one_host(r, hosts[i], dry_run, &one, &host_err) < 0) {
			failed++;
			one = json_pack("{s:s, s:[], s:[], s:s}", "host", hosts[i], "removed",
					"kept", "error", loam_err_msg(host_err));
		}
		json_array_append_new(list, one);
	}
	r->out = json_pack("{s:b, s:o, s:I}", "dry_run", dry_run, "hosts", list, "failed",
			   (json_int_t)failed);
	return 0;
}

/* ---- POST /v1/artifacts/weight ---- */

struct weight_req {
	const char *host, *component, *name, *version, *arch;
	int64_t weight, changed;
};

static int weight_fields(struct api_req *r, struct weight_req *w, loam_err *err)
{
	static const char *const allowed[] = {"host", "component", "name", "version",
					      "arch", "weight",	   NULL};
	if (api_body_check(r, allowed, false, err) < 0 ||
	    api_body_str(r, "host", LOAM_NAME_MAX, &w->host, err) < 0 ||
	    api_body_str(r, "component", 32, &w->component, err) < 0 ||
	    api_body_str(r, "name", 128, &w->name, err) < 0 ||
	    api_body_str(r, "version", 128, &w->version, err) < 0 ||
	    api_body_str(r, "arch", 32, &w->arch, err) < 0)
		return -1;
	const json_t *weight = json_object_get(r->body, "weight");
	if (!w->host || !w->component || !w->version)
		return loam_fail(err, LOAM_E_INVALID,
				 "fields 'host', 'component' and 'version' "
				 "are required");
	if (!json_is_integer(weight) || json_integer_value(weight) < 0 ||
	    json_integer_value(weight) > LOAM_ARTIFACT_WEIGHT_MAX)
		return loam_fail(err, LOAM_E_INVALID,
				 "field 'weight' must be an integer 0..%d (0: drained)",
				 LOAM_ARTIFACT_WEIGHT_MAX);
	w->weight = json_integer_value(weight);
	enum loam_artifact_component c;
	if (loam_artifact_component_parse(w->component, &c) < 0)
		return loam_fail(err, LOAM_E_INVALID,
				 "unknown component '%.32s'; use vmm, firmware, image or storage",
				 w->component);
	return 0;
}

static int weight_tx(struct loam_db *db, void *ctx, loam_err *err)
{
	struct weight_req *w = ctx;
	cleanup_host struct loam_host h = {0};
	int found = loam_host_get_by_name(db, w->host, &h, err);
	if (found <= 0)
		return found < 0 ? -1 : api_host_not_found(w->host, err);
	if (loam_host_artifact_set_weight(db, h.id, w->component, w->name, w->version, w->arch,
					  w->weight, &w->changed, err) < 0)
		return -1;
	if (w->changed == 0)
		return loam_fail(err, LOAM_E_NOTFOUND,
				 "host %s has no %s version %s%s%s%s%s; see: loam artifact ls",
				 w->host, w->component, w->version, w->name ? " named " : "",
				 w->name ? w->name : "", w->arch ? " for " : "",
				 w->arch ? w->arch : "");
	return 0;
}

int api_artifacts_weight(struct api_req *r, loam_err *err)
{
	struct weight_req w = {0};
	if (weight_fields(r, &w, err) < 0 || loam_db_tx(r->db, weight_tx, &w, err) < 0)
		return -1;
	r->out = json_pack("{s:s, s:s, s:s, s:I, s:I}", "host", w.host, "component", w.component,
			   "version", w.version, "weight", (json_int_t)w.weight, "changed",
			   (json_int_t)w.changed);
	return 0;
}
