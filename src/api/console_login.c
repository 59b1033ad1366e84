/*
 * Log-in and log-out. The log-in form has no session to tie a CSRF token
 * to, so it uses a double submit: GET /login sets a random nonce in a
 * cookie of its own (HttpOnly, SameSite=Strict, path /login) and in the
 * form; POST /login goes on only when both agree, so another site cannot
 * log a browser in to a session of its choosing. A good token becomes a
 * session (console_session.c) whose id only the cookie carries.
 */
#include "api/console_internal.h"

#include <stdlib.h>
#include <string.h>

#include "api/internal.h"
#include "lib/cleanup.h"
#include "lib/log.h"
#include "lib/xalloc.h"

#define SESSION_COOKIE_MAX_AGE (12 * 3600)
#define LOGIN_COOKIE_MAX_AGE   3600

static char *cookie(const struct console_ctx *c, const char *name, const char *value,
		    const char *path, int max_age)
{
	return xasprintf("%s=%s; Path=%s; Max-Age=%d; HttpOnly; SameSite=Strict%s", name, value,
			 path, max_age, c->req->tls ? "; Secure" : "");
}

static int login_form(struct console_ctx *c, int status, const char *error)
{
	char nonce[CONSOLE_HEX_LEN + 1];
	cleanup_err loam_err err = NULL;
	if (console_random_hex(nonce, &err) < 0)
		return -1;
	c->resp->set_cookie[0] =
	    cookie(c, CONSOLE_LOGIN_COOKIE, nonce, "/login", LOGIN_COOKIE_MAX_AGE);
	struct html h;
	html_init(&h);
	page_begin(c, &h, "Log in", "", 0);
	html_lit(&h, "<section class=\"login\"><h1>loam</h1>");
	if (error)
		html_printf(&h, "<p class=\"msg bad\" role=\"alert\">%s</p>", error);
	html_printf(&h,
		    "<form method=\"post\" action=\"/login\">"
		    "<input type=\"hidden\" name=\"csrf\" value=\"%s\">"
		    "<label for=\"token\">Token</label>"
		    "<input id=\"token\" name=\"token\" type=\"password\" autocomplete=\"off\" "
		    "required autofocus spellcheck=\"false\">"
		    "<button type=\"submit\">Log in</button></form>"
		    "<p class=\"hint\">The operator token is in loamd's state dir: "
		    "<code>cat /var/lib/loam/token</code></p></section>",
		    nonce);
	page_end(c, &h);
	console_send_html(c, status, &h);
	return 0;
}

int console_login_page(struct console_ctx *c)
{
	if (c->session.csrf[0]) { /* logged in already */
		console_redirect(c, "/fleet");
		return 0;
	}
	return login_form(c, 200, NULL);
}

int console_login_post(struct console_ctx *c)
{
	const char *nonce = form_get(&c->form, "csrf");
	if (!c->req->login_nonce || !loam_secret_equal(c->req->login_nonce, nonce))
		return login_form(c, 403,
				  "The log-in form was stale or not this site's (CSRF check); "
				  "nothing was done. Log in again.");
	struct loam_principal who;
	const char *refusal = NULL;
	if (!console_auth_token(c->api, form_get(&c->form, "token"), &who, &refusal)) {
		log_info("console: a log-in was refused: %s", refusal);
		return login_form(c, 401, refusal);
	}
	char id[CONSOLE_HEX_LEN + 1];
	cleanup_err loam_err err = NULL;
	if (console_session_create(c->api->sessions, &who, c->now_ms, id, &err) < 0) {
		log_warn("console: %s", loam_err_msg(err));
		return -1;
	}
	c->resp->set_cookie[0] = cookie(c, CONSOLE_SESSION_COOKIE, id, "/", SESSION_COOKIE_MAX_AGE);
	c->resp->set_cookie[1] = cookie(c, CONSOLE_LOGIN_COOKIE, "", "/login", 0);
	console_redirect(c, "/fleet");
	return 0;
}

int console_logout_post(struct console_ctx *c)
{
	console_session_end(c->api->sessions, c->req->session_id);
	c->resp->set_cookie[0] = cookie(c, CONSOLE_SESSION_COOKIE, "", "/", 0);
	console_redirect(c, "/login");
	return 0;
}
