/*
 * GC's rows (host_artifact.h): the view its plan weighs, and its two
 * steps around the agent's removal. A version is marked 'removing' in one
 * transaction that re-checks it is unused (the VM prog pins and `vm
 * upgrade` re-pins in transactions too, so they serialize), its files go,
 * and only then its row: a crash between leaves the row 'removing', no VM
 * can take it, and the next GC finishes it.
 */
#include "db/host_artifact.h"

#include "db/host_artifact_sql.h"
#include "lib/cleanup.h"

/* Unused, not the newest, and not what a new VM prefers. */
#define REMOVABLE                                                                                  \
	"h.kind IN ('file', 'tarball') AND " HA_USABLE("h") " AND " HA_PINNED_VMS                  \
							    " = 0 AND " HA_NEWER " AND " HA_HIGHER

int loam_host_artifacts_gc_view(struct loam_db *db, const char *host_id,
				struct loam_host_artifacts *out, loam_err *err)
{
	return ha_query(db,
			"SELECT " HA_COLS "NULL, " HA_PINNED_VMS ", CASE WHEN " HA_NEWER
			" THEN 1 ELSE 0 END, CASE WHEN " HA_HIGHER " THEN 1 ELSE 0 END "
			"FROM host_artifact h WHERE h.host_id = ? "
			"ORDER BY h.component, h.arch, h.name, h.installed_at, h.version",
			DB_ARGS(DB_TEXT(host_id)), out, err);
}

int loam_host_artifacts_mark_removing(struct loam_db *db, const char *host_id,
				      struct loam_host_artifacts *out, loam_err *err)
{
	cleanup_host_artifacts struct loam_host_artifacts unused = {0};
	if (ha_query(db,
		     "SELECT " HA_COLS "NULL, 0, 1, 1 FROM host_artifact h WHERE h.host_id = ? "
		     "AND " REMOVABLE,
		     DB_ARGS(DB_TEXT(host_id)), &unused, err) < 0)
		return -1;
	for (size_t i = 0; i < unused.n; i++) {
		const struct loam_host_artifact *a = &unused.v[i];
		if (loam_db_exec(db,
				 "UPDATE host_artifact SET state = 'removing', updated_at = ? "
				 "WHERE host_id = ? AND component = ? AND name = ? AND version = ? "
				 "AND arch = ?",
				 DB_ARGS(DB_INT(loam_db_now_ms()), DB_TEXT(host_id),
					 DB_TEXT(a->component), DB_TEXT(a->name),
					 DB_TEXT(a->version), DB_TEXT(a->arch)),
				 NULL, err) < 0)
			return -1;
	}
	return ha_query(db,
			"SELECT " HA_COLS "NULL, 0, 1, 1 FROM host_artifact h WHERE h.host_id = ? "
			"AND h.state = 'removing' ORDER BY h.component, h.arch, h.name, h.version",
			DB_ARGS(DB_TEXT(host_id)), out, err);
}

int loam_host_artifact_forget(struct loam_db *db, const char *host_id,
			      const struct loam_artifact_key *k, loam_err *err)
{
	return loam_db_exec(db,
			    "DELETE FROM host_artifact WHERE host_id = ? AND component = ? AND "
			    "name = ? AND version = ? AND arch = ? AND state = 'removing'",
			    DB_ARGS(DB_TEXT(host_id), DB_TEXT(k->component), DB_TEXT(k->name),
				    DB_TEXT(k->version), DB_TEXT(k->arch)),
			    NULL, err);
}
