/*
 * host_artifact rows (host_artifact.h). Every listing selects the same
 * columns, then three that only some fill (host name, pinned VMs, newer
 * version installed), so one reader serves them all. Plain SQL that runs
 * unchanged on SQLite and PostgreSQL.
 */
#include "db/host_artifact.h"

#include <stdlib.h>
#include <string.h>

#include "lib/cleanup.h"
#include "lib/xalloc.h"

#define COLS                                                                                       \
	"h.host_id, h.component, h.name, h.version, h.arch, h.kind, h.state, h.path, h.sha256, "   \
	"h.error, h.installed_at, h.updated_at, "

/* How many VMs on the row's host are pinned to its version. */
#define PINNED_VMS                                                                                 \
	"(SELECT count(*) FROM vm_artifact va JOIN vm ON vm.id = va.vm_id "                        \
	"WHERE vm.host_id = h.host_id AND va.component = h.component AND va.name = h.name "        \
	"AND va.version = h.version AND va.arch = h.arch)"

/* Whether a later installed version of the row's component/name/arch is
 * on its host. */
#define NEWER_INSTALLED                                                                            \
	"EXISTS (SELECT 1 FROM host_artifact n WHERE n.host_id = h.host_id "                       \
	"AND n.component = h.component AND n.name = h.name AND n.arch = h.arch "                   \
	"AND n.state = 'installed' AND n.installed_at > h.installed_at)"

enum { COL_HOST_NAME = 12, COL_VMS, COL_NEWER };

static void read_one(const struct loam_db_rows *r, size_t i, struct loam_host_artifact *a)
{
	*a = (struct loam_host_artifact){
	    .host_id = loam_db_rows_dup(r, i, 0),
	    .component = loam_db_rows_dup(r, i, 1),
	    .name = loam_db_rows_dup(r, i, 2),
	    .version = loam_db_rows_dup(r, i, 3),
	    .arch = loam_db_rows_dup(r, i, 4),
	    .kind = loam_db_rows_dup(r, i, 5),
	    .state = loam_db_rows_dup(r, i, 6),
	    .path = loam_db_rows_dup(r, i, 7),
	    .sha256 = loam_db_rows_dup(r, i, 8),
	    .error = loam_db_rows_dup(r, i, 9),
	    .installed_at = loam_db_rows_int(r, i, 10),
	    .has_installed_at = !loam_db_rows_null(r, i, 10),
	    .updated_at = loam_db_rows_int(r, i, 11),
	    .host_name = loam_db_rows_dup(r, i, COL_HOST_NAME),
	    .vms = loam_db_rows_int(r, i, COL_VMS),
	    .newer = loam_db_rows_int(r, i, COL_NEWER) != 0,
	};
}

static int query(struct loam_db *db, const char *sql, const struct loam_db_val *args, size_t nargs,
		 struct loam_host_artifacts *out, loam_err *err)
{
	*out = (struct loam_host_artifacts){0};
	cleanup_rows struct loam_db_rows *r = NULL;
	if (loam_db_query(db, sql, args, nargs, &r, err) < 0)
		return -1;
	out->n = loam_db_rows_count(r);
	out->v = xcalloc(out->n, sizeof(*out->v));
	for (size_t i = 0; i < out->n; i++)
		read_one(r, i, &out->v[i]);
	return 0;
}

void loam_host_artifacts_free(struct loam_host_artifacts *l)
{
	for (size_t i = 0; i < l->n; i++) {
		struct loam_host_artifact *a = &l->v[i];
		char *strings[] = {a->host_id, a->host_name, a->component, a->name,
				   a->version, a->arch,	     a->kind,	   a->state,
				   a->path,    a->sha256,    a->error};
		for (size_t k = 0; k < sizeof(strings) / sizeof(*strings); k++)
			free(strings[k]);
	}
	free(l->v);
	*l = (struct loam_host_artifacts){0};
}

int loam_host_artifacts_of(struct loam_db *db, const char *host_id, struct loam_host_artifacts *out,
			   loam_err *err)
{
	return query(db,
		     "SELECT " COLS "NULL, 0, 0 FROM host_artifact h WHERE h.host_id = ? "
		     "ORDER BY h.component, h.arch, h.name, h.version",
		     DB_ARGS(DB_TEXT(host_id)), out, err);
}

int loam_host_artifacts_all(struct loam_db *db, struct loam_host_artifacts *out, loam_err *err)
{
	return query(db,
		     "SELECT " COLS "host.name, " PINNED_VMS ", 0 FROM host_artifact h "
		     "JOIN host ON host.id = h.host_id "
		     "ORDER BY host.name, h.component, h.arch, h.name, h.version",
		     DB_NOARGS, out, err);
}

int loam_host_artifacts_gc_view(struct loam_db *db, const char *host_id,
				struct loam_host_artifacts *out, loam_err *err)
{
	return query(db,
		     "SELECT " COLS "NULL, " PINNED_VMS ", CASE WHEN " NEWER_INSTALLED
		     " THEN 1 ELSE 0 END FROM host_artifact h WHERE h.host_id = ? "
		     "ORDER BY h.component, h.arch, h.name, h.installed_at, h.version",
		     DB_ARGS(DB_TEXT(host_id)), out, err);
}

int loam_host_artifacts_take_unused(struct loam_db *db, const char *host_id,
				    struct loam_host_artifacts *out, loam_err *err)
{
	if (query(db,
		  "SELECT " COLS "NULL, 0, 1 FROM host_artifact h WHERE h.host_id = ? "
		  "AND h.kind <> 'debian-package' AND h.state = 'installed' "
		  "AND " PINNED_VMS " = 0 AND " NEWER_INSTALLED,
		  DB_ARGS(DB_TEXT(host_id)), out, err) < 0)
		return -1;
	for (size_t i = 0; i < out->n; i++) {
		const struct loam_host_artifact *a = &out->v[i];
		if (loam_db_exec(db,
				 "DELETE FROM host_artifact WHERE host_id = ? AND component = ? "
				 "AND name = ? AND version = ? AND arch = ?",
				 DB_ARGS(DB_TEXT(host_id), DB_TEXT(a->component), DB_TEXT(a->name),
					 DB_TEXT(a->version), DB_TEXT(a->arch)),
				 NULL, err) < 0) {
			loam_host_artifacts_free(out);
			return -1;
		}
	}
	return 0;
}

int loam_host_artifact_hosts(struct loam_db *db, char ***names, size_t *n, loam_err *err)
{
	cleanup_rows struct loam_db_rows *r = NULL;
	if (loam_db_query(db,
			  "SELECT name FROM host WHERE EXISTS (SELECT 1 FROM host_artifact ha "
			  "WHERE ha.host_id = host.id) ORDER BY name",
			  DB_NOARGS, &r, err) < 0)
		return -1;
	*n = loam_db_rows_count(r);
	*names = xcalloc(*n + 1, sizeof(**names));
	for (size_t i = 0; i < *n; i++)
		(*names)[i] = xstrdup(loam_db_rows_text(r, i, 0));
	return 0;
}

int loam_host_artifacts_images(struct loam_db *db, struct loam_host_artifacts *out, loam_err *err)
{
	return query(db,
		     "SELECT " COLS "NULL, 0, 0 FROM host_artifact h WHERE h.component = 'image' "
		     "AND h.state = 'installed'",
		     DB_NOARGS, out, err);
}

int loam_host_artifact_newest(struct loam_db *db, const char *host_id, const char *arch,
			      const char *component, char **name, char **version, loam_err *err)
{
	cleanup_rows struct loam_db_rows *rows = NULL;
	*name = *version = NULL;
	if (loam_db_query(db,
			  "SELECT name, version FROM host_artifact WHERE host_id = ? AND arch = ? "
			  "AND component = ? AND (state = 'installed' OR (state = 'unavailable' "
			  "AND kind = 'debian-package')) "
			  "ORDER BY COALESCE(installed_at, updated_at) DESC, version DESC LIMIT 1",
			  DB_ARGS(DB_TEXT(host_id), DB_TEXT(arch), DB_TEXT(component)), &rows,
			  err) < 0)
		return -1;
	if (loam_db_rows_count(rows) == 0)
		return 0;
	*name = xstrdup(loam_db_rows_text(rows, 0, 0));
	*version = xstrdup(loam_db_rows_text(rows, 0, 1));
	return 1;
}

int loam_host_artifact_mark_installing(struct loam_db *db, const char *host_id,
				       const struct loam_artifact_key *k, const char *kind,
				       const char *sha256, loam_err *err)
{
	return loam_db_exec(
	    db,
	    "INSERT INTO host_artifact (host_id, component, name, version, arch, kind, "
	    "sha256, state, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'installing', ?) "
	    "ON CONFLICT (host_id, component, name, version, arch) DO UPDATE SET "
	    "state = CASE WHEN host_artifact.state = 'installed' THEN 'installed' "
	    "ELSE 'installing' END, updated_at = excluded.updated_at",
	    DB_ARGS(DB_TEXT(host_id), DB_TEXT(k->component), DB_TEXT(k->name), DB_TEXT(k->version),
		    DB_TEXT(k->arch), DB_TEXT(kind), loam_db_text_or_null(sha256),
		    DB_INT(loam_db_now_ms())),
	    NULL, err);
}

int loam_host_artifact_record(struct loam_db *db, const char *host_id,
			      const struct loam_artifact_key *k, const char *state,
			      const char *path, const char *error, loam_err *err)
{
	int64_t now = loam_db_now_ms();
	return loam_db_exec(
	    db,
	    "UPDATE host_artifact SET state = ?, path = COALESCE(?, path), error = ?, "
	    "installed_at = CASE WHEN ? = 'installed' THEN COALESCE(installed_at, ?) "
	    "ELSE installed_at END, updated_at = ? "
	    "WHERE host_id = ? AND component = ? AND name = ? AND version = ? AND arch = ?",
	    DB_ARGS(DB_TEXT(state), loam_db_text_or_null(path), loam_db_text_or_null(error),
		    DB_TEXT(state), DB_INT(now), DB_INT(now), DB_TEXT(host_id),
		    loam_db_text_or_null(k->component), loam_db_text_or_null(k->name),
		    loam_db_text_or_null(k->version), loam_db_text_or_null(k->arch)),
	    NULL, err);
}

int loam_host_artifact_fail_pending(struct loam_db *db, const char *host_id, const char *why,
				    loam_err *err)
{
	return loam_db_exec(db,
			    "UPDATE host_artifact SET state = 'failed', error = ?, updated_at = ? "
			    "WHERE host_id = ? AND state = 'installing'",
			    DB_ARGS(DB_TEXT(why), DB_INT(loam_db_now_ms()), DB_TEXT(host_id)), NULL,
			    err);
}
