/*
 * The request pipeline of the API: who sends it (auth.h), routing of /v1/
 * paths to handlers by what that principal may reach, the query string,
 * the per-token rate limit on creates, a DB connection per request from a
 * small pool (checked against the database file each time it is taken),
 * and the mapping of every failure to a JSON error {"error": kind,
 * "detail": message} with the status from loam_err_http_status(). Nothing
 * here knows about libmicrohttpd.
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

#define DEFAULT_CREATE_PER_S 2.0
#define DEFAULT_CREATE_BURST 20

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
	cleanup_free char *ssh_dir = xasprintf("%s/ssh", api->state_dir);
	const char *home = getenv("HOME");
	cleanup_free char *home_ssh = xasprintf("%s/.ssh", home && *home == '/' ? home : "/root");
	const char *const state_defaults[] = {"/var/lib/loam", api->state_dir, NULL};
	const char *const key_defaults[] = {home_ssh, ssh_dir, NULL};
	api->host_state_roots = api_roots_new(cfg->host_state_roots, state_defaults);
	api->ssh_key_roots = api_roots_new(cfg->ssh_key_roots, key_defaults);
	api->limiter =
	    api_limiter_new(cfg->create_per_s > 0 ? cfg->create_per_s : DEFAULT_CREATE_PER_S,
			    cfg->create_burst ? cfg->create_burst : DEFAULT_CREATE_BURST);
	api->metrics_token = xstrdup(cfg->metrics_token);
	api->sessions = console_sessions_new();
	api->images = api_images_new(cfg->manifest);
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
	api_roots_free(api->host_state_roots);
	api_roots_free(api->ssh_key_roots);
	api_limiter_free(api->limiter);
	free(api->tls_cert);
	if (api->tls_key)
		OPENSSL_cleanse(api->tls_key, strlen(api->tls_key));
	free(api->tls_key);
	if (api->metrics_token)
		OPENSSL_cleanse(api->metrics_token, strlen(api->metrics_token));
	free(api->metrics_token);
	console_sessions_free(api->sessions);
	api_images_free(api->images);
	free(api);
}

void loam_api_on_change(struct loam_api *api, void (*fn)(void *arg), void *arg)
{
	pthread_mutex_lock(&api->pool_mu);
	api->on_change = fn;
	api->on_change_arg = arg;
	pthread_mutex_unlock(&api->pool_mu);
}

void loam_api_on_fatal(struct loam_api *api, void (*fn)(void *arg, const char *why), void *arg)
{
	pthread_mutex_lock(&api->pool_mu);
	api->on_fatal = fn;
	api->on_fatal_arg = arg;
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

static void notify_fatal(struct loam_api *api, const char *why)
{
	pthread_mutex_lock(&api->pool_mu);
	void (*fn)(void *, const char *) = api->on_fatal;
	void *arg = api->on_fatal_arg;
	pthread_mutex_unlock(&api->pool_mu);
	if (fn)
		fn(arg, why);
}

/* A connection from the pool (or a new one), proven to still use the
 * database file it opened: a file deleted or replaced under loamd must
 * never be served from, nor a new one made in its place. */
int api_pool_get(struct loam_api *api, struct loam_db **out, loam_err *err)
{
	pthread_mutex_lock(&api->pool_mu);
	*out = api->npool ? api->pool[--api->npool] : NULL;
	pthread_mutex_unlock(&api->pool_mu);
	if (!*out && loam_db_open(api->db_url, out, err) < 0)
		return -1;
	if (loam_db_check_file(*out, err) == 0)
		return 0;
	loam_db_close(*out);
	*out = NULL;
	notify_fatal(api, loam_err_msg(*err));
	return -1;
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

/* Who may take a route: the operator only, or project tokens too (acting
 * on their own project). Metrics tokens take none. */
enum api_access { API_OPERATOR = 0, API_PROJECTS };

struct route {
	const char *method;
	const char *pattern[API_MAX_SEGMENTS + 1]; /* "*" matches a name; NULL ends */
	api_route_fn fn;
	enum api_access access;
	bool creates; /* rate-limited per token */
};

static const struct route routes[] = {
    {"GET", {"hosts"}, api_hosts_list, API_OPERATOR, false},
    {"POST", {"hosts"}, api_hosts_add, API_OPERATOR, true},
    {"GET", {"hosts", "*"}, api_hosts_show, API_OPERATOR, false},
    {"PATCH", {"hosts", "*"}, api_hosts_set, API_OPERATOR, false},
    {"POST", {"hosts", "*", "set"}, api_hosts_set, API_OPERATOR, false},
    {"DELETE", {"hosts", "*"}, api_hosts_delete, API_OPERATOR, false},
    {"GET", {"vms"}, api_vms_list, API_PROJECTS, false},
    {"POST", {"vms"}, api_vms_create, API_PROJECTS, true},
    {"GET", {"vms", "*"}, api_vms_show, API_PROJECTS, false},
    {"DELETE", {"vms", "*"}, api_vms_delete, API_PROJECTS, false},
    {"POST", {"vms", "*", "stop"}, api_vms_action, API_PROJECTS, false},
    {"POST", {"vms", "*", "start"}, api_vms_action, API_PROJECTS, false},
    {"POST", {"vms", "*", "reboot"}, api_vms_action, API_PROJECTS, false},
    {"GET", {"vms", "*", "firewall"}, api_vm_firewall_list, API_PROJECTS, false},
    {"POST", {"vms", "*", "firewall", "add"}, api_vm_firewall_add, API_PROJECTS, false},
    {"POST", {"vms", "*", "firewall", "rm"}, api_vm_firewall_rm, API_PROJECTS, false},
    {"GET", {"sizes"}, api_sizes_list, API_PROJECTS, false},
    {"GET", {"images"}, api_images_list, API_PROJECTS, false},
    {"GET", {"strands"}, api_strands_list, API_OPERATOR, false},
    {"GET", {"strands", "*"}, api_strands_show, API_OPERATOR, false},
    {"GET", {"artifacts"}, api_artifacts_list, API_OPERATOR, false},
    {"POST", {"artifacts", "gc"}, api_artifacts_gc, API_OPERATOR, false},
    {"POST", {"hosts", "*", "upgrade"}, api_hosts_upgrade, API_OPERATOR, false},
    {"POST", {"artifacts", "weight"}, api_artifacts_weight, API_OPERATOR, false},
    {"POST", {"vms", "*", "upgrade"}, api_vms_upgrade, API_OPERATOR, false},
    {"GET", {"projects"}, api_projects_list, API_OPERATOR, false},
    {"POST", {"projects"}, api_projects_create, API_OPERATOR, false},
    {"GET", {"projects", "*"}, api_projects_show, API_PROJECTS, false},
    {"PATCH", {"projects", "*"}, api_projects_set, API_OPERATOR, false},
    {"DELETE", {"projects", "*"}, api_projects_delete, API_OPERATOR, false},
    {"GET", {"tokens"}, api_tokens_list, API_OPERATOR, false},
    {"POST", {"tokens"}, api_tokens_create, API_OPERATOR, false},
    {"DELETE", {"tokens", "*"}, api_tokens_delete, API_OPERATOR, false},
    {"GET", {"vms", "*", "console"}, api_vms_console, API_PROJECTS, false},
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

static bool may_take(const struct route *rt, const struct loam_principal *who)
{
	return who->kind == LOAM_PRINCIPAL_OPERATOR ||
	       (who->kind == LOAM_PRINCIPAL_PROJECT && rt->access == API_PROJECTS);
}

/* A route the principal may not take looks like no route at all (404),
 * also where another method of its path is theirs, so that a project
 * token learns nothing of what else exists. */
static const struct route *find_route(const struct api_req *r, loam_err *err)
{
	bool path_known = false, hidden = false;
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		if (!pattern_matches(&routes[i], r))
			continue;
		bool mine = may_take(&routes[i], &r->who);
		if (strcmp(routes[i].method, r->method) == 0) {
			if (mine)
				return &routes[i];
			hidden = true;
		}
		path_known |= mine;
	}
	if (path_known && !hidden)
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

int api_authenticate_token(struct loam_api *api, const char *token, struct loam_principal *who,
			   loam_err *err)
{
	const struct loam_auth_files files = {api->token, api->metrics_token};
	struct loam_db *db = NULL;
	if (api_pool_get(api, &db, err) < 0)
		return loam_err_wrap(err, "database");
	int rc = loam_auth_token(&files, db, token, who, err);
	api_pool_put(api, db);
	return rc;
}

/* The token files' tokens need no database; any other is looked up in it,
 * on a connection the request then keeps. */
int api_authenticate(struct loam_api *api, const char *authorization, struct loam_db **db,
		     struct loam_principal *who, loam_err *err)
{
	const struct loam_auth_files files = {api->token, api->metrics_token};
	if (loam_auth_bearer(&files, NULL, authorization, who, err) == 0)
		return 0;
	if (!loam_auth_bearer_needs_db(authorization))
		return -1;
	loam_err_free(err);
	if (api_pool_get(api, db, err) < 0)
		return loam_err_wrap(err, "database");
	return loam_auth_bearer(&files, *db, authorization, who, err);
}

static int rate_limit(struct api_req *r, const struct route *rt, loam_err *err)
{
	if (!rt->creates)
		return 0;
	const char *key = r->who.kind == LOAM_PRINCIPAL_OPERATOR ? "operator" : r->who.token_id;
	int wait_s = api_limiter_take(r->api->limiter, key);
	if (wait_s == 0)
		return 0;
	r->retry_after_s = wait_s;
	return loam_fail(err, LOAM_E_RATELIMIT,
			 "too many creates from this token; retry in %d s (loamd's "
			 "--create-rate and --create-burst set the pace)",
			 wait_s);
}

static int route_request(struct api_req *r, const char *path, char *buf, size_t size,
			 const struct route **rt, loam_err *err)
{
	const char *q = strchr(path, '?');
	size_t plen = q ? (size_t)(q - path) : strlen(path);
	if (plen >= size / 2)
		return loam_fail(err, LOAM_E_INVALID, "path too long");
	char *p = buf + size / 2;
	memcpy(p, path, plen);
	p[plen] = '\0';
	r->path = p;
	if (split_path(p, buf, size / 2, r, err) < 0)
		return -1;
	*rt = find_route(r, err);
	if (!*rt)
		return -1;
	r->pattern = (*rt)->pattern;
	return api_query_parse(q ? q + 1 : "", p + plen + 1, size / 2 - plen - 1, &r->q, err);
}

static int run_request(struct api_req *r, const char *path, const char *body, size_t len,
		       loam_err *err)
{
	const struct route *rt = NULL;
	if (route_request(r, path, r->text, sizeof(r->text), &rt, err) < 0 || !rt ||
	    rate_limit(r, rt, err) < 0 || parse_body(r, body, len, err) < 0)
		return -1;
	if (!r->db && api_pool_get(r->api, &r->db, err) < 0)
		return loam_err_wrap(err, "database");
	int rc = rt->fn(r, err);
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

/* The pipeline after auth, as r->who: *doc is the answer; returns the
 * status. */
static int handle(struct api_req *r, const char *path, const char *body, size_t body_len,
		  json_t **doc, loam_err *err)
{
	int status;
	if (run_request(r, path, body, body_len, err) < 0) {
		status = loam_err_http_status(*err);
		if (status == 500 || status == 507)
			log_warn("%s %s: %s", r->method, path, loam_err_msg(*err));
		*doc = error_doc(*err);
		json_decref(r->out);
	} else {
		status = r->status ? r->status : 200;
		*doc = r->out ? r->out : json_object();
	}
	r->out = NULL;
	if (r->db)
		api_pool_put(r->api, r->db);
	r->db = NULL;
	json_decref(r->body);
	r->body = NULL;
	return status;
}

void loam_api_handle(struct loam_api *api, const char *method, const char *path, const char *auth,
		     const char *body, size_t body_len, struct loam_api_response *resp)
{
	cleanup_err loam_err err = NULL;
	struct api_req r = {.api = api, .method = method};
	json_t *doc = NULL;
	if (api_authenticate(api, auth, &r.db, &r.who, &err) < 0) {
		resp->status = loam_err_http_status(err);
		if (resp->status == 500 || resp->status == 507)
			log_warn("%s %s: %s", method, path, loam_err_msg(err));
		doc = error_doc(err);
		snprintf(resp->route, sizeof(resp->route), "unauthorized");
		if (r.db)
			api_pool_put(api, r.db);
	} else {
		resp->status = handle(&r, path, body, body_len, &doc, &err);
		route_label(&r, resp->route, sizeof(resp->route));
		snprintf(resp->link, sizeof(resp->link), "%s", resp->status == 200 ? r.next : "");
		resp->retry_after_s = r.retry_after_s;
	}
	resp->body = loam_json_dump(doc);
	json_decref(doc);
}

int api_call_internal(struct loam_api *api, const struct loam_principal *who, const char *method,
		      const char *path, const json_t *body, json_t **doc)
{
	cleanup_free char *text = body ? loam_json_dump(body) : NULL;
	cleanup_err loam_err err = NULL;
	struct api_req r = {.api = api, .method = method, .who = *who};
	return handle(&r, path, text, text ? strlen(text) : 0, doc, &err);
}
