/*
 * Serves loamd over HTTP or HTTPS with libmicrohttpd: one thread per
 * connection (each takes a DB connection from the pool only while a
 * request runs), built to hold under hostile clients: at most N
 * connections from one address (the rest are closed at accept, so one
 * address cannot starve the others), a short idle timeout (a client that
 * sends nothing is dropped), a deadline for a request's body once its
 * headers are in, and bodies buffered up to LOAM_API_BODY_MAX. TLS is
 * GnuTLS inside libmicrohttpd, with the certificate and key read from PEM
 * files. The paths:
 *   /v1/...        the JSON API (api.c), bearer token
 *   /metrics       Prometheus (metrics.c), a principal that reads metrics
 *   anything else  the web console (console.c), session cookie
 * Every request is counted by route and status. The artifact store has a
 * listener of its own (artifact_http.c).
 */
#include "api/internal.h"

#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/console.h"
#include "api/http_common.h"
#include "lib/clock.h"
#include "lib/cleanup.h"
#include "lib/fs.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/metrics.h"
#include "lib/xalloc.h"

#define DEFAULT_PER_IP	  32
#define DEFAULT_TIMEOUT_S 10
#define CONNECTIONS_MAX	  512
#define QUERY_MAX	  1024
#define PEM_MAX		  ((size_t)1024 * 1024)

struct upload {
	char *buf;
	size_t len;
	bool too_big, too_slow;
	int64_t started_ms; /* when the headers were in */
};

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
		return http_send_json(
		    conn, 405, http_error_body("invalid", "/metrics is read with GET"), NULL, 0);
	}
	api_metrics(
	    api, MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION),
	    &resp);
	count(resp.route, method, resp.status);
	return http_send(conn, resp.status, resp.body,
			 resp.status == 200 ? "text/plain; version=0.0.4; charset=utf-8"
					    : "application/json",
			 NULL, 0);
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

struct query_buf {
	char s[QUERY_MAX];
	bool too_long;
};

/* libmicrohttpd decodes the query's arguments; they are encoded again as
 * one string for loam_api_handle, which decodes and checks them. */
static enum MHD_Result add_arg(void *cls, enum MHD_ValueKind kind, const char *key,
			       const char *value)
{
	(void)kind;
	struct query_buf *q = cls;
	char part[QUERY_MAX];
	part[0] = '\0';
	http_percent_encode(part, sizeof(part), key);
	strncat(part, "=", sizeof(part) - strlen(part) - 1);
	http_percent_encode(part, sizeof(part), value ? value : "");
	size_t n = strlen(q->s);
	if (n + strlen(part) + 2 >= sizeof(q->s)) {
		q->too_long = true;
		return MHD_NO;
	}
	snprintf(q->s + n, sizeof(q->s) - n, "%s%s", n ? "&" : "", part);
	return MHD_YES;
}

static enum MHD_Result answer(struct loam_api *api, struct MHD_Connection *conn, const char *url,
			      const char *method, const struct upload *up)
{
	struct query_buf q = {0};
	MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, add_arg, &q);
	if (q.too_long) {
		count("unmatched", method, 414);
		return http_send_json(conn, 414,
				      http_error_body("invalid", "query string too long"), NULL, 0);
	}
	cleanup_free char *path = q.s[0] ? xasprintf("%s?%s", url, q.s) : xstrdup(url);
	const char *auth =
	    MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	struct loam_api_response resp = {0};
	loam_api_handle(api, method, path, auth, up->buf, up->len, &resp);
	log_debug("%s %s -> %d", method, url, resp.status);
	count(resp.route, method, resp.status);
	return http_send_json(conn, resp.status, resp.body, resp.link, resp.retry_after_s);
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
		up->started_ms = loam_now_ms();
		*con_cls = up;
		return MHD_YES;
	}
	if (*data_size) {
		/* A body that trickles in is cut off: its connection closes. */
		if (loam_now_ms() - up->started_ms > (int64_t)api->body_timeout_ms)
			return MHD_NO;
		take_upload(up, data, *data_size);
		*data_size = 0;
		return MHD_YES;
	}
	if (up->too_big)
		return http_send_json(
		    conn, 413, http_error_body("invalid", "request body is over 64 KiB"), NULL, 0);
	if (strncmp(url, "/artifacts/", 11) == 0)
		return http_send_json(conn, 404,
				      http_error_body("not_found",
						      "the artifact store has a listener of its "
						      "own (loamd --artifact-listen)"),
				      NULL, 0);
	if (strcmp(url, "/metrics") == 0)
		return serve_metrics(api, conn, method);
	if (strncmp(url, "/v1/", 4) != 0)
		return serve_console(api, conn, url, method, up);
	return answer(api, conn, url, method, up);
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

static int read_pem(const char *path, const char *what, char **out, loam_err *err)
{
	size_t len = 0;
	if (loam_read_file(path, PEM_MAX, out, &len, err) < 0)
		return loam_err_wrap(err, "%s", what);
	if (!strstr(*out, "-----BEGIN "))
		return loam_fail(err, LOAM_E_INVALID, "%s %s is not a PEM file", what, path);
	return 0;
}

static int load_tls(struct loam_api *api, const struct loam_api_listen_opts *o, loam_err *err)
{
	if (!o->tls_cert_file && !o->tls_key_file)
		return 0;
	if (!o->tls_cert_file || !o->tls_key_file)
		return loam_fail(err, LOAM_E_INVALID, "TLS needs both --tls-cert and --tls-key");
	if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
		return loam_fail(err, LOAM_E_INVALID,
				 "this libmicrohttpd was built without TLS; install Debian's "
				 "libmicrohttpd12 (built with GnuTLS)");
	return read_pem(o->tls_cert_file, "--tls-cert", &api->tls_cert, err) < 0 ||
		       read_pem(o->tls_key_file, "--tls-key", &api->tls_key, err) < 0
		   ? -1
		   : 0;
}

int loam_api_listen(struct loam_api *api, const struct loam_api_listen_opts *o,
		    uint16_t *bound_port, loam_err *err)
{
	union http_sockaddr sa;
	bool v6 = false;
	if (http_listen_addr(o->listen, &sa, &v6, err) < 0 || load_tls(api, o, err) < 0)
		return -1;
	api->body_timeout_ms = (o->body_timeout_s ? o->body_timeout_s : DEFAULT_TIMEOUT_S) * 1000;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
			 MHD_USE_ERROR_LOG | (v6 ? MHD_USE_IPv6 : 0) |
			 (api->tls_cert ? MHD_USE_TLS : 0);
	struct MHD_OptionItem opts[] = {
	    {MHD_OPTION_SOCK_ADDR, 0, &sa.sa},
	    {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, NULL},
	    {MHD_OPTION_CONNECTION_TIMEOUT,
	     o->idle_timeout_s ? o->idle_timeout_s : DEFAULT_TIMEOUT_S, NULL},
	    {MHD_OPTION_CONNECTION_LIMIT, CONNECTIONS_MAX, NULL},
	    {MHD_OPTION_PER_IP_CONNECTION_LIMIT,
	     o->per_ip_connections ? o->per_ip_connections : DEFAULT_PER_IP, NULL},
	    /* the TLS pair last: without TLS the list ends before it */
	    {api->tls_cert ? MHD_OPTION_HTTPS_MEM_KEY : MHD_OPTION_END, 0, api->tls_key},
	    {MHD_OPTION_HTTPS_MEM_CERT, 0, api->tls_cert},
	    {MHD_OPTION_END, 0, NULL},
	};
	api->mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_request, api, MHD_OPTION_ARRAY, opts,
				    MHD_OPTION_END);
	if (!api->mhd)
		return loam_fail(err, LOAM_E_IO,
				 "cannot serve the API on %s (address in use? a bad certificate or "
				 "key? pick another with --listen)",
				 o->listen);
	*bound_port = http_bound_port(api->mhd);
	return 0;
}

void loam_api_stop(struct loam_api *api)
{
	if (api && api->mhd) {
		MHD_stop_daemon(api->mhd);
		api->mhd = NULL;
	}
	if (api && api->artifacts_mhd) {
		MHD_stop_daemon(api->artifacts_mhd);
		api->artifacts_mhd = NULL;
	}
}
