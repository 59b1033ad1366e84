/*
 * The listeners' shared parts (http_common.h): addresses, JSON answers and
 * percent-encoding.
 */
#include "api/http_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "lib/json.h"

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

bool loam_api_addr_is_loopback(const char *addr)
{
	struct in_addr a4;
	struct in6_addr a6;
	if (inet_pton(AF_INET, addr, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	return inet_pton(AF_INET6, addr, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
}

int http_listen_addr(const char *listen, union http_sockaddr *sa, bool *v6, loam_err *err)
{
	char addr[128];
	uint16_t port = 0;
	if (loam_api_parse_listen(listen, addr, sizeof(addr), &port, err) < 0)
		return -1;
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

uint16_t http_bound_port(struct MHD_Daemon *d)
{
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	return info ? info->port : 0;
}

enum MHD_Result http_send_json(struct MHD_Connection *conn, int status, char *body,
			       const char *link, int retry_after_s)
{
	return http_send(conn, status, body, "application/json", link, retry_after_s);
}

enum MHD_Result http_send(struct MHD_Connection *conn, int status, char *body,
			  const char *content_type, const char *link, int retry_after_s)
{
	struct MHD_Response *resp =
	    MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
	if (link && *link)
		MHD_add_response_header(resp, "Link", link);
	if (retry_after_s > 0) {
		char s[16];
		snprintf(s, sizeof(s), "%d", retry_after_s);
		MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, s);
	}
	enum MHD_Result ret = MHD_queue_response(conn, (unsigned)status, resp);
	MHD_destroy_response(resp);
	return ret;
}

char *http_error_body(const char *kind, const char *detail)
{
	json_t *doc = json_pack("{s:s, s:s}", "error", kind, "detail", detail);
	char *s = loam_json_dump(doc);
	json_decref(doc);
	return s;
}

void http_percent_encode(char *out, size_t size, const char *s)
{
	size_t n = strlen(out);
	for (; *s && n + 4 < size; s++) {
		unsigned char c = (unsigned char)*s;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    strchr("._~-", c))
			out[n++] = (char)c;
		else
			n += (size_t)snprintf(out + n, size - n, "%%%02X", c);
	}
	out[n] = '\0';
}
