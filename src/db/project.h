/*
 * The project model (issue 16): projects own VMs; each has per-arch quotas
 * on the sum of its VMs' vCPUs, memory and count; API tokens other than
 * the operator's belong to a project (or read metrics only) and are kept
 * as their SHA-256 only. project.c holds projects, quota.c quotas and
 * usage, token.c tokens. Every query on these tables lives here.
 */
#ifndef LOAM_DB_PROJECT_H
#define LOAM_DB_PROJECT_H

#include <stdbool.h>
#include <stdint.h>

#include "db/db.h"
#include "lib/err.h"

/* The project of VMs made before projects existed, and of those the
 * operator makes without naming one (migration 0005 inserts it). */
#define LOAM_PROJECT_DEFAULT_ID "0000000000000000000default"
#define LOAM_PROJECT_DEFAULT	"default"

struct loam_project {
	char id[27];
	char *name;
	int64_t created_at;
	int64_t vms; /* how many VMs it has */
};
void loam_project_free(struct loam_project *p);
#define cleanup_project __attribute__((cleanup(loam_project_free)))

struct loam_projects {
	struct loam_project *v;
	size_t n;
};
void loam_projects_free(struct loam_projects *l);
#define cleanup_projects __attribute__((cleanup(loam_projects_free)))

/* LOAM_E_CONFLICT when the name is taken; id_out may be NULL. */
int loam_project_create(struct loam_db *db, const char *name, char id_out[27], loam_err *err);
/* By name: 1 with *out, 0 when there is none. */
int loam_project_get(struct loam_db *db, const char *name, struct loam_project *out, loam_err *err);
/* By name, a page of them (page->after: a name). */
int loam_project_list(struct loam_db *db, const struct loam_db_page *page,
		      struct loam_projects *out, loam_err *err);
/* Deletes the project with its tokens and quotas; LOAM_E_CONFLICT while it
 * has VMs or for the default project. Run in a transaction. */
int loam_project_delete(struct loam_db *db, const struct loam_project *p, loam_err *err);

/* ---- quotas (quota.c) ---- */

enum loam_quota_resource { LOAM_QUOTA_VCPUS, LOAM_QUOTA_MEMORY_GIB, LOAM_QUOTA_VMS, LOAM_QUOTA_N };
/* "vcpus", "memory_gib", "vms" */
const char *loam_quota_resource_name(enum loam_quota_resource r);
int loam_quota_resource_parse(const char *name, enum loam_quota_resource *out, loam_err *err);

/* Sets a limit (max >= 0), or removes it (max < 0: no limit). arch is a
 * canonical name. */
int loam_quota_set(struct loam_db *db, const char *project_id, const char *arch,
		   enum loam_quota_resource r, int64_t max, loam_err *err);

/* What a project uses of one arch, and its limits there (-1: none). */
struct loam_quota_use {
	char arch[32];
	int64_t used[LOAM_QUOTA_N];
	int64_t limit[LOAM_QUOTA_N];
};
/* One entry per arch of the arch table, by name. *out is freed with free. */
int loam_project_usage(struct loam_db *db, const char *project_id, struct loam_quota_use **out,
		       size_t *n, loam_err *err);

/* Whether one more VM of arch taking vcpus and memory_gib fits the
 * project's quotas; LOAM_E_QUOTA naming the resource with the used, asked
 * and limit figures when not. Run it in the transaction that inserts the
 * VM, so that two creates cannot both take the last room. */
int loam_quota_check(struct loam_db *db, const char *project_id, const char *project,
		     const char *arch, int64_t vcpus, int64_t memory_gib, loam_err *err);

/* ---- tokens (token.c) ---- */

struct loam_token {
	char id[27];
	char *scope;		    /* "project" or "metrics" */
	char *project_id, *project; /* NULL for a metrics token */
	char *hint;		    /* the token's first characters */
	int64_t created_at;
};
void loam_token_free(struct loam_token *t);
#define cleanup_token __attribute__((cleanup(loam_token_free)))

struct loam_tokens {
	struct loam_token *v;
	size_t n;
};
void loam_tokens_free(struct loam_tokens *l);
#define cleanup_tokens __attribute__((cleanup(loam_tokens_free)))

struct loam_token_new {
	const char *id, *scope, *project_id; /* project_id NULL for metrics */
	const char *sha256_hex, *hint;
};
int loam_token_insert(struct loam_db *db, const struct loam_token_new *t, loam_err *err);
/* By the SHA-256 of the token: 1 with *out, 0 when no token has it. */
int loam_token_find(struct loam_db *db, const char *sha256_hex, struct loam_token *out,
		    loam_err *err);
/* By id (oldest first), a page of them (page->after: an id). */
int loam_token_list(struct loam_db *db, const struct loam_db_page *page, struct loam_tokens *out,
		    loam_err *err);
/* *deleted: whether a token had that id. */
int loam_token_delete(struct loam_db *db, const char *id, bool *deleted, loam_err *err);

#endif
