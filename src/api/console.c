/*
 * The console's request pipeline: the route table (every page and form of
 * docs/console.md, and docs/openapi.yaml), the session gate (a page
 * without a live session redirects to /login), the CSRF check of every
 * form post, and the security headers. Pages read and act through the
 * API's own pipeline (console_api), so the console shows exactly what
 * /v1/ gives and refuses what it refuses.
 */
#include "api/console_internal.h"

#include <stdlib.h>
#include <string.h>

#include "api/internal.h"
#include "lib/cleanup.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/timefmt.h"
#include "lib/valid.h"
#include "lib/xalloc.h"

enum access { PUBLIC, SESSION };

struct console_route {
	const char *method;
	const char *path; /* "*" matches one name */
	enum access access;
	int (*fn)(struct console_ctx *c);
};

static int root_page(struct console_ctx *c)
{
	console_redirect(c, "/fleet");
	return 0;
}

static const struct console_route console_routes[] = {
    {"GET", "/", SESSION, root_page},
    {"GET", "/login", PUBLIC, console_login_page},
    {"POST", "/login", PUBLIC, console_login_post},
    {"POST", "/logout", SESSION, console_logout_post},
    {"GET", "/fleet", SESSION, console_fleet_page},
    {"GET", "/hosts", SESSION, console_hosts_page},
    {"GET", "/hosts/*", SESSION, console_host_page},
    {"GET", "/vms", SESSION, console_vms_page},
    {"POST", "/vms", SESSION, console_vm_create_post},
    {"GET", "/vms/*", SESSION, console_vm_page},
    {"POST", "/vms/*/stop", SESSION, console_vm_action_post},
    {"POST", "/vms/*/start", SESSION, console_vm_action_post},
    {"POST", "/vms/*/reboot", SESSION, console_vm_action_post},
    {"POST", "/vms/*/destroy", SESSION, console_vm_action_post},
    {"GET", "/static/*", PUBLIC, console_static},
};

/* Only loamd's own script and stylesheet, no inline code, no framing. */
static const char console_csp[] =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const char *const loam_console_headers[] = {
    "Content-Security-Policy",
    console_csp,
    "X-Content-Type-Options",
    "nosniff",
    "X-Frame-Options",
    "DENY",
    "Referrer-Policy",
    "same-origin",
    NULL,
};

int console_auth_token(struct loam_api *api, const char *token, struct loam_principal *who,
		       const char **refusal)
{
	cleanup_err loam_err err = NULL;
	*refusal = "Wrong token.";
	if (!token || api_authenticate_token(api, token, who, &err) < 0) {
		if (err && loam_err_kind_of(err) != LOAM_E_AUTH) {
			log_warn("console: log-in: %s", loam_err_msg(err));
			*refusal = "loamd could not check the token now (its log says why); "
				   "try again.";
		}
		return 0;
	}
	if (who->kind != LOAM_PRINCIPAL_OPERATOR && who->kind != LOAM_PRINCIPAL_PROJECT) {
		*refusal = "A metrics token reads /metrics only; log in with the operator token "
			   "or a project's token.";
		return 0;
	}
	return 1;
}

bool console_principal_live(struct loam_api *api, const struct loam_principal *who)
{
	if (who->kind == LOAM_PRINCIPAL_OPERATOR)
		return true;
	cleanup_err loam_err err = NULL;
	struct loam_db *db = NULL;
	bool live = false;
	if (api_pool_get(api, &db, &err) == 0) {
		if (loam_auth_token_live(db, who, &live, &err) < 0)
			live = false; /* fail closed: log in again when the database is back */
		api_pool_put(api, db);
	}
	if (err)
		log_warn("console: session check: %s", loam_err_msg(err));
	return live;
}

bool console_is_operator(const struct console_ctx *c)
{
	return c->session.who.kind == LOAM_PRINCIPAL_OPERATOR;
}

void console_send_html(struct console_ctx *c, int status, struct html *h)
{
	c->resp->status = status;
	c->resp->content_type = "text/html; charset=utf-8";
	c->resp->body = html_finish(h, &c->resp->body_len);
}

void console_redirect(struct console_ctx *c, const char *path)
{
	c->resp->status = 303;
	c->resp->content_type = "text/plain; charset=utf-8";
	free(c->resp->location);
	c->resp->location = xstrdup(path);
	free(c->resp->body);
	c->resp->body = xstrdup("see other\n");
	c->resp->body_len = strlen(c->resp->body);
}

const char *console_query(const struct console_ctx *c, const char *key)
{
	return c->req->query ? c->req->query(c->req->query_ctx, key) : NULL;
}

int console_api(struct console_ctx *c, const char *method, const char *path, json_t *body,
		json_t **doc)
{
	/* as the session's principal: a project's session gets what its token
	 * would through /v1, and 404 for the rest */
	return api_call_internal(c->api, &c->session.who, method, path, body, doc);
}

/* Splits "/vms/web-1/stop" into c->seg; false for a path no route can
 * take (too deep, or a name segment that is not a name). */
static bool split(struct console_ctx *c, char *buf)
{
	char *save = NULL;
	for (char *s = strtok_r(buf, "/", &save); s; s = strtok_r(NULL, "/", &save)) {
		if (c->nseg == sizeof(c->seg) / sizeof(c->seg[0]))
			return false;
		c->seg[c->nseg++] = s;
	}
	return true;
}

static bool route_matches(const struct console_route *rt, const struct console_ctx *c)
{
	char pattern[64];
	snprintf(pattern, sizeof(pattern), "%s", rt->path);
	const char *want[4];
	size_t n = 0;
	char *save = NULL;
	for (char *s = strtok_r(pattern, "/", &save); s && n < 4; s = strtok_r(NULL, "/", &save))
		want[n++] = s;
	if (n != c->nseg)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(want[i], "*") == 0) {
			cleanup_err loam_err err = NULL;
			if (loam_valid_name("name", c->seg[i], &err) < 0 &&
			    strcmp(c->seg[0], "static") != 0)
				return false;
		} else if (strcmp(want[i], c->seg[i]) != 0) {
			return false;
		}
	}
	return true;
}

static const struct console_route *find_route(const struct console_ctx *c)
{
	for (size_t i = 0; i < sizeof(console_routes) / sizeof(console_routes[0]); i++)
		if (strcmp(console_routes[i].method, c->req->method) == 0 &&
		    route_matches(&console_routes[i], c))
			return &console_routes[i];
	return NULL;
}

void message_page(struct console_ctx *c, int status, const char *title, const char *text)
{
	struct html h;
	html_init(&h);
	page_begin(c, &h, title, "", 0);
	html_printf(&h, "<h1>%s</h1><p class=\"msg bad\">%s</p>", title, text);
	page_end(c, &h);
	console_send_html(c, status, &h);
}

static bool csrf_ok(struct console_ctx *c)
{
	const char *given = form_get(&c->form, "csrf");
	return given && loam_secret_equal(c->session.csrf, given);
}

static void dispatch(struct console_ctx *c, bool has_session)
{
	const struct console_route *rt = find_route(c);
	c->resp->route = rt ? rt->path : "unmatched";
	if ((!rt || rt->access == SESSION) && !has_session) {
		console_redirect(c, "/login");
		return;
	}
	if (!rt) {
		message_page(c, 404, "Not found", "No page here. The menu above has them all.");
		return;
	}
	cleanup_err loam_err err = NULL;
	if (strcmp(c->req->method, "POST") == 0 &&
	    form_parse(c->req->body, c->req->body_len, &c->form, &err) < 0) {
		message_page(c, 400, "Bad form", loam_err_msg(err));
		return;
	}
	if (strcmp(c->req->method, "POST") == 0 && rt->access == SESSION && !csrf_ok(c)) {
		message_page(c, 403, "Refused",
			     "This form's CSRF token is missing or wrong, so nothing was done. "
			     "Reload the page and try again.");
		return;
	}
	if (rt->fn(c) < 0)
		message_page(c, 500, "Error", "The console failed; loamd's log says why.");
}

void loam_console_handle(struct loam_api *api, const struct console_request *req,
			 struct console_response *resp)
{
	*resp = (struct console_response){0};
	struct console_ctx c = {
	    .api = api, .req = req, .resp = resp, .now_ms = loam_time_wall_ms()};
	char buf[256];
	if (strlen(req->path) >= sizeof(buf)) {
		resp->route = "unmatched";
		console_redirect(&c, "/login");
		return;
	}
	memcpy(buf, req->path, strlen(req->path) + 1);
	bool has_session =
	    console_session_find(api->sessions, req->session_id, c.now_ms, &c.session) == 1;
	/* a revoked project token ends its sessions at their next request */
	if (has_session && !console_principal_live(api, &c.session.who)) {
		console_session_end(api->sessions, req->session_id);
		has_session = false;
		c.session = (struct console_session_view){0};
	}
	if (!split(&c, buf)) {
		c.nseg = 0;
		c.seg[0] = NULL;
		resp->route = "unmatched";
		if (has_session)
			message_page(&c, 404, "Not found", "No page here.");
		else
			console_redirect(&c, "/login");
	} else {
		dispatch(&c, has_session);
	}
	form_free(&c.form);
}

void loam_console_response_free(struct console_response *resp)
{
	free(resp->body);
	free(resp->location);
	for (size_t i = 0; i < CONSOLE_MAX_COOKIES; i++)
		free(resp->set_cookie[i]);
	*resp = (struct console_response){0};
}
