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
#include "api/auth.h"
#include "db/db.h"
#include "db/host.h"
#include "db/strand_view.h"
#include "db/vm.h"

#define API_POOL_MAX	 8
#define API_MAX_SEGMENTS 4
/* Listings: items per page without ?limit=, and the most one page takes. */
#define API_PAGE_DEFAULT 100
#define API_PAGE_MAX	 1000

struct MHD_Daemon;
struct api_limiter;
struct console_sessions;
struct api_images;
struct loam_artifact_manifest;

struct loam_api {
	char *state_dir;
	char *db_url;
	char *token;
	struct loam_allocator *alloc;
	char *artifact_store;			  /* NULL: /artifacts/ answers 404 */
	char **host_state_roots, **ssh_key_roots; /* NULL-terminated */
	struct api_limiter *limiter;		  /* creates per token */
	char *metrics_token;			  /* STATE_DIR/metrics-token, or NULL */
	struct console_sessions *sessions;	  /* the web console's (console_session.c) */
	struct api_images *images;		  /* the served manifest's images; NULL: no store */
	pthread_mutex_t pool_mu;
	struct loam_db *pool[API_POOL_MAX];
	size_t npool;
	struct MHD_Daemon *mhd;		  /* the API */
	struct MHD_Daemon *artifacts_mhd; /* the artifact store, its own listener */
	char *tls_cert, *tls_key;	  /* PEM, kept while mhd runs */
	unsigned body_timeout_ms;	  /* a body must be whole this soon after its headers */
	void (*on_change)(void *arg);	  /* under pool_mu */
	void *on_change_arg;
	void (*on_fatal)(void *arg, const char *why); /* under pool_mu */
	void *on_fatal_arg;
};

/* The query string's parameters the API knows; each is decoded and
 * checked before a handler runs. */
struct api_query {
	struct loam_db_page page; /* ?limit= (default API_PAGE_DEFAULT), ?after= */
	const char *project;	  /* ?project=: the operator's choice of project */
};

struct api_req {
	struct loam_api *api;
	struct loam_db *db;
	const char *method;
	const char *seg[API_MAX_SEGMENTS]; /* path segments after /v1/ */
	size_t nseg;
	const char *path; /* "/v1/..." without the query, for links */
	struct api_query q;
	struct loam_principal who;
	json_t *body;		    /* parsed request body, or NULL when empty */
	int status;		    /* set by the handler; 200 when left 0 */
	json_t *out;		    /* the response document, set by the handler */
	char next[512];		    /* a listing's next page (the Link header), or "" */
	char text[2048];	    /* what seg, path and q point into */
	int retry_after_s;	    /* with 429 */
	const char *const *pattern; /* the matched route's segments */
};

typedef int (*api_route_fn)(struct api_req *r, loam_err *err);

/* Route handlers (hosts.c, host_add.c, host_set.c, vms.c, sizes.c,
 * strands.c, projects.c, tokens.c). */
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
int api_projects_create(struct api_req *r, loam_err *err);
int api_projects_list(struct api_req *r, loam_err *err);
int api_projects_show(struct api_req *r, loam_err *err);
int api_projects_set(struct api_req *r, loam_err *err);
int api_projects_delete(struct api_req *r, loam_err *err);
int api_tokens_create(struct api_req *r, loam_err *err);
int api_tokens_list(struct api_req *r, loam_err *err);
int api_tokens_delete(struct api_req *r, loam_err *err);
/* artifacts.c */
int api_artifacts_list(struct api_req *r, loam_err *err);
int api_artifacts_gc(struct api_req *r, loam_err *err);
int api_artifacts_weight(struct api_req *r, loam_err *err);
/* upgrade.c */
int api_hosts_upgrade(struct api_req *r, loam_err *err);
int api_vms_upgrade(struct api_req *r, loam_err *err);
/* vm_console.c */
int api_vms_console(struct api_req *r, loam_err *err);
/* images.c: the images of the manifest loamd serves (NULL m: none known,
 * and every image name passes), GET /v1/images, and the create's check:
 * LOAM_E_INVALID naming the images of arch unless image has a build for
 * it. */
struct api_images *api_images_new(const struct loam_artifact_manifest *m);
void api_images_free(struct api_images *x);
int api_image_check(const struct loam_api *api, const char *image, const char *arch, loam_err *err);
int api_images_list(struct api_req *r, loam_err *err);
struct loam_transport;
/* A transport to the host, opened with its pinned key (the caller closes). */
int api_host_transport(const struct loam_host *row, struct loam_transport **t, loam_err *err);

/* api.c: a DB connection from the pool (checked against the database
 * file), and back. */
int api_pool_get(struct loam_api *api, struct loam_db **out, loam_err *err);
void api_pool_put(struct loam_api *api, struct loam_db *db);
/* Who sends authorization (auth.h, with loamd's token files): the one
 * check behind /v1/, /metrics and the console's log-in. *db is a pool
 * connection taken when the token needs the database, or left NULL (the
 * caller puts it back). */
int api_authenticate(struct loam_api *api, const char *authorization, struct loam_db **db,
		     struct loam_principal *who, loam_err *err);
/* The same for a bare token (the console's log-in form). */
int api_authenticate_token(struct loam_api *api, const char *token, struct loam_principal *who,
			   loam_err *err);
/* Runs a request on behalf of a caller authenticated already (a console
 * session of principal who): the same routes, handlers and errors as
 * loam_api_handle without the bearer token. *doc gets the response
 * document (an {"error", "detail"} object on failure); returns the HTTP
 * status. */
int api_call_internal(struct loam_api *api, const struct loam_principal *who, const char *method,
		      const char *path, const json_t *body, json_t **doc);
/* metrics.c: GET /metrics, for a principal that reads metrics. */
void api_metrics(struct loam_api *api, const char *auth, struct loam_api_response *resp);

/* vm_net.c: a VM's network in its view, open ports at create, firewall. */
struct loam_vm;
struct loam_vm_port;
int api_vm_net_view(struct loam_db *db, const struct loam_vm *vm, json_t *v, loam_err *err);
/* Adds login_user, ssh_host_keys (fingerprints) and host_keys (type,
 * fingerprint, key) to a VM's view. */
int api_vm_guest_view(struct loam_db *db, const struct loam_vm *vm, json_t *v, loam_err *err);
int api_vm_ports_parse(const json_t *list, struct loam_vm_port **out, size_t *n, loam_err *err);
int api_vm_ports_insert(struct loam_db *db, const char *vm_id, const struct loam_vm_port *ports,
			size_t n, loam_err *err);
int api_vm_firewall_list(struct api_req *r, loam_err *err);
int api_vm_firewall_add(struct api_req *r, loam_err *err);
int api_vm_firewall_rm(struct api_req *r, loam_err *err);

/* body.c: request bodies. */
/* Fails unless the body is an object whose keys are all in `allowed`
 * (NULL-terminated); an empty body counts as {} when allow_empty. */
int api_body_check(struct api_req *r, const char *const *allowed, bool allow_empty, loam_err *err);
/* An optional string field of at most max bytes, without control chars. */
int api_body_str(struct api_req *r, const char *key, size_t max, const char **out, loam_err *err);

/* query.c: the query string, and the pages of listings. */
/* Parses "limit=..&after=..&project=.." (percent-decoded into buf). */
int api_query_parse(const char *query, char *buf, size_t size, struct api_query *q, loam_err *err);
/* A listing reads limit + 1 rows (loam_db_page_limit): it shows the first
 * api_page_shown(r, got) of them and, when it got more, calls
 * api_page_link with the key of the last one shown, which sets r->next to
 * the next page's link. */
size_t api_page_shown(const struct api_req *r, size_t got);
void api_page_link(struct api_req *r, const char *last_key);
/* A listing built whole: sorts it by the items' key (key_of), keeps the
 * page ?after= and ?limit= ask for, and sets r->next. */
void api_page_array(struct api_req *r, json_t *list, char *(*key_of)(const json_t *item));

/* ratelimit.c: creates per token, a token bucket each. */
struct api_limiter *api_limiter_new(double per_s, unsigned burst);
void api_limiter_free(struct api_limiter *l);
/* 0 when key may create now (and takes one), else the seconds to wait. */
int api_limiter_take(struct api_limiter *l, const char *key);

/* paths.c: paths a client names must sit under the operator's roots. */
/* LOAM_E_INVALID, one message whatever the path (outside the roots, or
 * under them but missing or unreadable), naming the roots: nothing tells
 * whether a file exists outside them. */
int api_check_ssh_key(const struct loam_api *api, const char *path, loam_err *err);
int api_check_state_dir(const struct loam_api *api, const char *path, loam_err *err);
/* The roots as loamd uses them: given, or the defaults under state_dir. */
char **api_roots_new(const char *const *given, const char *const *defaults);
void api_roots_free(char **roots);

/* host_key.c: "TYPE BASE64 [comment]" → "TYPE BASE64" (*out freed by the
 * caller), the key blob checked to be of TYPE. */
int api_host_key_parse(const char *in, char **out, loam_err *err);

/* vms.c: the VM named seg[1] that the principal may see (a project token:
 * its project's; the operator: ?project=, else any project). */
int api_vm_lookup(struct api_req *r, const char *name, struct loam_vm *vm, loam_err *err);
/* The project a request acts in: the principal's, or for the operator
 * ?project= (or the body's "project"), else the default. 0 with *id and
 * *name; LOAM_E_NOTFOUND for a project that does not exist or that the
 * principal may not see. */
int api_request_project(struct api_req *r, const char *named, char id[27],
			char name[LOAM_NAME_MAX + 1], loam_err *err);

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
