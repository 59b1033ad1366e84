/*
 * Projects (project.h): made by name, read with their VM count, listed a
 * page at a time, and deleted with their tokens and quotas once empty.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/project.h"
#include "lib/cleanup.h"
#include "lib/xalloc.h"

#define PROJECT_SELECT                                                                             \
	"SELECT p.id, p.name, p.created_at, (SELECT count(*) FROM vm WHERE vm.project_id = "       \
	"p.id) FROM project p "

void loam_project_free(struct loam_project *p)
{
	free(p->name);
	*p = (struct loam_project){0};
}

void loam_projects_free(struct loam_projects *l)
{
	for (size_t i = 0; i < l->n; i++)
		loam_project_free(&l->v[i]);
	free(l->v);
	*l = (struct loam_projects){0};
}

static void project_from_row(const struct loam_db_rows *r, size_t i, struct loam_project *p)
{
	*p = (struct loam_project){0};
	snprintf(p->id, sizeof(p->id), "%s", loam_db_rows_text(r, i, 0));
	p->name = xstrdup(loam_db_rows_text(r, i, 1));
	p->created_at = loam_db_rows_int(r, i, 2);
	p->vms = loam_db_rows_int(r, i, 3);
}

int loam_project_create(struct loam_db *db, const char *name, char id_out[27], loam_err *err)
{
	char id[27];
	loam_db_new_id(id);
	if (loam_db_exec(db, "INSERT INTO project (id, name, created_at) VALUES (?, ?, ?)",
			 DB_ARGS(DB_TEXT(id), DB_TEXT(name), DB_INT(loam_db_now_ms())), NULL,
			 err) < 0) {
		if (loam_err_kind_of(*err) == LOAM_E_CONFLICT)
			return loam_fail(err, LOAM_E_CONFLICT,
					 "a project named '%s' exists already; see: loam project "
					 "show %s",
					 name, name);
		return -1;
	}
	if (id_out)
		memcpy(id_out, id, sizeof(id));
	return 0;
}

int loam_project_get(struct loam_db *db, const char *name, struct loam_project *out, loam_err *err)
{
	cleanup_rows struct loam_db_rows *r = NULL;
	if (loam_db_query(db, PROJECT_SELECT "WHERE p.name = ?", DB_ARGS(DB_TEXT(name)), &r, err) <
	    0)
		return -1;
	if (loam_db_rows_count(r) == 0)
		return 0;
	project_from_row(r, 0, out);
	return 1;
}

int loam_project_list(struct loam_db *db, const struct loam_db_page *page,
		      struct loam_projects *out, loam_err *err)
{
	cleanup_rows struct loam_db_rows *r = NULL;
	*out = (struct loam_projects){0};
	if (loam_db_query(
		db, PROJECT_SELECT "WHERE p.name > ? ORDER BY p.name LIMIT ?",
		DB_ARGS(DB_TEXT(loam_db_page_after(page)), DB_INT(loam_db_page_limit(page))), &r,
		err) < 0)
		return -1;
	out->n = loam_db_rows_count(r);
	out->v = xcalloc(out->n ? out->n : 1, sizeof(*out->v));
	for (size_t i = 0; i < out->n; i++)
		project_from_row(r, i, &out->v[i]);
	return 0;
}

int loam_project_delete(struct loam_db *db, const struct loam_project *p, loam_err *err)
{
	if (strcmp(p->id, LOAM_PROJECT_DEFAULT_ID) == 0)
		return loam_fail(err, LOAM_E_CONFLICT,
				 "the default project holds the operator's VMs and stays");
	cleanup_rows struct loam_db_rows *r = NULL;
	if (loam_db_query(db, "SELECT count(*) FROM vm WHERE project_id = ?",
			  DB_ARGS(DB_TEXT(p->id)), &r, err) < 0)
		return -1;
	int64_t vms = loam_db_rows_int(r, 0, 0);
	if (vms > 0)
		return loam_fail(err, LOAM_E_CONFLICT,
				 "project '%s' still has %lld VM(s); remove them first (loam vm ls "
				 "--project %s)",
				 p->name, (long long)vms, p->name);
	if (loam_db_exec(db, "DELETE FROM api_token WHERE project_id = ?", DB_ARGS(DB_TEXT(p->id)),
			 NULL, err) < 0 ||
	    loam_db_exec(db, "DELETE FROM project_quota WHERE project_id = ?",
			 DB_ARGS(DB_TEXT(p->id)), NULL, err) < 0)
		return -1;
	return loam_db_exec(db, "DELETE FROM project WHERE id = ?", DB_ARGS(DB_TEXT(p->id)), NULL,
			    err);
}
