/*
 * host_artifact rows (host_artifact.h): listings, what a row lists (guest
 * arches, tested firmware) and the install's bookkeeping. Every listing
 * selects the same columns, then four that only some fill (host name,
 * pinned VMs, newer, higher), so one reader serves them all.
 */
#include "db/host_artifact.h"

#include <stdlib.h>
#include <string.h>

#include "db/host_artifact_sql.h"
#include "lib/cleanup.h"
#include "lib/xalloc.h"

enum { COL_WEIGHT = 12, COL_HOST_NAME, COL_VMS, COL_NEWER, COL_HIGHER };

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
	    .weight = loam_db_rows_int(r, i, COL_WEIGHT),
	    .host_name = loam_db_rows_dup(r, i, COL_HOST_NAME),
	    .vms = loam_db_rows_int(r, i, COL_VMS),
	    .newer = loam_db_rows_int(r, i, COL_NEWER) != 0,
	    .higher = loam_db_rows_int(r, i, COL_HIGHER) != 0,
	};
}

int ha_query(struct loam_db *db, const char *sql, const struct loam_db_val *args, size_t nargs,
	     struct loam_host_artifacts *out, loam_err *err)
{
	*out = (struct loam_host_artifacts){0};
	cleanup_rows struct loam_db_rows *r = NULL;
	if (loam_db_query(db, sql, args, nargs, &r, err) < 0)
		return -1;
	out->n = loam_db_rows_count(r);
	out->v = xcalloc(out->n ? out->n : 1, sizeof(*out->v));
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
	return ha_query(db,
			"SELECT " HA_COLS "NULL, " HA_PINNED_VMS ", 0, 0 FROM host_artifact h "
			"WHERE h.host_id = ? ORDER BY h.component, h.arch, h.name, h.version",
			DB_ARGS(DB_TEXT(host_id)), out, err);
}

int loam_host_artifacts_all(struct loam_db *db, struct loam_host_artifacts *out, loam_err *err)
{
	return ha_query(db,
			"SELECT " HA_COLS "host.name, " HA_PINNED_VMS ", 0, 0 FROM host_artifact h "
			"JOIN host ON host.id = h.host_id "
			"ORDER BY host.name, h.component, h.arch, h.name, h.version",
			DB_NOARGS, out, err);
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
	return ha_query(db,
			"SELECT " HA_COLS "host.name, 0, 0, 0 FROM host_artifact h "
			"JOIN host ON host.id = h.host_id "
			"WHERE h.component = 'image' AND h.state = 'installed' "
			"ORDER BY h.name, h.arch, h.version, host.name",
			DB_NOARGS, out, err);
}

/* ---- what rows list ---- */

void loam_artifact_links_free(struct loam_artifact_links *l)
{
	for (size_t i = 0; i < l->n; i++) {
		struct loam_artifact_link *k = &l->v[i];
		char *strings[] = {k->host_id, k->component, k->name,  k->version,
				   k->arch,    k->value,     k->value2};
		for (size_t s = 0; s < sizeof(strings) / sizeof(*strings); s++)
			free(strings[s]);
	}
	free(l->v);
	*l = (struct loam_artifact_links){0};
}

static int links(struct loam_db *db, const char *table, const char *values, const char *host_id,
		 struct loam_artifact_links *out, loam_err *err)
{
	*out = (struct loam_artifact_links){0};
	cleanup_free char *sql = xasprintf(
	    "SELECT host_id, component, name, version, arch, %s FROM %s WHERE "
	    "(CAST(? AS TEXT) IS NULL OR host_id = ?) ORDER BY host_id, component, name, version, "
	    "arch, %s",
	    values, table, values);
	cleanup_rows struct loam_db_rows *r = NULL;
	if (loam_db_query(db, sql,
			  DB_ARGS(loam_db_text_or_null(host_id), loam_db_text_or_null(host_id)), &r,
			  err) < 0)
		return -1;
	out->n = loam_db_rows_count(r);
	out->v = xcalloc(out->n ? out->n : 1, sizeof(*out->v));
	bool two = loam_db_rows_cols(r) > 6;
	for (size_t i = 0; i < out->n; i++)
		out->v[i] = (struct loam_artifact_link){loam_db_rows_dup(r, i, 0),
							loam_db_rows_dup(r, i, 1),
							loam_db_rows_dup(r, i, 2),
							loam_db_rows_dup(r, i, 3),
							loam_db_rows_dup(r, i, 4),
							loam_db_rows_dup(r, i, 5),
							two ? loam_db_rows_dup(r, i, 6) : NULL};
	return 0;
}

int loam_host_artifact_guest_arches(struct loam_db *db, const char *host_id,
				    struct loam_artifact_links *out, loam_err *err)
{
	return links(db, "host_artifact_guest_arch", "guest_arch", host_id, out, err);
}

int loam_host_artifact_firmware_lists(struct loam_db *db, const char *host_id,
				      struct loam_artifact_links *out, loam_err *err)
{
	return links(db, "host_artifact_firmware", "firmware_name, firmware_version", host_id, out,
		     err);
}

/* ---- the install's bookkeeping ---- */

#define KEY_ARGS(host_id, k)                                                                       \
	DB_TEXT(host_id), DB_TEXT((k)->component), DB_TEXT((k)->name), DB_TEXT((k)->version),      \
	    DB_TEXT((k)->arch)

static int record_meta(struct loam_db *db, const char *host_id, const struct loam_artifact_key *k,
		       const struct loam_artifact_meta *m, loam_err *err)
{
	for (const char *const *g = m ? m->guest_arches : NULL; g && *g; g++)
		if (loam_db_exec(db,
				 "INSERT INTO host_artifact_guest_arch (host_id, component, name, "
				 "version, arch, guest_arch) VALUES (?, ?, ?, ?, ?, ?) "
				 "ON CONFLICT DO NOTHING",
				 DB_ARGS(KEY_ARGS(host_id, k), DB_TEXT(*g)), NULL, err) < 0)
			return -1;
	for (size_t i = 0; m && i < m->nfw; i++)
		if (loam_db_exec(db,
				 "INSERT INTO host_artifact_firmware (host_id, component, name, "
				 "version, arch, firmware_name, firmware_version) VALUES "
				 "(?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
				 DB_ARGS(KEY_ARGS(host_id, k), DB_TEXT(m->fw_names[i]),
					 DB_TEXT(m->fw_versions[i])),
				 NULL, err) < 0)
			return -1;
	return 0;
}

static int state_of(struct loam_db *db, const char *host_id, const struct loam_artifact_key *k,
		    char **state, loam_err *err)
{
	cleanup_rows struct loam_db_rows *r = NULL;
	if (loam_db_query(db,
			  "SELECT state FROM host_artifact WHERE host_id = ? AND component = ? AND "
			  "name = ? AND version = ? AND arch = ?",
			  DB_ARGS(KEY_ARGS(host_id, k)), &r, err) < 0)
		return -1;
	*state = loam_db_rows_count(r) ? loam_db_rows_dup(r, 0, 0) : xstrdup("");
	return 0;
}

int loam_host_artifact_mark_installing(struct loam_db *db, const char *host_id,
				       const struct loam_artifact_key *k, const char *kind,
				       const char *sha256, const struct loam_artifact_meta *meta,
				       char **state, loam_err *err)
{
	if (loam_db_exec(
		db,
		"INSERT INTO host_artifact (host_id, component, name, version, arch, kind, "
		"sha256, state, updated_at, weight) VALUES (?, ?, ?, ?, ?, ?, ?, 'installing', ?, "
		"?) "
		"ON CONFLICT (host_id, component, name, version, arch) DO UPDATE SET "
		"state = CASE WHEN host_artifact.state IN ('installed', 'removing') "
		"THEN host_artifact.state ELSE 'installing' END, updated_at = excluded.updated_at",
		DB_ARGS(KEY_ARGS(host_id, k), DB_TEXT(kind), loam_db_text_or_null(sha256),
			DB_INT(loam_db_now_ms()), DB_INT(LOAM_ARTIFACT_WEIGHT_DEFAULT)),
		NULL, err) < 0 ||
	    record_meta(db, host_id, k, meta, err) < 0)
		return -1;
	return state ? state_of(db, host_id, k, state, err) : 0;
}

int loam_host_artifact_record(struct loam_db *db, const char *host_id,
			      const struct loam_artifact_key *k, const char *state,
			      const char *path, const char *error, loam_err *err)
{
	int64_t now = loam_db_now_ms();
	return loam_db_exec(
	    db,
	    "UPDATE host_artifact SET state = ?, path = COALESCE(?, path), error = ?, "
	    "installed_at = CASE WHEN ? <> 'failed' THEN COALESCE(installed_at, ?) "
	    "ELSE installed_at END, updated_at = ? "
	    "WHERE host_id = ? AND component = ? AND name = ? AND version = ? AND arch = ?",
	    DB_ARGS(DB_TEXT(state), loam_db_text_or_null(path), loam_db_text_or_null(error),
		    DB_TEXT(state), DB_INT(now), DB_INT(now), DB_TEXT(host_id),
		    loam_db_text_or_null(k->component), loam_db_text_or_null(k->name),
		    loam_db_text_or_null(k->version), loam_db_text_or_null(k->arch)),
	    NULL, err);
}

int loam_host_artifact_fail_installing(struct loam_db *db, const char *host_id,
				       const struct loam_artifact_key *k, const char *why,
				       loam_err *err)
{
	return loam_db_exec(db,
			    "UPDATE host_artifact SET state = 'failed', error = ?, updated_at = ? "
			    "WHERE host_id = ? AND component = ? AND name = ? AND version = ? AND "
			    "arch = ? AND state = 'installing'",
			    DB_ARGS(DB_TEXT(why), DB_INT(loam_db_now_ms()), KEY_ARGS(host_id, k)),
			    NULL, err);
}

int loam_host_artifacts_installing(struct loam_db *db, const char *host_id,
				   struct loam_host_artifacts *out, loam_err *err)
{
	return ha_query(
	    db,
	    "SELECT " HA_COLS "NULL, 0, 0, 0 FROM host_artifact h WHERE h.host_id = ? "
	    "AND h.state = 'installing' ORDER BY h.component, h.arch, h.name, h.version",
	    DB_ARGS(DB_TEXT(host_id)), out, err);
}
