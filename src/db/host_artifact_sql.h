/*
 * SQL pieces the host_artifact files share (host_artifact.c, _pick.c,
 * _gc.c): the columns every listing selects, one reader for them, and the
 * predicates on a row `h` that the pick rule and GC are made of. Plain SQL
 * that runs unchanged on SQLite and PostgreSQL. Only src/db includes it.
 */
#ifndef LOAM_DB_HOST_ARTIFACT_SQL_H
#define LOAM_DB_HOST_ARTIFACT_SQL_H

#include "db/host_artifact.h"

/* Every listing selects these, then host name, pinned VMs, newer, higher. */
#define HA_COLS                                                                                    \
	"h.host_id, h.component, h.name, h.version, h.arch, h.kind, h.state, h.path, h.sha256, "   \
	"h.error, h.installed_at, h.updated_at, h.weight, "

/* What a VM can run: installed, or installed on a host that could not check
 * the system packages a bundle needs (the operator provides them). */
#define HA_USABLE(t) t ".state IN ('installed', 'unavailable')"

/* Row n has the same host, component, name and arch as h: its line. */
#define HA_SAME_LINE                                                                               \
	"n.host_id = h.host_id AND n.component = h.component AND n.name = h.name "                 \
	"AND n.arch = h.arch"

#define HA_SAME_KEY(t)                                                                             \
	t ".host_id = h.host_id AND " t ".component = h.component AND " t ".name = h.name AND " t  \
	  ".version = h.version AND " t ".arch = h.arch"

/* How many VMs on the row's host are pinned to its version, now or at
 * their next start (loam vm upgrade). */
#define HA_PINNED_VMS                                                                              \
	"(SELECT count(*) FROM vm_artifact va JOIN vm ON vm.id = va.vm_id "                        \
	"WHERE vm.host_id = h.host_id AND va.component = h.component AND "                         \
	"((va.name = h.name AND va.version = h.version AND va.arch = h.arch) OR "                  \
	"(va.next_name = h.name AND va.next_version = h.version AND va.next_arch = h.arch)))"

/* A usable version of the row's line installed after it. */
#define HA_NEWER                                                                                   \
	"EXISTS (SELECT 1 FROM host_artifact n WHERE " HA_SAME_LINE                                \
	" AND " HA_USABLE("n") " AND n.installed_at > h.installed_at)"

/* A usable version of the row's line that a new VM prefers: a higher
 * weight, or the same weight and newer. */
#define HA_HIGHER                                                                                  \
	"EXISTS (SELECT 1 FROM host_artifact n WHERE " HA_SAME_LINE                                \
	" AND " HA_USABLE("n") " AND (n.weight > h.weight OR (n.weight = h.weight AND "            \
			       "n.installed_at > h.installed_at)))"

/* The row serves guest arch ? (bound twice): a bundle that lists it, or an
 * artifact of that arch. */
#define HA_SERVES                                                                                  \
	"(EXISTS (SELECT 1 FROM host_artifact_guest_arch g WHERE " HA_SAME_KEY(                    \
	    "g") " AND g.guest_arch = ?) OR (h.arch = ? AND NOT EXISTS (SELECT 1 FROM "            \
		 "host_artifact_guest_arch g WHERE " HA_SAME_KEY("g") ")))"

/* The pick rule's order. */
#define HA_PREFERRED_FIRST                                                                         \
	"h.weight DESC, COALESCE(h.installed_at, h.updated_at) DESC, h.version DESC"

int ha_query(struct loam_db *db, const char *sql, const struct loam_db_val *args, size_t nargs,
	     struct loam_host_artifacts *out, loam_err *err);

#endif
