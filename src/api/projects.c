/*
 * /v1/projects: the operator makes, lists, sets quotas on and removes
 * projects; a project token may read its own project (usage against each
 * quota) and nothing else. Also the project a request acts in
 * (api_request_project), which every VM route asks.
 */
#include "api/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch/arch.h"
#include "db/project.h"
#include "lib/cleanup.h"
#include "lib/json.h"
#include "lib/valid.h"

static int no_project(const char *name, loam_err *err)
{
	return loam_fail(err, LOAM_E_NOTFOUND, "no project named '%s'; see: loam project ls", name);
}

int api_request_project(struct api_req *r, const char *named, char id[27],
			char name[LOAM_NAME_MAX + 1], loam_err *err)
{
	const char *want = named ? named : r->q.project;
	if (r->who.kind == LOAM_PRINCIPAL_PROJECT) {
		if (want && strcmp(want, r->who.project) != 0)
			return no_project(want, err);
		snprintf(id, 27, "%s", r->who.project_id);
		snprintf(name, LOAM_NAME_MAX + 1, "%s", r->who.project);
		return 0;
	}
	if (!want)
		want = LOAM_PROJECT_DEFAULT;
	cleanup_project struct loam_project p = {0};
	int found = loam_project_get(r->db, want, &p, err);
	if (found <= 0)
		return found < 0 ? -1 : no_project(want, err);
	snprintf(id, 27, "%s", p.id);
	snprintf(name, LOAM_NAME_MAX + 1, "%s", p.name);
	return 0;
}

static json_t *project_json(const struct loam_project *p)
{
	return json_pack("{s:s, s:s, s:I, s:I}", "name", p->name, "id", p->id, "vms",
			 (json_int_t)p->vms, "created_at", (json_int_t)p->created_at);
}

static json_t *limit_json(int64_t limit)
{
	return limit < 0 ? json_null() : json_integer(limit);
}

/* [{arch, resource, used, limit}] for every arch and resource. */
static int quotas_json(struct loam_db *db, const char *project_id, json_t **out, loam_err *err)
{
	struct loam_quota_use *u = NULL;
	size_t n = 0;
	if (loam_project_usage(db, project_id, &u, &n, err) < 0)
		return -1;
	*out = json_array();
	for (size_t i = 0; i < n; i++)
		for (int k = 0; k < LOAM_QUOTA_N; k++)
			json_array_append_new(
			    *out, json_pack("{s:s, s:s, s:I, s:o}", "arch", u[i].arch, "resource",
					    loam_quota_resource_name((enum loam_quota_resource)k),
					    "used", (json_int_t)u[i].used[k], "limit",
					    limit_json(u[i].limit[k])));
	free(u);
	return 0;
}

static int show_named(struct api_req *r, const char *name, loam_err *err)
{
	char id[27], pname[LOAM_NAME_MAX + 1];
	if (api_request_project(r, name, id, pname, err) < 0)
		return -1;
	cleanup_project struct loam_project p = {0};
	int found = loam_project_get(r->db, pname, &p, err);
	if (found <= 0)
		return found < 0 ? -1 : no_project(pname, err);
	json_t *quotas = NULL;
	if (quotas_json(r->db, p.id, &quotas, err) < 0)
		return -1;
	r->out = project_json(&p);
	json_object_set_new(r->out, "quotas", quotas);
	return 0;
}

int api_projects_show(struct api_req *r, loam_err *err)
{
	return show_named(r, r->seg[1], err);
}

int api_projects_list(struct api_req *r, loam_err *err)
{
	cleanup_projects struct loam_projects l = {0};
	if (loam_project_list(r->db, &r->q.page, &l, err) < 0)
		return -1;
	json_t *list = json_array();
	size_t shown = api_page_shown(r, l.n);
	for (size_t i = 0; i < shown; i++)
		json_array_append_new(list, project_json(&l.v[i]));
	if (l.n > shown)
		api_page_link(r, l.v[shown - 1].name);
	r->out = list;
	return 0;
}

static int create_tx(struct loam_db *db, void *ctx, loam_err *err)
{
	return loam_project_create(db, ctx, NULL, err);
}

int api_projects_create(struct api_req *r, loam_err *err)
{
	static const char *const allowed[] = {"name", NULL};
	const char *name = NULL;
	if (api_body_check(r, allowed, false, err) < 0 ||
	    api_body_str(r, "name", LOAM_NAME_MAX, &name, err) < 0 ||
	    loam_valid_name("project name", name, err) < 0 ||
	    loam_db_tx(r->db, create_tx, (void *)name, err) < 0)
		return -1;
	r->status = 201;
	return show_named(r, name, err);
}

/* One "ARCH.RESOURCE": N (or null) of PATCH's quotas. */
struct quota_change {
	const char *arch;
	enum loam_quota_resource resource;
	int64_t max; /* -1: remove */
};

static int parse_quota(const char *key, json_t *v, struct quota_change *c, loam_err *err)
{
	char arch[64];
	const char *dot = strchr(key, '.');
	if (!dot || (size_t)(dot - key) >= sizeof(arch))
		return loam_fail(err, LOAM_E_INVALID,
				 "quota keys are ARCH.RESOURCE (arm64.vcpus, x64.memory_gib, "
				 "arm64.vms)");
	snprintf(arch, sizeof(arch), "%.*s", (int)(dot - key), key);
	const struct loam_arch *a = loam_arch_normalize(arch, err);
	if (!a || loam_quota_resource_parse(dot + 1, &c->resource, err) < 0)
		return loam_err_wrap(err, "quota '%.64s'", loam_has_unsafe_chars(key) ? "?" : key);
	c->arch = a->name;
	if (json_is_null(v)) {
		c->max = -1;
		return 0;
	}
	if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 1000000000)
		return loam_fail(err, LOAM_E_INVALID,
				 "quota %s.%s must be a whole number from 0 to 1000000000, or null "
				 "for no limit",
				 c->arch, loam_quota_resource_name(c->resource));
	c->max = json_integer_value(v);
	return 0;
}

#define QUOTA_CHANGES_MAX 64

struct project_set {
	const char *name;
	struct quota_change changes[QUOTA_CHANGES_MAX];
	size_t n;
};

static int set_tx(struct loam_db *db, void *ctx, loam_err *err)
{
	struct project_set *s = ctx;
	cleanup_project struct loam_project p = {0};
	int found = loam_project_get(db, s->name, &p, err);
	if (found <= 0)
		return found < 0 ? -1 : no_project(s->name, err);
	for (size_t i = 0; i < s->n; i++)
		if (loam_quota_set(db, p.id, s->changes[i].arch, s->changes[i].resource,
				   s->changes[i].max, err) < 0)
			return -1;
	return 0;
}

int api_projects_set(struct api_req *r, loam_err *err)
{
	static const char *const allowed[] = {"quotas", NULL};
	struct project_set s = {.name = r->seg[1]};
	if (api_body_check(r, allowed, false, err) < 0)
		return -1;
	json_t *quotas = json_object_get(r->body, "quotas");
	if (!json_is_object(quotas) || json_object_size(quotas) > QUOTA_CHANGES_MAX)
		return loam_fail(
		    err, LOAM_E_INVALID,
		    "quotas must be an object of ARCH.RESOURCE: N or null (at most %d)",
		    QUOTA_CHANGES_MAX);
	const char *key;
	json_t *v;
	json_object_foreach(quotas, key, v)
	{
		if (parse_quota(key, v, &s.changes[s.n++], err) < 0)
			return -1;
	}
	if (loam_db_tx(r->db, set_tx, &s, err) < 0)
		return -1;
	return show_named(r, s.name, err);
}

static int delete_tx(struct loam_db *db, void *ctx, loam_err *err)
{
	const char *name = ctx;
	cleanup_project struct loam_project p = {0};
	int found = loam_project_get(db, name, &p, err);
	if (found <= 0)
		return found < 0 ? -1 : no_project(name, err);
	return loam_project_delete(db, &p, err);
}

int api_projects_delete(struct api_req *r, loam_err *err)
{
	if (loam_db_tx(r->db, delete_tx, (void *)r->seg[1], err) < 0)
		return -1;
	r->out = json_pack("{s:s, s:b}", "name", r->seg[1], "deleted", 1);
	return 0;
}
