/*
 * The control-plane side of installing artifacts on a host (cloudify's
 * install step, host upgrade): picks the manifest entries for the arches the
 * host serves, records a host_artifact row per entry (installing ->
 * installed | failed | unavailable), runs `loam-host install` there with the
 * request on stdin, and records what the agent reports. Every step is
 * idempotent: running it again after a crash resumes (the agent reports
 * finished entries as "already" and cleans up half-downloaded ones).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "artifact/host_install.h"
#include "db/host_artifact.h"
#include "lib/cleanup.h"
#include "lib/json.h"
#include "lib/xalloc.h"

#define INSTALL_TIMEOUT_MS (60 * 60 * 1000)

static bool arch_wanted(const char *arch, const char *const *arches)
{
	for (; arches && *arches; arches++)
		if (strcmp(*arches, arch) == 0)
			return true;
	return false;
}

static json_t *request_entry(const struct loam_artifact_entry *e, const char *base_url)
{
	json_t *j =
	    json_pack("{s:s, s:s, s:s, s:s, s:s}", "component",
		      loam_artifact_component_name(e->component), "name", e->name, "version",
		      e->version, "arch", e->arch, "kind", loam_artifact_kind_name(e->kind));
	if (e->kind == LOAM_ARTIFACT_DEBIAN_PACKAGE) {
		json_object_set_new(j, "package", json_string(e->package));
		json_object_set_new(j, "package_version", json_string(e->package_version));
		return j;
	}
	cleanup_free char *url = e->url ? xstrdup(e->url) : xasprintf("%s/%s", base_url, e->path);
	json_object_set_new(j, "url", json_string(url));
	json_object_set_new(j, "sha256", json_string(e->sha256));
	json_object_set_new(j, "size", json_integer((json_int_t)e->size));
	return j;
}

/* Marks the entry 'installing' unless it is installed already. */
static int mark_installing(struct loam_db *db, const char *host_id,
			   const struct loam_artifact_entry *e, loam_err *err)
{
	struct loam_artifact_key k = {loam_artifact_component_name(e->component), e->name,
				      e->version, e->arch};
	bool package = e->kind == LOAM_ARTIFACT_DEBIAN_PACKAGE;
	return loam_host_artifact_mark_installing(db, host_id, &k, loam_artifact_kind_name(e->kind),
						  package ? NULL : e->sha256, err);
}

static int record_result(struct loam_db *db, const char *host_id, const json_t *r, loam_err *err)
{
	const char *state = json_string_value(json_object_get(r, "state"));
	bool ok = state && (strcmp(state, "installed") == 0 || strcmp(state, "already") == 0);
	const char *db_state = ok					    ? "installed"
			       : state && strcmp(state, "unavailable") == 0 ? "unavailable"
									    : "failed";
	struct loam_artifact_key k = {json_string_value(json_object_get(r, "component")),
				      json_string_value(json_object_get(r, "name")),
				      json_string_value(json_object_get(r, "version")),
				      json_string_value(json_object_get(r, "arch"))};
	return loam_host_artifact_record(db, host_id, &k, db_state,
					 json_string_value(json_object_get(r, "path")),
					 json_string_value(json_object_get(r, "error")), err);
}

/* The agent did not answer with results: every entry still installing failed. */
static void fail_pending(struct loam_db *db, const char *host_id, const char *why)
{
	cleanup_err loam_err ignored = NULL;
	loam_host_artifact_fail_pending(db, host_id, why, &ignored);
}

static int run_agent(struct loam_transport *t, const char *agent_path, const char *request,
		     json_t **results, loam_err *err)
{
	const char *argv[] = {agent_path, "install", NULL};
	struct loam_spawn_result res = {0};
	if (loam_transport_run(t, argv, request, strlen(request), INSTALL_TIMEOUT_MS, &res, err) <
	    0)
		return -1;
	int rc = 0;
	json_t *out = res.exit_status <= 1 && !res.signaled && !res.timed_out
			  ? json_loads(res.out, 0, NULL)
			  : NULL;
	if (!json_is_array(json_object_get(out, "results"))) {
		rc = loam_fail(err, LOAM_E_IO, "loam-host install on %s failed (status %d): %.300s",
			       loam_transport_name(t), res.exit_status, res.err ? res.err : "");
		json_decref(out);
	} else {
		*results = out;
	}
	loam_spawn_result_free(&res);
	return rc;
}

int loam_artifact_install_request(struct loam_db *db, const char *host_id,
				  const struct loam_artifact_manifest *m, const char *const *arches,
				  const char *base_url, const char *prefix, char **request,
				  loam_err *err)
{
	cleanup_json json_t *req = json_pack("{s:s, s:[]}", "prefix", prefix, "entries");
	json_t *list = json_object_get(req, "entries");
	for (size_t i = 0; i < m->count; i++) {
		const struct loam_artifact_entry *e = &m->entries[i];
		if (!arch_wanted(e->arch, arches))
			continue;
		if (mark_installing(db, host_id, e, err) < 0)
			return -1;
		json_array_append_new(list, request_entry(e, base_url));
	}
	*request = loam_json_dump(req);
	return 0;
}

int loam_artifact_install_record(struct loam_db *db, const char *host_id, const char *host_name,
				 const char *agent_out, const char *why, loam_err *err)
{
	cleanup_json json_t *out = agent_out ? json_loads(agent_out, 0, NULL) : NULL;
	if (!json_is_array(json_object_get(out, "results"))) {
		loam_fail(err, LOAM_E_IO, "loam-host install on %s failed: %.300s", host_name,
			  why ? why : "it printed no results");
		fail_pending(db, host_id, loam_err_msg(*err));
		return -1;
	}
	const char *first_error = NULL;
	const json_t *results = json_object_get(out, "results"), *r;
	size_t i;
	json_array_foreach(results, i, r)
	{
		if (record_result(db, host_id, r, err) < 0)
			return -1;
		const char *state = json_string_value(json_object_get(r, "state"));
		if (!first_error && state && strcmp(state, "failed") == 0)
			first_error = json_string_value(json_object_get(r, "error"));
	}
	fail_pending(db, host_id, "the agent did not report this entry");
	if (first_error)
		return loam_fail(err, LOAM_E_IO, "install on %s: %s", host_name, first_error);
	return 0;
}

int loam_artifact_install_on_host(struct loam_db *db, struct loam_transport *t, const char *host_id,
				  const char *agent_path, const struct loam_artifact_manifest *m,
				  const char *const *arches, const char *base_url,
				  const char *prefix, loam_err *err)
{
	cleanup_free char *request = NULL;
	if (loam_artifact_install_request(db, host_id, m, arches, base_url, prefix, &request, err) <
	    0)
		return -1;
	cleanup_json json_t *out = NULL;
	if (run_agent(t, agent_path, request, &out, err) < 0) {
		fail_pending(db, host_id, loam_err_msg(*err));
		return -1;
	}
	cleanup_free char *text = loam_json_dump(out);
	return loam_artifact_install_record(db, host_id, loam_transport_name(t), text, NULL, err);
}

int loam_artifact_host_selection(const struct loam_arch *own, const char *const *emulated,
				 const char **out, size_t max)
{
	size_t n = 0;
	if (n < max)
		out[n++] = own->name;
	for (; emulated && *emulated && n + 1 < max; emulated++)
		if (strcmp(*emulated, own->name) != 0)
			out[n++] = *emulated;
	if (n < max)
		out[n] = NULL;
	return (int)n;
}
