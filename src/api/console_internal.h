/*
 * What the console's files share: the safe HTML builder (every value from
 * data goes through an escaping conversion, never pasted), form parsing,
 * the session table, the per-request context and the pages.
 */
#ifndef LOAM_API_CONSOLE_INTERNAL_H
#define LOAM_API_CONSOLE_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "api/auth.h"
#include "api/console.h"
#include "lib/err.h"

/* ---- console_html.c: HTML built safely ---- */

struct html {
	FILE *f;
	char *buf;
	size_t len;
};

void html_init(struct html *h);
/* The document so far; the caller frees. */
char *html_finish(struct html *h, size_t *len);
/* Appends fmt, whose literal text is trusted markup; every %s argument is
 * escaped for HTML text and attribute values alike. Numbers take %d, %u,
 * %ld, %lld, %zu, %g and %.Nf. Nothing else is allowed. */
void html_printf(struct html *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A string literal of markup; anything but a literal does not compile. */
#define html_lit(h, s) html_literal((h), "" s "")
void html_literal(struct html *h, const char *literal);
/* A JSON value as escaped text: "—" for null or absent, yes/no, numbers,
 * arrays joined with ", ", objects as compact JSON. */
void html_json(struct html *h, const json_t *v);
/* A time in unix ms as <time datetime=ISO>UTC (ago)</time>; "—" when not a
 * number. */
void html_time(struct html *h, const json_t *ms, int64_t now_ms);
/* A bar of used against total (an SVG, styled by console.css) with
 * "used / total unit" beside it, coloured by how full it is. */
void html_bar(struct html *h, const char *what, double used, double total, const char *unit);
/* The same for a part of a count, where more is not worse (VMs running). */
void html_count_bar(struct html *h, const char *what, double part, double all, const char *unit);

/* ---- console_form.c: application/x-www-form-urlencoded ---- */

#define FORM_MAX_FIELDS 16

struct form {
	char *buf; /* the decoded copy that keys and values point into */
	const char *key[FORM_MAX_FIELDS], *value[FORM_MAX_FIELDS];
	size_t n;
};

/* Fails (invalid) for more than FORM_MAX_FIELDS fields or a repeated one. */
int form_parse(const char *body, size_t len, struct form *f, loam_err *err);
void form_free(struct form *f);
/* The field's value, or NULL. */
const char *form_get(const struct form *f, const char *key);

/* ---- console_session.c ---- */

#define CONSOLE_HEX_LEN	  64
#define CONSOLE_PRINCIPAL (LOAM_NAME_MAX + 16) /* "project " and a name */

struct console_session_view {
	char csrf[CONSOLE_HEX_LEN + 1];
	struct loam_principal who;	   /* the operator or one project */
	char principal[CONSOLE_PRINCIPAL]; /* "operator", "project alice": for the page */
};

/* A new session for principal; id (hex) is what the cookie carries. */
int console_session_create(struct console_sessions *s, const struct loam_principal *who,
			   int64_t now_ms, char id[CONSOLE_HEX_LEN + 1], loam_err *err);
/* 1 with *out filled when id names a live session (it is touched), 0 when
 * not (unknown, expired or malformed). */
int console_session_find(struct console_sessions *s, const char *id, int64_t now_ms,
			 struct console_session_view *out);
void console_session_end(struct console_sessions *s, const char *id);
/* 32 random bytes as 64 lower-case hex digits. */
int console_random_hex(char out[CONSOLE_HEX_LEN + 1], loam_err *err);

/* ---- console.c: the request context ---- */

struct console_ctx {
	struct loam_api *api;
	const struct console_request *req;
	struct console_response *resp;
	struct console_session_view session; /* when the route needs one */
	const char *seg[4];		     /* the path's segments ("vms", NAME, "stop") */
	size_t nseg;
	struct form form; /* a POST's fields */
	int64_t now_ms;
};

/* Who a log-in token is (the API's check, auth.h): 1 with *who filled for
 * the operator's token or a project's, 0 with *refusal (a static message
 * for the form) for any other. A project's session sees only its VMs: the
 * console asks the API as that project, which answers 404 for the rest. */
int console_auth_token(struct loam_api *api, const char *token, struct loam_principal *who,
		       const char **refusal);
/* Whether a session's principal may still act (its token not revoked). */
bool console_principal_live(struct loam_api *api, const struct loam_principal *who);
/* Whether the session is the operator's (hosts, every project). */
bool console_is_operator(const struct console_ctx *c);

/* A page of its own: what has no route, a refused form, a page this
 * session may not see. text is a literal (not escaped). */
void message_page(struct console_ctx *c, int status, const char *title, const char *text);
/* A page: status and HTML. */
void console_send_html(struct console_ctx *c, int status, struct html *h);
/* 303 to a path of ours. */
void console_redirect(struct console_ctx *c, const char *path);
/* A query parameter, or NULL. */
const char *console_query(const struct console_ctx *c, const char *key);

/* An API request on behalf of the session: the same pipeline, routes and
 * JSON as /v1/, without the bearer token. *doc is the response document
 * (an {"error", "detail"} object on failure); returns the HTTP status. */
int console_api(struct console_ctx *c, const char *method, const char *path, json_t *body,
		json_t **doc);

/* ---- console_layout.c ---- */

/* The page up to its <main>: head, the nav with `active` marked, the
 * log-out form. poll_ms > 0 makes console.js refresh the live regions. */
void page_begin(struct console_ctx *c, struct html *h, const char *title, const char *active,
		int poll_ms);
void page_end(struct console_ctx *c, struct html *h);
/* An API failure as a message box: its detail, escaped. */
void page_error(struct html *h, const json_t *doc);
/* The hidden CSRF field every form carries. */
void page_csrf(struct console_ctx *c, struct html *h);
/* A string member, or NULL. */
const char *jstr(const json_t *o, const char *key);
/* An integer or real member as a double, or 0. */
double jnum(const json_t *o, const char *key);
/* "<dl>" rows for every scalar key of obj not in `skip` (NULL-terminated):
 * fields other parts add to the API show up without a change here. */
void page_other_fields(struct html *h, const json_t *obj, const char *const *skip, int64_t now_ms);

/* A table of a list of objects: the keys in `first` (NULL-terminated, may
 * be NULL) as the first columns, then every other key the rows have but
 * those in `skip`, so that a field added to the API gets a column. */
void page_object_table(struct html *h, const json_t *list, const char *const *first,
		       const char *const *skip, int64_t now_ms);

/* ---- the pages ---- */

int console_login_page(struct console_ctx *c);
int console_login_post(struct console_ctx *c);
int console_logout_post(struct console_ctx *c);
int console_fleet_page(struct console_ctx *c);
int console_hosts_page(struct console_ctx *c);
int console_host_page(struct console_ctx *c);
int console_vms_page(struct console_ctx *c);
int console_vm_create_post(struct console_ctx *c);
int console_vm_page(struct console_ctx *c);
int console_vm_action_post(struct console_ctx *c);
int console_static(struct console_ctx *c);

/* console_vms.c: a VM state's CSS class ("ok", "busy", "bad", "idle"). */
const char *vm_state_class(const char *state);

#endif
