/*
 * Serves loamd over HTTP with libmicrohttpd: one thread per connection
 * (each takes a DB connection from the pool only while a request runs),
 * request bodies buffered up to LOAM_API_BODY_MAX. The paths:
 *   /v1/...        the JSON API (api.c), bearer token
 *   /metrics       Prometheus (metrics.c), metrics or operator token
 *   /artifacts/... the artifact store, without auth: hosts fetch from it
 *                  and check integrity by sha256
 *   anything else  the web console (console.c), session cookie
 * Every request but an artifact download is counted by route and status.
 */
#include "api/internal.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/console.h"
#include "artifact/serve.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/metrics.h"
#include "lib/xalloc.h"

struct upload {
	char *buf;
	size_t len;
	bool too_big;
};

static enum MHD_Result send_text(struct MHD_Connection *conn, int status, char *body,
				 const char *type)
{
	struct MHD_Response *resp =
	    MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	enum MHD_Result ret = MHD_queue_response(conn, (unsigned)status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result send_json(struct MHD_Connection *conn, int status, char *body)
{
	return send_text(conn, status, body, "application/json");
}

static char *error_body(const char *kind, const char *detail)
{
	json_t *doc = json_pack("{s:s, s:s}", "error", kind, "detail", detail);
	char *s = loam_json_dump(doc);
	json_decref(doc);
	return s;
}

static void count(const char *route, const char *method, int status)
{
	char code[8];
	snprintf(code, sizeof(code), "%d", status);
	LOAM_METRIC_INC(LOAM_METRIC_API_REQUESTS, route, method, code);
}

static const char *query_arg(void *conn, const char *key)
{
	return MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, key);
}

static bool conn_is_tls(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *info =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_DAEMON);
	const union MHD_DaemonInfo *flags =
	    info ? MHD_get_daemon_info(info->daemon, MHD_DAEMON_INFO_FLAGS) : NULL;
	return flags && (flags->flags & MHD_USE_TLS);
}

static enum MHD_Result send_console(struct MHD_Connection *conn, struct console_response *c)
{
	struct MHD_Response *resp =
	    c->static_body
		? MHD_create_response_from_buffer(c->body_len, (void *)c->static_body,
						  MHD_RESPMEM_PERSISTENT)
		: MHD_create_response_from_buffer(c->body_len, c->body, MHD_RESPMEM_MUST_COPY);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, c->content_type);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
				c->cacheable ? "no-cache" : "no-store");
	for (size_t i = 0; loam_console_headers[i]; i += 2)
		MHD_add_response_header(resp, loam_console_headers[i], loam_console_headers[i + 1]);
	if (c->location)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION, c->location);
	for (size_t i = 0; i < CONSOLE_MAX_COOKIES; i++)
		if (c->set_cookie[i])
			MHD_add_response_header(resp, MHD_HTTP_HEADER_SET_COOKIE, c->set_cookie[i]);
	enum MHD_Result ret = MHD_queue_response(conn, (unsigned)c->status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result serve_console(struct loam_api *api, struct MHD_Connection *conn,
				     const char *url, const char *method, const struct upload *up)
{
	struct console_request req = {
	    .method = method,
	    .path = url,
	    .session_id =
		MHD_lookup_connection_value(conn, MHD_COOKIE_KIND, CONSOLE_SESSION_COOKIE),
	    .login_nonce = MHD_lookup_connection_value(conn, MHD_COOKIE_KIND, CONSOLE_LOGIN_COOKIE),
	    .query = query_arg,
	    .query_ctx = conn,
	    .body = up->buf,
	    .body_len = up->len,
	    .tls = conn_is_tls(conn),
	};
	struct console_response resp;
	loam_console_handle(api, &req, &resp);
	count(resp.route, method, resp.status);
	enum MHD_Result ret = send_console(conn, &resp);
	loam_console_response_free(&resp);
	return ret;
}

/* route: GET /metrics */
static enum MHD_Result serve_metrics(struct loam_api *api, struct MHD_Connection *conn,
				     const char *method)
{
	struct loam_api_response resp = {0};
	if (strcmp(method, "GET") != 0) {
		count("/metrics", method, 405);
		return send_json(conn, 405, error_body("invalid", "/metrics is read with GET"));
	}
	api_metrics(
	    api, MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION),
	    &resp);
	count(resp.route, method, resp.status);
	return send_text(conn, resp.status, resp.body,
			 resp.status == 200 ? "text/plain; version=0.0.4; charset=utf-8"
					    : "application/json");
}

/* Accumulates the body, or marks it too big once it is over the limit. */
static void take_upload(struct upload *up, const char *data, size_t size)
{
	if (up->too_big || up->len + size > LOAM_API_BODY_MAX) {
		up->too_big = true;
		return;
	}
	char *p = xrealloc(up->buf, up->len + size + 1);
	memcpy(p + up->len, data, size);
	up->buf = p;
	up->len += size;
	up->buf[up->len] = '\0';
}

/* Read-only and unauthenticated: hosts check each file's sha256.
 * route: GET /artifacts/{path} */
static enum MHD_Result serve_artifact(struct loam_api *api, struct MHD_Connection *conn,
				      const char *method, const char *rel)
{
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return send_json(conn, 405,
				 error_body("invalid", "the artifact store is read-only"));
	if (api->artifact_store)
		return loam_artifact_serve(conn, api->artifact_store, rel) == MHD_YES ? MHD_YES
										      : MHD_NO;
	return send_json(conn, 404,
			 error_body("not_found", "no artifact store in this loamd "
						 "(start it with --artifact-store DIR)"));
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *data,
				  size_t *data_size, void **con_cls)
{
	(void)version;
	struct loam_api *api = cls;
	struct upload *up = *con_cls;
	if (!up) {
		up = calloc(1, sizeof(*up));
		if (!up)
			return MHD_NO;
		*con_cls = up;
		return MHD_YES;
	}
	if (*data_size) {
		take_upload(up, data, *data_size);
		*data_size = 0;
		return MHD_YES;
	}
	if (up->too_big)
		return send_json(conn, 413, error_body("invalid", "request body is over 64 KiB"));
	if (strncmp(url, "/artifacts/", 11) == 0)
		return serve_artifact(api, conn, method, url + 11);
	if (strcmp(url, "/metrics") == 0)
		return serve_metrics(api, conn, method);
	if (strncmp(url, "/v1/", 4) != 0)
		return serve_console(api, conn, url, method, up);
	const char *auth =
	    MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	struct loam_api_response resp = {0};
	loam_api_handle(api, method, url, auth, up->buf, up->len, &resp);
	log_debug("%s %s -> %d", method, url, resp.status);
	count(resp.route, method, resp.status);
	return send_json(conn, resp.status, resp.body);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	(void)cls;
	(void)conn;
	(void)toe;
	struct upload *up = *con_cls;
	if (up) {
		free(up->buf);
		free(up);
		*con_cls = NULL;
	}
}

int loam_api_parse_listen(const char *listen, char *addr_out, size_t addr_size, uint16_t *port,
			  loam_err *err)
{
	const char *colon = listen ? strrchr(listen, ':') : NULL;
	if (!colon)
		return loam_fail(err, LOAM_E_INVALID, "--listen '%.64s' must be ADDR:PORT",
				 listen ? listen : "");
	const char *host = listen;
	size_t hlen = (size_t)(colon - listen);
	if (hlen >= 2 && host[0] == '[' && host[hlen - 1] == ']') {
		host++;
		hlen -= 2;
	}
	char *end = NULL;
	long p = strtol(colon + 1, &end, 10);
	if (!colon[1] || *end || p < 0 || p > 65535)
		return loam_fail(err, LOAM_E_INVALID, "--listen: port must be 0..65535");
	if (hlen == 0 || hlen >= addr_size)
		return loam_fail(err, LOAM_E_INVALID, "--listen: give an IP address before ':'");
	memcpy(addr_out, host, hlen);
	addr_out[hlen] = '\0';
	*port = (uint16_t)p;
	return 0;
}

union sockaddr_any {
	struct sockaddr sa;
	struct sockaddr_in in4;
	struct sockaddr_in6 in6;
};

static int make_sockaddr(const char *addr, uint16_t port, union sockaddr_any *sa, bool *v6,
			 loam_err *err)
{
	memset(sa, 0, sizeof(*sa));
	if (inet_pton(AF_INET, addr, &sa->in4.sin_addr) == 1) {
		sa->in4.sin_family = AF_INET;
		sa->in4.sin_port = htons(port);
		*v6 = false;
		return 0;
	}
	if (inet_pton(AF_INET6, addr, &sa->in6.sin6_addr) == 1) {
		sa->in6.sin6_family = AF_INET6;
		sa->in6.sin6_port = htons(port);
		*v6 = true;
		return 0;
	}
	return loam_fail(err, LOAM_E_INVALID, "--listen: '%.64s' is not an IPv4 or IPv6 address",
			 addr);
}

int loam_api_listen(struct loam_api *api, const char *listen, uint16_t *bound_port, loam_err *err)
{
	char addr[128];
	uint16_t port = 0;
	union sockaddr_any sa;
	bool v6 = false;
	if (loam_api_parse_listen(listen, addr, sizeof(addr), &port, err) < 0 ||
	    make_sockaddr(addr, port, &sa, &v6, err) < 0)
		return -1;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
			 MHD_USE_ERROR_LOG | (v6 ? MHD_USE_IPv6 : 0);
	api->mhd = MHD_start_daemon(flags, port, NULL, NULL, on_request, api, MHD_OPTION_SOCK_ADDR,
				    &sa.sa, MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
				    MHD_OPTION_CONNECTION_TIMEOUT, 60u, MHD_OPTION_CONNECTION_LIMIT,
				    256u, MHD_OPTION_END);
	if (!api->mhd)
		return loam_fail(err, LOAM_E_IO,
				 "cannot listen on %s (in use? pick another with --listen)",
				 listen);
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(api->mhd, MHD_DAEMON_INFO_BIND_PORT);
	*bound_port = info ? info->port : port;
	return 0;
}

void loam_api_stop(struct loam_api *api)
{
	if (api && api->mhd) {
		MHD_stop_daemon(api->mhd);
		api->mhd = NULL;
	}
}
