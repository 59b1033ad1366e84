/*
 * The web console that loamd serves at / (docs/console.md): server-rendered
 * HTML pages over the same JSON views the API gives, a token log-in that
 * becomes a session cookie, CSRF tokens on every form, and a little
 * JavaScript that refreshes the pages in place. Like loam_api_handle, the
 * request logic knows nothing of libmicrohttpd: http.c fills a
 * console_request and sends the console_response.
 */
#ifndef LOAM_API_CONSOLE_H
#define LOAM_API_CONSOLE_H

#include <stdbool.h>
#include <stddef.h>

struct loam_api;

#define CONSOLE_SESSION_COOKIE "loam_session"
#define CONSOLE_LOGIN_COOKIE   "loam_login"
#define CONSOLE_MAX_COOKIES    2

struct console_request {
	const char *method, *path;
	const char *session_id;	 /* the session cookie, or NULL */
	const char *login_nonce; /* the log-in form's cookie, or NULL */
	/* A query parameter's value, or NULL. */
	const char *(*query)(void *query_ctx, const char *key);
	void *query_ctx;
	const char *body; /* application/x-www-form-urlencoded for a POST */
	size_t body_len;
	bool tls; /* cookies get Secure */
};

struct console_response {
	int status;
	const char *content_type; /* a static string */
	char *body;		  /* owned; NULL when static_body is set */
	const unsigned char *static_body;
	size_t body_len;
	char *location;			       /* a redirect's target, owned */
	char *set_cookie[CONSOLE_MAX_COOKIES]; /* owned */
	bool cacheable;			       /* a static asset */
	const char *route;		       /* the route's pattern, for metrics */
};

/* Runs one console request. */
void loam_console_handle(struct loam_api *api, const struct console_request *req,
			 struct console_response *resp);
void loam_console_response_free(struct console_response *resp);

/* The security headers every console response carries: name, value pairs,
 * NULL-terminated. */
extern const char *const loam_console_headers[];

/* Sessions live in memory (a restart logs everyone out); the table is
 * part of struct loam_api. */
struct console_sessions;
struct console_sessions *console_sessions_new(void);
void console_sessions_free(struct console_sessions *s);

#endif
