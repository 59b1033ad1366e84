/*
 * The control-plane side of installing artifacts on a host (cloudify's
 * install step, which host upgrade drives too): picks the manifest entries
 * for the host (guest-arch artifacts of the arches it serves, bundles of
 * its own arch), records a host_artifact row per entry (installing ->
 * installed | failed | unavailable) with what a bundle serves and what a
 * VMM was tested with, builds the request for `loam-host install`, and
 * records what the agent reports. Every step is idempotent: running it
 * again after a crash resumes (the agent reports finished entries as
 * "already" and cleans up half-downloaded ones).
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
#include "proto/agent.h"

#define INSTALL_TIMEOUT_MS (60 * 60 * 1000)

static json_t *strings_json(const char *const *list)
{
	json_t *a = json_array();
	for (; list && *list; list++)
		json_array_append_new(a, json_string(*list));
	return a;
}

static json_t *request_entry(const struct loam_artifact_entry *e, const char *base_url)
{
	cleanup_free char *url = e->url ? xstrdup(e->url) : xasprintf("%s/%s", base_url, e->path);
	json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I}", LOAM_KEY_COMPONENT,
			      loam_artifact_component_name(e->component), LOAM_KEY_NAME, e->name,
			      LOAM_KEY_VERSION, e->version, LOAM_KEY_ARCH, e->arch, LOAM_KEY_KIND,
			      loam_artifact_kind_name(e->kind), LOAM_KEY_URL, url, LOAM_KEY_SHA256,
			      e->sha256, LOAM_KEY_SIZE, (json_int_t)e->size);
	if (e->depends)
		json_object_set_new(j, LOAM_KEY_DEPENDS,
				    strings_json((const char *const *)e->depends));
	return j;
}

static struct loam_artifact_key key_of(const json_t *j)
{
	return (struct loam_artifact_key){json_string_value(json_object_get(j, LOAM_KEY_COMPONENT)),
					  json_string_value(json_object_get(j, LOAM_KEY_NAME)),
					  json_string_value(json_object_get(j, LOAM_KEY_VERSION)),
					  json_string_value(json_object_get(j, LOAM_KEY_ARCH))};
}

/* Marks the entry 'installing' (unless installed already, or being removed
 * by GC) with what it serves and was tested with; *state gets the row's
 * state then (the caller frees). */
static int mark_installing(struct loam_db *db, const char *host_id,
			   const struct loam_artifact_entry *e, char **state, loam_err *err)
{
	struct loam_artifact_key k = {loam_artifact_component_name(e->component), e->name,
				      e->version, e->arch};
	cleanup_free const char **names = xcalloc(e->nfirmware + 1, sizeof(*names));
	cleanup_free const char **versions = xcalloc(e->nfirmware + 1, sizeof(*versions));
	for (size_t i = 0; i < e->nfirmware; i++) {
		names[i] = e->firmware[i].name;
		versions[i] = e->firmware[i].version;
	}
	struct loam_artifact_meta meta = {e->guest_arches, names, versions, e->nfirmware};
	return loam_host_artifact_mark_installing(db, host_id, &k, loam_artifact_kind_name(e->kind),
						  e->sha256, &meta, state, err);
}

static int record_result(struct loam_db *db, const char *host_id, const json_t *r, loam_err *err)
{
	const char *state = json_string_value(json_object_get(r, LOAM_KEY_STATE));
	bool ok = state && (strcmp(state, "installed") == 0 || strcmp(state, "already") == 0);
	const char *db_state = ok					    ? "installed"
			       : state && strcmp(state, "unavailable") == 0 ? "unavailable"
									    : "failed";
	struct loam_artifact_key k = key_of(r);
	return loam_host_artifact_record(
	    db, host_id, &k, db_state, json_string_value(json_object_get(r, LOAM_KEY_PATH)),
	    json_string_value(json_object_get(r, LOAM_KEY_ERROR)), err);
}

/* The agent's result for the request entry e, or NULL. */
static const json_t *result_for(const json_t *results, const json_t *e)
{
	const json_t *r;
	size_t i;
	json_array_foreach(results, i, r)
	{
		static const char *const keys[] = {LOAM_KEY_COMPONENT, LOAM_KEY_NAME,
						   LOAM_KEY_VERSION, LOAM_KEY_ARCH};
		bool same = true;
		for (size_t k = 0; k < 4; k++)
			same = same &&
			       json_equal(json_object_get(r, keys[k]), json_object_get(e, keys[k]));
		if (same)
			return r;
	}
	return NULL;
}

/* Every entry of the request still 'installing' fails with why. */
static void fail_request(struct loam_db *db, const char *host_id, const json_t *req,
			 const char *why)
{
	const json_t *e;
	size_t i;
	json_array_foreach(json_object_get(req, LOAM_KEY_ENTRIES), i, e)
	{
		struct loam_artifact_key k = key_of(e);
		cleanup_err loam_err ignored = NULL;
		loam_host_artifact_fail_installing(db, host_id, &k, why, &ignored);
	}
}

static int run_agent(struct loam_transport *t, const char *agent_path, const char *request,
		     char **out, char **why, loam_err *err)
{
	const char *argv[] = {agent_path, LOAM_VERB_INSTALL, NULL};
	struct loam_spawn_result res = {0};
	if (loam_transport_run(t, argv, request, strlen(request), INSTALL_TIMEOUT_MS, &res, err) <
	    0)
		return -1;
	if (res.exit_status <= 1 && !res.signaled && !res.timed_out)
		*out = xstrdup(res.out);
	else
		*why = xasprintf("status %d: %.300s", res.exit_status, res.err ? res.err : "");
	loam_spawn_result_free(&res);
	return 0;
}

int loam_artifact_install_mark(struct loam_db *db, const char *host_id,
			       const struct loam_artifact_manifest *m, const char *const *arches,
			       json_t **marked, loam_err *err)
{
	*marked = json_array();
	for (size_t i = 0; i < m->count; i++) {
		const struct loam_artifact_entry *e = &m->entries[i];
		struct loam_artifact_key k = {loam_artifact_component_name(e->component), e->name,
					      e->version, e->arch};
		cleanup_free char *state = NULL;
		if (!loam_artifact_entry_for_host(e, arches[0], arches))
			continue;
		if (mark_installing(db, host_id, e, &state, err) < 0) {
			json_decref(*marked);
			*marked = NULL;
			return -1;
		}
		json_array_append_new(
		    *marked, json_pack("{s:s, s:s, s:s, s:s, s:s}", LOAM_KEY_COMPONENT, k.component,
				       LOAM_KEY_NAME, k.name, LOAM_KEY_VERSION, k.version,
				       LOAM_KEY_ARCH, k.arch, LOAM_KEY_STATE, state));
	}
	return 0;
}

int loam_artifact_install_request(struct loam_db *db, const char *host_id,
				  const struct loam_artifact_manifest *m, const char *const *arches,
				  const char *base_url, const char *prefix, char **request,
				  loam_err *err)
{
	cleanup_json json_t *req =
	    json_pack("{s:s, s:[]}", LOAM_KEY_PREFIX, prefix, LOAM_KEY_ENTRIES);
	json_t *list = json_object_get(req, LOAM_KEY_ENTRIES);
	for (size_t i = 0; i < m->count; i++) {
		const struct loam_artifact_entry *e = &m->entries[i];
		cleanup_free char *state = NULL;
		if (!loam_artifact_entry_for_host(e, arches[0], arches))
			continue;
		if (mark_installing(db, host_id, e, &state, err) < 0)
			return -1;
		if (strcmp(state, "removing") != 0)
			json_array_append_new(list, request_entry(e, base_url));
	}
	*request = loam_json_dump(req);
	return 0;
}

int loam_artifact_install_record(struct loam_db *db, const char *host_id, const char *host_name,
				 const char *request, const char *agent_out, const char *why,
				 loam_err *err)
{
	cleanup_json json_t *req = json_loads(request, 0, NULL);
	cleanup_json json_t *out = agent_out ? json_loads(agent_out, 0, NULL) : NULL;
	const json_t *results = json_object_get(out, LOAM_KEY_RESULTS);
	if (!json_is_array(results)) {
		loam_fail(err, LOAM_E_IO, "loam-host install on %s failed: %.300s", host_name,
			  why ? why : "it printed no results");
		fail_request(db, host_id, req, loam_err_msg(*err));
		return -1;
	}
	const char *first_error = NULL;
	const json_t *e;
	size_t i;
	json_array_foreach(json_object_get(req, LOAM_KEY_ENTRIES), i, e)
	{
		const json_t *r = result_for(results, e);
		if (r && record_result(db, host_id, r, err) < 0)
			return -1;
		const char *state = json_string_value(json_object_get(r, LOAM_KEY_STATE));
		if (!first_error && state && strcmp(state, "failed") == 0)
			first_error = json_string_value(json_object_get(r, LOAM_KEY_ERROR));
	}
	fail_request(db, host_id, req, "the agent did not report this entry");
	if (first_error)
		return loam_fail(err, LOAM_E_IO, "install on %s: %s", host_name, first_error);
	return 0;
}

int loam_artifact_install_on_host(struct loam_db *db, struct loam_transport *t, const char *host_id,
				  const char *agent_path, const struct loam_artifact_manifest *m,
				  const char *const *arches, const char *base_url,
				  const char *prefix, loam_err *err)
{
	cleanup_free char *request = NULL, *out = NULL, *why = NULL;
	if (loam_artifact_install_request(db, host_id, m, arches, base_url, prefix, &request, err) <
	    0)
		return -1;
	if (run_agent(t, agent_path, request, &out, &why, err) < 0) {
		cleanup_json json_t *req = json_loads(request, 0, NULL);
		fail_request(db, host_id, req, loam_err_msg(*err));
		return -1;
	}
	return loam_artifact_install_record(db, host_id, loam_transport_name(t), request, out, why,
					    err);
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
