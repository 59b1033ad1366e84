/*
 * What the API's source files share: the api struct with its DB connection
 * pool, the per-request context handed to each route handler, the helpers
 * for request bodies, and the JSON views of the model's structs.
 */
#ifndef LOAM_API_INTERNAL_H
#define LOAM_API_INTERNAL_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>

#include "api/api.h"
#include "db/db.h"
#include "db/host.h"
#include "db/strand_view.h"

#define API_POOL_MAX	 8
#define API_MAX_SEGMENTS 4

struct MHD_Daemon;
struct console_sessions;

struct loam_api {
	char *state_dir;
	char *db_url;
	char *token;
	struct loam_allocator *alloc;
	char *artifact_store;		   /* NULL: /artifacts/ answers 404 */
	char *metrics_token;		   /* NULL: only the operator token reads /metrics */
	struct console_sessions *sessions; /* the web console's (console_session.c) */
	pthread_mutex_t pool_mu;
	struct loam_db *pool[API_POOL_MAX];
	size_t npool;
	struct MHD_Daemon *mhd;
	void (*on_change)(void *arg); /* under pool_mu */
	void *on_change_arg;
};

struct api_req {
	struct loam_api *api;
	struct loam_db *db;
	const char *method;
	const char *seg[API_MAX_SEGMENTS]; /* path segments after /v1/ */
	size_t nseg;
	json_t *body;		    /* parsed request body, or NULL when empty */
	int status;		    /* set by the handler; 200 when left 0 */
	json_t *out;		    /* the response document, set by the handler */
	const char *const *pattern; /* the matched route's segments */
};

typedef int (*api_route_fn)(struct api_req *r, loam_err *err);

/* Route handlers (hosts.c, host_add.c, host_set.c, vms.c, sizes.c,
 * strands.c). */
int api_hosts_add(struct api_req *r, loam_err *err);
int api_hosts_list(struct api_req *r, loam_err *err);
int api_hosts_show(struct api_req *r, loam_err *err);
int api_hosts_set(struct api_req *r, loam_err *err);
int api_hosts_delete(struct api_req *r, loam_err *err);
int api_vms_create(struct api_req *r, loam_err *err);
int api_vms_list(struct api_req *r, loam_err *err);
int api_vms_show(struct api_req *r, loam_err *err);
int api_vms_action(struct api_req *r, loam_err *err);
int api_vms_delete(struct api_req *r, loam_err *err);
int api_sizes_list(struct api_req *r, loam_err *err);
int api_strands_list(struct api_req *r, loam_err *err);
int api_strands_show(struct api_req *r, loam_err *err);
/* artifacts.c */
int api_artifacts_list(struct api_req *r, loam_err *err);
int api_artifacts_gc(struct api_req *r, loam_err *err);
int api_hosts_upgrade(struct api_req *r, loam_err *err);
/* vm_console.c */
int api_vms_console(struct api_req *r, loam_err *err);
struct loam_transport;
/* A transport to the host, opened with its pinned key (the caller closes). */
int api_host_transport(const struct loam_host *row, struct loam_transport **t, loam_err *err);

/* api.c: a DB connection from the pool, and back. */
int api_pool_get(struct loam_api *api, struct loam_db **out, loam_err *err);
void api_pool_put(struct loam_api *api, struct loam_db *db);
/* A secret compared in constant time (false when either is NULL or empty),
 * and the operator token. */
bool api_secret_equal(const char *secret, const char *given);
bool api_token_equal(const struct loam_api *api, const char *given);
/* Runs a request on behalf of a caller authenticated already (a console
 * session): the same routes, handlers and errors as loam_api_handle
 * without the bearer token. *doc gets the response document (an
 * {"error", "detail"} object on failure); returns the HTTP status. */
int api_call_internal(struct loam_api *api, const char *method, const char *path,
		      const json_t *body, json_t **doc);
/* metrics.c: GET /metrics, with the metrics or the operator token. */
void api_metrics(struct loam_api *api, const char *auth, struct loam_api_response *resp);

/* body.c: request bodies. */
/* Fails unless the body is an object whose keys are all in `allowed`
 * (NULL-terminated); an empty body counts as {} when allow_empty. */
int api_body_check(struct api_req *r, const char *const *allowed, bool allow_empty, loam_err *err);
/* An optional string field of at most max bytes, without control chars. */
int api_body_str(struct api_req *r, const char *key, size_t max, const char **out, loam_err *err);

/* rows.c: reading result rows by column name (vms.c). */
const char *api_text(const struct loam_db_rows *rows, size_t row, const char *name);
int64_t api_int(const struct loam_db_rows *rows, size_t row, const char *name);
bool api_null(const struct loam_db_rows *rows, size_t row, const char *name);
/* A text column as a JSON string, or null. */
json_t *api_json_text(const struct loam_db_rows *rows, size_t row, const char *name);

/* A strand as GET /v1/strands shows it (strands.c); a host's view embeds it. */
json_t *api_strand_json(const struct loam_strand_view *s);
/* The 404 of a host name that does not exist. */
int api_host_not_found(const char *name, loam_err *err);

#endif
