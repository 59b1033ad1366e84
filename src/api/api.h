/*
 * The HTTP/JSON API of loamd (docs/api.md): routes under /v1/ for hosts,
 * VMs, sizes, strands, artifacts, projects and tokens, bearer-token auth
 * (auth.h: the operator, a project, or metrics), and JSON errors. The
 * request logic (loam_api_handle) is independent of libmicrohttpd so that
 * it is one function from (method, path, auth, body) to (status, JSON);
 * http.c serves it with libmicrohttpd (over TLS when given a certificate),
 * and artifact_http.c serves the artifact store on a listener of its own.
 */
#ifndef LOAM_API_H
#define LOAM_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"

struct loam_allocator;
struct loam_artifact_manifest;

/* The image a VM boots unless it names one (`loam image ls`): Debian 12,
 * which cloud-init gives the user's login. loam-tiny (busybox) is for
 * tests and benchmarks that only need a guest to boot. */
#define LOAM_DEFAULT_BOOT_IMAGE "debian-12"
/* Request bodies larger than this are refused with 413. */
#define LOAM_API_BODY_MAX ((size_t)64 * 1024)

struct loam_api_config {
	const char *state_dir; /* loamd's state dir; a local host's dir defaults under it */
	const char *db_url;    /* each request thread takes a connection from a pool */
	const char *token;     /* the operator's bearer token (STATE_DIR/token) */
	struct loam_allocator *alloc;
	const char *artifact_store; /* served under /artifacts/ without auth; NULL: none */
	/* The store's manifest as loamd loaded it (what hosts install): the
	 * images a VM may name (copied). NULL: no store, any name passes. */
	const struct loam_artifact_manifest *manifest;
	/* Where a client may point a host's state_dir and ssh_key (NULL-
	 * terminated; NULL: /var/lib/loam and state_dir; $HOME/.ssh and
	 * state_dir/ssh). */
	const char *const *host_state_roots;
	const char *const *ssh_key_roots;
	/* VM and host creates per token: a bucket of create_burst (default 20)
	 * refilled at create_per_s a second (default 2). */
	double create_per_s;
	unsigned create_burst;
	/* The token in STATE_DIR/metrics-token: reads /metrics only (so do the
	 * operator token and metrics-scope API tokens); NULL: none. */
	const char *metrics_token;
};

struct loam_api;

int loam_api_new(const struct loam_api_config *cfg, struct loam_api **out, loam_err *err);
void loam_api_free(struct loam_api *api); /* stops the server first */

/* fn(arg) runs after every request that changed state (any method but GET),
 * so that loamd's engine picks up a new or signalled strand at once rather
 * than at its next poll. Set once the engine runs; NULL fn clears it. */
void loam_api_on_change(struct loam_api *api, void (*fn)(void *arg), void *arg);
/* fn(arg, why) runs when the API finds its database file deleted or
 * replaced (loam_db_check_file on each connection it takes from its pool):
 * loamd then stops at once. Until it does, requests get 503. */
void loam_api_on_fatal(struct loam_api *api, void (*fn)(void *arg, const char *why), void *arg);

struct loam_api_response {
	int status;
	char *body;	   /* JSON; the caller frees */
	char link[512];	   /* a listing's next page: a Link header's value, or "" */
	int retry_after_s; /* with 429: the Retry-After header, else 0 */
	char route[96];	   /* the matched route's pattern, '*' for a name: for metrics */
};

/* Runs one request: auth, routing, query and body parsing, the handler,
 * and the error mapping. path may end with "?query". auth is the
 * Authorization header or NULL. */
void loam_api_handle(struct loam_api *api, const char *method, const char *path, const char *auth,
		     const char *body, size_t body_len, struct loam_api_response *resp);

struct loam_api_listen_opts {
	const char *listen;	   /* "ADDR:PORT" ("[::1]:7070"; port 0 picks one) */
	const char *tls_cert_file; /* PEM; with tls_key_file: HTTPS. NULL: HTTP */
	const char *tls_key_file;
	unsigned per_ip_connections; /* default 32 */
	unsigned idle_timeout_s;     /* a connection silent this long is closed; default 10 */
	unsigned body_timeout_s;     /* a body not whole this long after the headers: closed; 10 */
};

/* Serves the API with libmicrohttpd threads (one per connection, at most
 * per_ip_connections from one address). *bound_port gets the real port. */
int loam_api_listen(struct loam_api *api, const struct loam_api_listen_opts *o,
		    uint16_t *bound_port, loam_err *err);
/* Serves the artifact store (read-only, no auth, plain HTTP: hosts check
 * every file's sha256) on a listener of its own, so that hosts downloading
 * do not compete with API clients. */
int loam_api_listen_artifacts(struct loam_api *api, const char *listen, uint16_t *bound_port,
			      loam_err *err);
void loam_api_stop(struct loam_api *api);

/* Splits "ADDR:PORT"; addr is written NUL-terminated into addr_out. */
int loam_api_parse_listen(const char *listen, char *addr_out, size_t addr_size, uint16_t *port,
			  loam_err *err);
/* Whether addr (an IP literal, as loam_api_parse_listen gives it) is a
 * loopback address: 127.0.0.0/8 or ::1. */
bool loam_api_addr_is_loopback(const char *addr);

#endif
