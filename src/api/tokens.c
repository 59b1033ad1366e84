/*
 * /v1/tokens: the operator makes project and metrics tokens (the answer is
 * the only time the token is ever shown: loamd keeps its SHA-256), lists
 * them without their secret, and revokes them, which takes effect at the
 * next request that carries the token.
 */
#include "api/internal.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>

#include "db/project.h"
#include "lib/cleanup.h"
#include "lib/json.h"
#include "lib/sha256.h"
#include "lib/valid.h"

static json_t *token_json(const struct loam_token *t)
{
	return json_pack("{s:s, s:s, s:s?, s:s, s:I}", "id", t->id, "scope", t->scope, "project",
			 t->project, "hint", t->hint, "created_at", (json_int_t)t->created_at);
}

int api_tokens_list(struct api_req *r, loam_err *err)
{
	cleanup_tokens struct loam_tokens l = {0};
	if (loam_token_list(r->db, &r->q.page, &l, err) < 0)
		return -1;
	json_t *list = json_array();
	size_t shown = api_page_shown(r, l.n);
	for (size_t i = 0; i < shown; i++)
		json_array_append_new(list, token_json(&l.v[i]));
	if (l.n > shown)
		api_page_link(r, l.v[shown - 1].id);
	r->out = list;
	return 0;
}

struct token_create {
	const char *project; /* NULL: a metrics token */
	char id[27];
	char secret[LOAM_TOKEN_LEN + 1];
	char sha256[LOAM_SHA256_HEX_LEN + 1];
	char hint[16];
};

static int create_tx(struct loam_db *db, void *ctx, loam_err *err)
{
	struct token_create *c = ctx;
	cleanup_project struct loam_project p = {0};
	if (c->project) {
		int found = loam_project_get(db, c->project, &p, err);
		if (found <= 0)
			return found < 0 ? -1
					 : loam_fail(err, LOAM_E_NOTFOUND,
						     "no project named '%s'; make it with: loam "
						     "project create %s",
						     c->project, c->project);
	}
	struct loam_token_new t = {.id = c->id,
				   .scope = c->project ? "project" : "metrics",
				   .project_id = c->project ? p.id : NULL,
				   .sha256_hex = c->sha256,
				   .hint = c->hint};
	return loam_token_insert(db, &t, err);
}

static int create_fields(struct api_req *r, struct token_create *c, loam_err *err)
{
	static const char *const allowed[] = {"project", "metrics", NULL};
	bool metrics = false;
	if (api_body_check(r, allowed, false, err) < 0 ||
	    api_body_str(r, "project", LOAM_NAME_MAX, &c->project, err) < 0 ||
	    loam_json_opt_bool(r->body, "metrics", &metrics, err) < 0)
		return -1;
	if (!c->project == !metrics)
		return loam_fail(err, LOAM_E_INVALID,
				 "a token is for a project (\"project\": NAME) or reads metrics "
				 "(\"metrics\": true), one of the two");
	return c->project ? loam_valid_name("project", c->project, err) : 0;
}

int api_tokens_create(struct api_req *r, loam_err *err)
{
	struct token_create c = {0};
	if (create_fields(r, &c, err) < 0 ||
	    loam_auth_token_new(c.secret, c.sha256, c.hint, err) < 0)
		return -1;
	loam_db_new_id(c.id);
	if (loam_db_tx(r->db, create_tx, &c, err) < 0)
		return -1;
	r->status = 201;
	r->out = json_pack("{s:s, s:s, s:s, s:s?, s:s}", "id", c.id, "token", c.secret, "scope",
			   c.project ? "project" : "metrics", "project", c.project, "hint", c.hint);
	OPENSSL_cleanse(c.secret, sizeof(c.secret));
	return 0;
}

int api_tokens_delete(struct api_req *r, loam_err *err)
{
	bool deleted = false;
	if (loam_token_delete(r->db, r->seg[1], &deleted, err) < 0)
		return -1;
	if (!deleted)
		return loam_fail(err, LOAM_E_NOTFOUND, "no token with id %s; see: loam token ls",
				 r->seg[1]);
	r->out = json_pack("{s:s, s:b}", "id", r->seg[1], "revoked", 1);
	return 0;
}
