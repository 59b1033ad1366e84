/*
 * Per-arch project quotas (project.h): set or removed per resource, the
 * usage a project shows against them, and the check a VM create runs in
 * its transaction. Usage is the sum over the project's VM rows in every
 * state, since a VM keeps its claim (stopped, failed or queued) until it
 * is destroyed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/project.h"
#include "lib/cleanup.h"
#include "lib/xalloc.h"

static const char *const resource_names[LOAM_QUOTA_N] = {
    [LOAM_QUOTA_VCPUS] = "vcpus",
    [LOAM_QUOTA_MEMORY_GIB] = "memory_gib",
    [LOAM_QUOTA_VMS] = "vms",
};

const char *loam_quota_resource_name(enum loam_quota_resource r)
{
	return r < LOAM_QUOTA_N ? resource_names[r] : "unknown";
}

int loam_quota_resource_parse(const char *name, enum loam_quota_resource *out, loam_err *err)
{
	for (int i = 0; i < LOAM_QUOTA_N; i++)
		if (name && strcmp(name, resource_names[i]) == 0) {
			*out = (enum loam_quota_resource)i;
			return 0;
		}
	return loam_fail(err, LOAM_E_INVALID,
			 "unknown quota resource '%.32s'; one of: vcpus, memory_gib, vms",
			 name ? name : "");
}

int loam_quota_set(struct loam_db *db, const char *project_id, const char *arch,
		   enum loam_quota_resource r, int64_t max, loam_err *err)
{
	if (loam_db_exec(
		db,
		"DELETE FROM project_quota WHERE project_id = ? AND arch = ? AND "
		"resource = ?",
		DB_ARGS(DB_TEXT(project_id), DB_TEXT(arch), DB_TEXT(loam_quota_resource_name(r))),
		NULL, err) < 0)
		return -1;
	if (max < 0)
		return 0;
	return loam_db_exec(db,
			    "INSERT INTO project_quota (project_id, arch, resource, max_value) "
			    "VALUES (?, ?, ?, ?)",
			    DB_ARGS(DB_TEXT(project_id), DB_TEXT(arch),
				    DB_TEXT(loam_quota_resource_name(r)), DB_INT(max)),
			    NULL, err);
}

static struct loam_quota_use *use_of(struct loam_quota_use *v, size_t n, const char *arch)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i].arch, arch) == 0)
			return &v[i];
	return NULL;
}

static int read_arches(struct loam_db *db, struct loam_quota_use **out, size_t *n, loam_err *err)
{
	cleanup_rows struct loam_db_rows *r = NULL;
	if (loam_db_query(db, "SELECT name FROM arch ORDER BY name", DB_NOARGS, &r, err) < 0)
		return -1;
	*n = loam_db_rows_count(r);
	*out = xcalloc(*n ? *n : 1, sizeof(**out));
	for (size_t i = 0; i < *n; i++) {
		snprintf((*out)[i].arch, sizeof((*out)[i].arch), "%s", loam_db_rows_text(r, i, 0));
		for (int k = 0; k < LOAM_QUOTA_N; k++)
			(*out)[i].limit[k] = -1;
	}
	return 0;
}

static int read_used(struct loam_db *db, const char *project_id, struct loam_quota_use *v, size_t n,
		     loam_err *err)
{
	cleanup_rows struct loam_db_rows *r = NULL;
	if (loam_db_query(db,
			  "SELECT arch, coalesce(sum(vcpus), 0), coalesce(sum(memory_gib), 0), "
			  "count(*) FROM vm WHERE project_id = ? GROUP BY arch",
			  DB_ARGS(DB_TEXT(project_id)), &r, err) < 0)
		return -1;
	for (size_t i = 0; i < loam_db_rows_count(r); i++) {
		struct loam_quota_use *u = use_of(v, n, loam_db_rows_text(r, i, 0));
		if (!u)
			continue;
		u->used[LOAM_QUOTA_VCPUS] = loam_db_rows_int(r, i, 1);
		u->used[LOAM_QUOTA_MEMORY_GIB] = loam_db_rows_int(r, i, 2);
		u->used[LOAM_QUOTA_VMS] = loam_db_rows_int(r, i, 3);
	}
	return 0;
}

static int read_limits(struct loam_db *db, const char *project_id, struct loam_quota_use *v,
		       size_t n, loam_err *err)
{
	cleanup_rows struct loam_db_rows *r = NULL;
	if (loam_db_query(
		db, "SELECT arch, resource, max_value FROM project_quota WHERE project_id = ?",
		DB_ARGS(DB_TEXT(project_id)), &r, err) < 0)
		return -1;
	for (size_t i = 0; i < loam_db_rows_count(r); i++) {
		struct loam_quota_use *u = use_of(v, n, loam_db_rows_text(r, i, 0));
		enum loam_quota_resource res = LOAM_QUOTA_VCPUS;
		if (u && loam_quota_resource_parse(loam_db_rows_text(r, i, 1), &res, NULL) == 0)
			u->limit[res] = loam_db_rows_int(r, i, 2);
	}
	return 0;
}

int loam_project_usage(struct loam_db *db, const char *project_id, struct loam_quota_use **out,
		       size_t *n, loam_err *err)
{
	*out = NULL;
	*n = 0;
	if (read_arches(db, out, n, err) < 0)
		return -1;
	if (read_used(db, project_id, *out, *n, err) < 0 ||
	    read_limits(db, project_id, *out, *n, err) < 0) {
		free(*out);
		*out = NULL;
		*n = 0;
		return -1;
	}
	return 0;
}

int loam_quota_check(struct loam_db *db, const char *project_id, const char *project,
		     const char *arch, int64_t vcpus, int64_t memory_gib, loam_err *err)
{
	struct loam_quota_use *v = NULL;
	size_t n = 0;
	if (loam_project_usage(db, project_id, &v, &n, err) < 0)
		return -1;
	const struct loam_quota_use *u = use_of(v, n, arch);
	const int64_t asked[LOAM_QUOTA_N] = {vcpus, memory_gib, 1};
	int rc = 0;
	for (int k = 0; u && k < LOAM_QUOTA_N && rc == 0; k++) {
		if (u->limit[k] < 0 || u->used[k] + asked[k] <= u->limit[k])
			continue;
		rc = loam_fail(err, LOAM_E_QUOTA,
			       "over the %s %s quota of project '%s': used %lld, asked %lld, limit "
			       "%lld; remove a VM of that arch, or ask the operator to raise it "
			       "(loam project set %s --quota %s.%s=N)",
			       arch, resource_names[k], project, (long long)u->used[k],
			       (long long)asked[k], (long long)u->limit[k], project, arch,
			       resource_names[k]);
	}
	free(v);
	return rc;
}
