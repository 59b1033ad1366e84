/*
 * Bearer tokens to principals (auth.h): the operator's token compared in
 * constant time, project and metrics tokens found by their SHA-256, and
 * new tokens from OpenSSL's random bytes.
 */
#include "api/auth.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

#include "db/project.h"
#include "lib/cleanup.h"
#include "lib/sha256.h"

#define SECRET_BYTES 32
#define HINT_HEX     8

static const char bearer[] = "Bearer ";
static const char db_prefix[] = LOAM_TOKEN_PREFIX;

static int refuse(loam_err *err)
{
	return loam_fail(err, LOAM_E_AUTH,
			 "missing or wrong bearer token; send 'Authorization: Bearer TOKEN' "
			 "with the token from loamd's state dir (DIR/token) or one made by: "
			 "loam token create");
}

/* The length check leaks only the length, which is fixed and public (64
 * hex characters). */
bool loam_secret_equal(const char *secret, const char *given)
{
	size_t n = secret ? strlen(secret) : 0;
	if (n == 0 || !given || strlen(given) != n)
		return false;
	return CRYPTO_memcmp(given, secret, n) == 0;
}

/* "loam_" and 64 lower-case hex digits: anything else is never looked up. */
static bool db_shaped(const char *given)
{
	size_t p = sizeof(db_prefix) - 1;
	return strlen(given) == LOAM_TOKEN_LEN && strncmp(given, db_prefix, p) == 0 &&
	       strspn(given + p, "0123456789abcdef") == LOAM_TOKEN_LEN - p;
}

static int from_row(const struct loam_token *t, struct loam_principal *who, loam_err *err)
{
	*who = (struct loam_principal){0};
	snprintf(who->token_id, sizeof(who->token_id), "%s", t->id);
	if (strcmp(t->scope, "metrics") == 0) {
		who->kind = LOAM_PRINCIPAL_METRICS;
		return 0;
	}
	if (strcmp(t->scope, "project") != 0 || !t->project_id || !t->project)
		return refuse(err);
	who->kind = LOAM_PRINCIPAL_PROJECT;
	snprintf(who->project_id, sizeof(who->project_id), "%s", t->project_id);
	snprintf(who->project, sizeof(who->project), "%s", t->project);
	return 0;
}

int loam_auth_token(const struct loam_auth_files *files, struct loam_db *db, const char *given,
		    struct loam_principal *who, loam_err *err)
{
	*who = (struct loam_principal){0};
	if (!given)
		return refuse(err);
	/* both compared, so the time taken does not tell which one matched */
	bool op = loam_secret_equal(files->operator_token, given);
	bool metrics = loam_secret_equal(files->metrics_token, given);
	if (op || metrics) {
		who->kind = op ? LOAM_PRINCIPAL_OPERATOR : LOAM_PRINCIPAL_METRICS;
		return 0;
	}
	if (!db || !db_shaped(given))
		return refuse(err);
	char hex[LOAM_SHA256_HEX_LEN + 1];
	if (loam_sha256_buf(given, strlen(given), hex, err) < 0)
		return -1;
	cleanup_token struct loam_token t = {0};
	int found = loam_token_find(db, hex, &t, err);
	if (found < 0)
		return loam_err_wrap(err, "look up the API token");
	return found ? from_row(&t, who, err) : refuse(err);
}

int loam_auth_bearer(const struct loam_auth_files *files, struct loam_db *db,
		     const char *authorization, struct loam_principal *who, loam_err *err)
{
	if (!authorization || strncmp(authorization, bearer, sizeof(bearer) - 1) != 0) {
		*who = (struct loam_principal){0};
		return refuse(err);
	}
	return loam_auth_token(files, db, authorization + sizeof(bearer) - 1, who, err);
}

bool loam_auth_bearer_needs_db(const char *authorization)
{
	return authorization && strncmp(authorization, bearer, sizeof(bearer) - 1) == 0 &&
	       db_shaped(authorization + sizeof(bearer) - 1);
}

int loam_auth_token_live(struct loam_db *db, const struct loam_principal *who, bool *live,
			 loam_err *err)
{
	/* the token files' principals have no row (and no token id) */
	*live = who->kind == LOAM_PRINCIPAL_OPERATOR || !who->token_id[0];
	if (*live)
		return 0;
	cleanup_rows struct loam_db_rows *r = NULL;
	if (loam_db_query(db, "SELECT 1 FROM api_token WHERE id = ?",
			  DB_ARGS(DB_TEXT(who->token_id)), &r, err) < 0)
		return -1;
	*live = loam_db_rows_count(r) == 1;
	return 0;
}

bool loam_principal_reads_metrics(const struct loam_principal *who)
{
	return who->kind == LOAM_PRINCIPAL_OPERATOR || who->kind == LOAM_PRINCIPAL_METRICS;
}

int loam_auth_token_new(char *out, char *sha256_hex, char *hint, loam_err *err)
{
	unsigned char raw[SECRET_BYTES];
	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return loam_fail(err, LOAM_E_INTERNAL, "RAND_bytes failed");
	size_t p = sizeof(db_prefix) - 1;
	memcpy(out, db_prefix, p);
	for (size_t i = 0; i < SECRET_BYTES; i++)
		snprintf(out + p + 2 * i, 3, "%02x", raw[i]);
	OPENSSL_cleanse(raw, sizeof(raw));
	snprintf(hint, p + HINT_HEX + 1, "%s", out);
	return loam_sha256_buf(out, strlen(out), sha256_hex, err);
}
