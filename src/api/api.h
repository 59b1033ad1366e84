/*
 * The HTTP/JSON API of loamd (docs/api.md): routes under /v1/ for hosts,
 * VMs, sizes, strands and artifacts, bearer-token auth, and JSON errors. The request
 * logic (loam_api_handle) is independent of libmicrohttpd so that it is
 * one function from (method, path, auth, body) to (status, JSON); http.c
 * serves it with libmicrohttpd.
 */
#ifndef LOAM_API_H
#define LOAM_API_H

#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"

struct loam_allocator;

/* Request bodies larger than this are refused with 413. */
#define LOAM_API_BODY_MAX ((size_t)64 * 1024)

struct loam_api_config {
	const char *state_dir; /* loamd's state dir; a local host's dir defaults under it */
	const char *db_url;    /* each request thread takes a connection from a pool */
	const char *token;     /* the bearer token every /v1 request must carry */
	struct loam_allocator *alloc;
	const char *artifact_store; /* served under /artifacts/ without auth; NULL: none */
	const char *metrics_token;  /* also reads /metrics (the operator token does too);
				       NULL: the operator token only */
};

struct loam_api;

int loam_api_new(const struct loam_api_config *cfg, struct loam_api **out, loam_err *err);
void loam_api_free(struct loam_api *api); /* stops the server first */

/* fn(arg) runs after every request that changed state (any method but GET),
 * so that loamd's engine picks up a new or signalled strand at once rather
 * than at its next poll. Set once the engine runs; NULL fn clears it. */
void loam_api_on_change(struct loam_api *api, void (*fn)(void *arg), void *arg);

struct loam_api_response {
	int status;
	char *body;	/* JSON; the caller frees */
	char route[96]; /* the matched route's pattern, '*' for a name: for metrics */
};

/* Runs one request: auth, routing, body parsing, the handler, and the
 * error mapping. auth is the Authorization header or NULL. */
void loam_api_handle(struct loam_api *api, const char *method, const char *path, const char *auth,
		     const char *body, size_t body_len, struct loam_api_response *resp);

/* Serves the API on "ADDR:PORT" ("[::1]:7070" for IPv6; port 0 picks a
 * free one) with libmicrohttpd threads. *bound_port gets the real port. */
int loam_api_listen(struct loam_api *api, const char *listen, uint16_t *bound_port, loam_err *err);
void loam_api_stop(struct loam_api *api);

/* Splits "ADDR:PORT"; addr is written NUL-terminated into addr_out. */
int loam_api_parse_listen(const char *listen, char *addr_out, size_t addr_size, uint16_t *port,
			  loam_err *err);

#endif
