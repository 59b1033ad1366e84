/*
 * What the API's listener (http.c) and the artifact store's listener
 * (artifact_http.c) share: parsing and binding "ADDR:PORT", JSON answers
 * with the API's extra headers, and percent-encoding.
 */
#ifndef LOAM_API_HTTP_COMMON_H
#define LOAM_API_HTTP_COMMON_H

#include <arpa/inet.h>
#include <microhttpd.h>
#include <stdbool.h>
#include <stdint.h>

#include "lib/err.h"

union http_sockaddr {
	struct sockaddr sa;
	struct sockaddr_in in4;
	struct sockaddr_in6 in6;
};

/* "ADDR:PORT" (an IP literal; "[::1]:0") as a socket address. */
int http_listen_addr(const char *listen, union http_sockaddr *sa, bool *v6, loam_err *err);
/* The port the daemon listens on. */
uint16_t http_bound_port(struct MHD_Daemon *d);
/* Queues body (JSON, freed here) with status; link and retry_after_s add
 * the Link and Retry-After headers when set. */
enum MHD_Result http_send_json(struct MHD_Connection *conn, int status, char *body,
			       const char *link, int retry_after_s);
/* The same with another content type (/metrics' text). */
enum MHD_Result http_send(struct MHD_Connection *conn, int status, char *body,
			  const char *content_type, const char *link, int retry_after_s);
/* {"error": kind, "detail": detail} (the caller frees). */
char *http_error_body(const char *kind, const char *detail);
/* Appends s to out (NUL-terminated, size bytes), every byte outside
 * [A-Za-z0-9._~-] as %XX. */
void http_percent_encode(char *out, size_t size, const char *s);

#endif
