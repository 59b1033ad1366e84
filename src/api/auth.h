/*
 * Who sends a request (issue 16): one function from a bearer token to a
 * principal, for every door of loamd (the /v1 API, and the web console's
 * log-in and /metrics that wave/console adds).
 *
 *   operator  the token in STATE_DIR/token: hosts, artifacts, projects,
 *             tokens, and every project's VMs;
 *   project   a token made by `loam token create --project P`: P's VMs only,
 *             and anything else is answered as if it did not exist (404);
 *   metrics   a token made by `loam token create --metrics`, or the one in
 *             STATE_DIR/metrics-token (a Prometheus server's): /metrics only.
 *
 * The token files' tokens are compared in constant time and need no
 * database.
 * Other tokens are "loam_" and 64 hex characters; the database keeps only
 * their SHA-256 and finds them by it on every request, so a revoked token
 * is refused at its very next request. A missing, malformed, unknown or
 * revoked token is one and the same failure (LOAM_E_AUTH, one message).
 *
 * Use from a console: take the token from the log-in form, call
 * loam_auth_token(); on success keep the principal in the session (keep
 * the token id, to end the session when the token is revoked: check it
 * again with loam_auth_token_live()).
 */
#ifndef LOAM_API_AUTH_H
#define LOAM_API_AUTH_H

#include <stdbool.h>

#include "db/db.h"
#include "lib/err.h"
#include "lib/valid.h"

enum loam_principal_kind {
	LOAM_PRINCIPAL_OPERATOR = 1,
	LOAM_PRINCIPAL_PROJECT,
	LOAM_PRINCIPAL_METRICS,
};

struct loam_principal {
	enum loam_principal_kind kind;
	char token_id[27];		 /* "" for the operator */
	char project_id[27];		 /* PROJECT only */
	char project[LOAM_NAME_MAX + 1]; /* PROJECT only: its name */
};

/* "loam_" and 64 hex characters. */
#define LOAM_TOKEN_PREFIX "loam_"
#define LOAM_TOKEN_LEN	  (5 + 64)

/* The tokens loamd keeps in files of its state dir. */
struct loam_auth_files {
	const char *operator_token; /* STATE_DIR/token */
	const char *metrics_token;  /* STATE_DIR/metrics-token; NULL: none */
};

/* Who holds token (NUL-terminated). db is needed only for tokens other
 * than the files' (may be NULL: they are then refused as unknown). */
int loam_auth_token(const struct loam_auth_files *files, struct loam_db *db, const char *token,
		    struct loam_principal *who, loam_err *err);
/* The same from an Authorization header's value ("Bearer TOKEN"; NULL when
 * the request has none). */
int loam_auth_bearer(const struct loam_auth_files *files, struct loam_db *db,
		     const char *authorization, struct loam_principal *who, loam_err *err);
/* Whether authorization carries a token that only the database can tell
 * (not the operator's shape): callers that avoid the database for the
 * operator take a connection only then. */
bool loam_auth_bearer_needs_db(const char *authorization);
/* Whether the principal's token still exists (the operator's always does):
 * for sessions that outlive one request. */
int loam_auth_token_live(struct loam_db *db, const struct loam_principal *who, bool *live,
			 loam_err *err);
/* Whether secret and given are equal, in constant time in their content
 * (false when either is NULL or empty): tokens, session ids, CSRF tokens. */
bool loam_secret_equal(const char *secret, const char *given);
/* Whether the principal may read /metrics: the operator or a metrics token. */
bool loam_principal_reads_metrics(const struct loam_principal *who);

/* A new token: *token (LOAM_TOKEN_LEN + 1 bytes) to show once, its SHA-256
 * as hex (65 bytes) to store, and a hint (13 bytes: "loam_" and 8 hex) to
 * tell tokens apart in listings. */
int loam_auth_token_new(char *token, char *sha256_hex, char *hint, loam_err *err);

#endif
