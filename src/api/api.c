/*
 * The request pipeline of the API: bearer-token auth (constant time),
 * routing of /v1/ paths to handlers, a DB connection per request from a
 * small pool, and the mapping of every failure to a JSON error
 * {"error": kind, "detail": message} with the status from
 * loam_err_http_status(). Nothing here knows about libmicrohttpd.
 */
#include "api/internal.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/cleanup.h"
#include "api/console.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/valid.h"
#include "lib/xalloc.h"

int loam_api_new(const struct loam_api_config *cfg, struct loam_api **out, loam_err *err)
{
	if (!cfg->token || strlen(cfg->token) < 32)
		return loam_fail(err, LOAM_E_INTERNAL, "api: the token must be at least 32 chars");
	struct loam_api *api = xcalloc(1, sizeof(*api));
	api->state_dir = xstrdup(cfg->state_dir ? cfg->state_dir : "");
	api->db_url = xstrdup(cfg->db_url ? cfg->db_url : "");
	api->token = xstrdup(cfg->token);
	api->alloc = cfg->alloc;
	api->artifact_store = xstrdup(cfg->artifact_store);
	api->metrics_token = xstrdup(cfg->metrics_token);
	api->sessions = console_sessions_new();
	pthread_mutex_init(&api->pool_mu, NULL);
	*out = api;
	return 0;
}

void loam_api_free(struct loam_api *api)
{
	if (!api)
		return;
	loam_api_stop(api);
	for (size_t i = 0; i < api->npool; i++)
		loam_db_close(api->pool[i]);
	pthread_mutex_destroy(&api->pool_mu);
	OPENSSL_cleanse(api->token, strlen(api->token));
	free(api->token);
	free(api->state_dir);
	free(api->db_url);
	free(api->artifact_store);
	if (api->metrics_token)
		OPENSSL_cleanse(api->metrics_token, strlen(api->metrics_token));
	free(api->metrics_token);
	console_sessions_free(api->sessions);
	free(api);
}

int api_pool_get(struct loam_api *api, struct loam_db **out, loam_err *err)
{
	pthread_mutex_lock(&api->pool_mu);
	*out = api->npool ? api->pool[--api->npool] : NULL;
	pthread_mutex_unlock(&api->pool_mu);
	if (*out)
		return 0;
	return loam_db_open(api->db_url, out, err);
}

void api_pool_put(struct loam_api *api, struct loam_db *db)
{
	pthread_mutex_lock(&api->pool_mu);
	if (api->npool < API_POOL_MAX) {
		api->pool[api->npool++] = db;
		db = NULL;
	}
	pthread_mutex_unlock(&api->pool_mu);
	if (db)
		loam_db_close(db);
}

/* Constant time in the secret's content: the length check leaks only the
 * length, which is fixed and public (64 hex characters). */
bool api_secret_equal(const char *secret, const char *given)
{
	size_t n = secret ? strlen(secret) : 0;
	return n && given && strlen(given) == n && CRYPTO_memcmp(given, secret, n) == 0;
}

bool api_token_equal(const struct loam_api *api, const char *given)
{
	return api_secret_equal(api->token, given);
}

static bool token_ok(const struct loam_api *api, const char *auth)
{
	static const char prefix[] = "Bearer ";
	if (!auth || strncmp(auth, prefix, sizeof(prefix) - 1) != 0)
		return false;
	return api_token_equal(api, auth + sizeof(prefix) - 1);
}

struct route {
	const char *method;
	const char *pattern[API_MAX_SEGMENTS + 1]; /* "*" matches a name; NULL ends */
	api_route_fn fn;
};

static const struct route routes[] = {
    {"GET", {"hosts"}, api_hosts_list},
    {"POST", {"hosts"}, api_hosts_add},
    {"GET", {"hosts", "*"}, api_hosts_show},
    {"PATCH", {"hosts", "*"}, api_hosts_set},
    {"POST", {"hosts", "*", "set"}, api_hosts_set},
    {"DELETE", {"hosts", "*"}, api_hosts_delete},
    {"GET", {"vms"}, api_vms_list},
    {"POST", {"vms"}, api_vms_create},
    {"GET", {"vms", "*"}, api_vms_show},
    {"DELETE", {"vms", "*"}, api_vms_delete},
    {"POST", {"vms", "*", "stop"}, api_vms_action},
    {"POST", {"vms", "*", "start"}, api_vms_action},
    {"POST", {"vms", "*", "reboot"}, api_vms_action},
    {"GET", {"sizes"}, api_sizes_list},
    {"GET", {"strands"}, api_strands_list},
    {"GET", {"strands", "*"}, api_strands_show},
    {"GET", {"artifacts"}, api_artifacts_list},
    {"POST", {"artifacts", "gc"}, api_artifacts_gc},
    {"POST", {"hosts", "*", "upgrade"}, api_hosts_upgrade},
    {"GET", {"vms", "*", "console"}, api_vms_console},
};

static bool pattern_matches(const struct route *rt, const struct api_req *r)
{
	size_t n = 0;
	while (n <= API_MAX_SEGMENTS && rt->pattern[n])
		n++;
	if (n != r->nseg)
		return false;
	for (size_t i = 0; i < n; i++)
		if (strcmp(rt->pattern[i], "*") != 0 && strcmp(rt->pattern[i], r->seg[i]) != 0)
			return false;
	return true;
}

static const struct route *find_route(const struct api_req *r, loam_err *err)
{
	bool path_known = false;
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		if (!pattern_matches(&routes[i], r))
			continue;
		path_known = true;
		if (strcmp(routes[i].method, r->method) == 0)
			return &routes[i];
	}
	if (path_known)
		loam_fail(err, LOAM_E_INVALID,
			  "method %s is not allowed on this path; see docs/api.md", r->method);
	else
		loam_fail(err, LOAM_E_NOTFOUND, "no such API path; see docs/api.md");
	return NULL;
}

/* Splits "/v1/a/b/c" into segments in buf; names are validated here so
 * that handlers can trust seg[1]. */
static int split_path(const char *path, char *buf, size_t size, struct api_req *r, loam_err *err)
{
	if (strncmp(path, "/v1/", 4) != 0)
		return loam_fail(err, LOAM_E_NOTFOUND,
				 "no such API path; the API lives under /v1/");
	size_t plen = strlen(path + 4);
	if (plen >= size)
		return loam_fail(err, LOAM_E_INVALID, "path too long");
	memcpy(buf, path + 4, plen + 1);
	size_t len = strlen(buf);
	if (len && buf[len - 1] == '/')
		buf[len - 1] = '\0';
	char *save = NULL;
	for (char *s = strtok_r(buf, "/", &save); s; s = strtok_r(NULL, "/", &save)) {
		if (r->nseg == API_MAX_SEGMENTS)
			return loam_fail(err, LOAM_E_NOTFOUND, "no such API path");
		r->seg[r->nseg++] = s;
	}
	if (r->nseg == 0)
		return loam_fail(err, LOAM_E_NOTFOUND, "no such API path; see docs/api.md");
	if (r->nseg >= 2 && strcmp(r->seg[0], "strands") != 0)
		return loam_valid_name("name", r->seg[1], err);
	return 0;
}

static int parse_body(struct api_req *r, const char *body, size_t len, loam_err *err)
{
	if (len > LOAM_API_BODY_MAX)
		return loam_fail(err, LOAM_E_INVALID, "request body is over %zu bytes",
				 LOAM_API_BODY_MAX);
	if (len == 0)
		return 0;
	r->body = loam_json_parse(body, len, "request body", err);
	if (!r->body)
		return -1;
	if (!json_is_object(r->body))
		return loam_fail(err, LOAM_E_INVALID, "request body must be a JSON object");
	return 0;
}

void loam_api_on_change(struct loam_api *api, void (*fn)(void *arg), void *arg)
{
	pthread_mutex_lock(&api->pool_mu);
	api->on_change = fn;
	api->on_change_arg = arg;
	pthread_mutex_unlock(&api->pool_mu);
}

static void notify_change(struct loam_api *api)
{
	pthread_mutex_lock(&api->pool_mu);
	void (*fn)(void *) = api->on_change;
	void *arg = api->on_change_arg;
	pthread_mutex_unlock(&api->pool_mu);
	if (fn)
		fn(arg);
}

static int run_request(struct api_req *r, const char *path, const char *body, size_t len,
		       loam_err *err)
{
	char buf[512];
	if (split_path(path, buf, sizeof(buf), r, err) < 0)
		return -1;
	const struct route *rt = find_route(r, err);
	if (rt)
		r->pattern = rt->pattern;
	if (!rt || parse_body(r, body, len, err) < 0)
		return -1;
	if (api_pool_get(r->api, &r->db, err) < 0)
		return loam_err_wrap(err, "database");
	int rc = rt->fn(r, err);
	api_pool_put(r->api, r->db);
	r->db = NULL;
	if (rc == 0 && strcmp(r->method, "GET") != 0)
		notify_change(r->api);
	return rc;
}

static json_t *error_doc(const loam_err err)
{
	return json_pack("{s:s, s:s}", "error", loam_err_kind_name(loam_err_kind_of(err)), "detail",
			 loam_err_msg(err));
}

/* The matched route as a path with '*' for each name, or "unmatched". */
static void route_label(const struct api_req *r, char *out, size_t size)
{
	if (!r->pattern) {
		snprintf(out, size, "unmatched");
		return;
	}
	size_t len = (size_t)snprintf(out, size, "/v1");
	for (size_t i = 0; i < API_MAX_SEGMENTS && r->pattern[i] && len < size; i++)
		len += (size_t)snprintf(out + len, size - len, "/%s", r->pattern[i]);
}

/* The pipeline after auth: *doc is the answer; returns the status. */
static int handle(struct loam_api *api, const char *method, const char *path, const char *body,
		  size_t body_len, json_t **doc, char *route, size_t route_size)
{
	cleanup_err loam_err err = NULL;
	struct api_req r = {.api = api, .method = method};
	int status;
	if (run_request(&r, path, body, body_len, &err) < 0) {
		if (loam_err_http_status(err) == 500)
			log_warn("%s %s: %s", method, path, loam_err_msg(err));
		status = loam_err_http_status(err);
		*doc = error_doc(err);
		json_decref(r.out);
	} else {
		status = r.status ? r.status : 200;
		*doc = r.out ? r.out : json_object();
	}
	route_label(&r, route, route_size);
	json_decref(r.body);
	return status;
}

void loam_api_handle(struct loam_api *api, const char *method, const char *path, const char *auth,
		     const char *body, size_t body_len, struct loam_api_response *resp)
{
	json_t *doc = NULL;
	if (!token_ok(api, auth)) {
		cleanup_err loam_err err = NULL;
		loam_fail(&err, LOAM_E_AUTH,
			  "missing or wrong bearer token; send 'Authorization: Bearer TOKEN' "
			  "with the token from loamd's state dir (DIR/token)");
		resp->status = loam_err_http_status(err);
		doc = error_doc(err);
		snprintf(resp->route, sizeof(resp->route), "unauthorized");
	} else {
		resp->status = handle(api, method, path, body, body_len, &doc, resp->route,
				      sizeof(resp->route));
	}
	resp->body = loam_json_dump(doc);
	json_decref(doc);
}

int api_call_internal(struct loam_api *api, const char *method, const char *path,
		      const json_t *body, json_t **doc)
{
	cleanup_free char *text = body ? loam_json_dump(body) : NULL;
	char route[96];
	return handle(api, method, path, text, text ? strlen(text) : 0, doc, route, sizeof(route));
}
