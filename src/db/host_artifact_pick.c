/*
 * Which installed version a new VM takes (host_artifact.h): one ordering
 * (weight, then newest, then version) over the usable rows that serve the
 * VM's guest arch, narrowed for firmware to what the VM's VMM lists and
 * for images to the image's name; the VMM/firmware pair check; weights.
 */
#include "db/host_artifact.h"

#include <stdio.h>
#include <stdlib.h>

#include "db/host_artifact_sql.h"
#include "lib/cleanup.h"
#include "lib/xalloc.h"

void loam_artifact_pick_free(struct loam_artifact_pick *p)
{
	free(p->name);
	free(p->version);
	free(p->arch);
	*p = (struct loam_artifact_pick){0};
}

/* The first row's name, version and arch: 1, or 0 when there is none. */
static int first(struct loam_db *db, const char *sql, const struct loam_db_val *args, size_t nargs,
		 struct loam_artifact_pick *out, loam_err *err)
{
	*out = (struct loam_artifact_pick){0};
	cleanup_rows struct loam_db_rows *r = NULL;
	if (loam_db_query(db, sql, args, nargs, &r, err) < 0)
		return -1;
	if (loam_db_rows_count(r) == 0)
		return 0;
	*out = (struct loam_artifact_pick){loam_db_rows_dup(r, 0, 0), loam_db_rows_dup(r, 0, 1),
					   loam_db_rows_dup(r, 0, 2)};
	return 1;
}

#define PICK_FROM                                                                                  \
	"SELECT h.name, h.version, h.arch FROM host_artifact h WHERE h.host_id = ? AND "           \
	"h.component = ? AND h.weight > 0 AND " HA_USABLE("h") " AND " HA_SERVES

int loam_host_artifact_pick(struct loam_db *db, const char *host_id, const char *guest_arch,
			    const char *component, struct loam_artifact_pick *out, loam_err *err)
{
	return first(
	    db, PICK_FROM " ORDER BY " HA_PREFERRED_FIRST " LIMIT 1",
	    DB_ARGS(DB_TEXT(host_id), DB_TEXT(component), DB_TEXT(guest_arch), DB_TEXT(guest_arch)),
	    out, err);
}

int loam_host_artifact_pick_firmware(struct loam_db *db, const char *host_id,
				     const char *guest_arch, const struct loam_artifact_key *vmm,
				     struct loam_artifact_pick *out, loam_err *err)
{
	return first(db,
		     PICK_FROM " AND EXISTS (SELECT 1 FROM host_artifact_firmware f WHERE "
			       "f.host_id = h.host_id AND f.component = ? AND f.name = ? AND "
			       "f.version = ? AND f.arch = ? AND f.firmware_name = h.name AND "
			       "f.firmware_version = h.version) ORDER BY " HA_PREFERRED_FIRST
			       " LIMIT 1",
		     DB_ARGS(DB_TEXT(host_id), DB_TEXT("firmware"), DB_TEXT(guest_arch),
			     DB_TEXT(guest_arch), DB_TEXT(vmm->component), DB_TEXT(vmm->name),
			     DB_TEXT(vmm->version), DB_TEXT(vmm->arch)),
		     out, err);
}

int loam_host_artifact_pick_image(struct loam_db *db, const char *host_id, const char *guest_arch,
				  const char *name, struct loam_artifact_pick *out, loam_err *err)
{
	return first(db, PICK_FROM " AND h.name = ? ORDER BY " HA_PREFERRED_FIRST " LIMIT 1",
		     DB_ARGS(DB_TEXT(host_id), DB_TEXT("image"), DB_TEXT(guest_arch),
			     DB_TEXT(guest_arch), DB_TEXT(name)),
		     out, err);
}

int loam_host_artifact_pick_version(struct loam_db *db, const char *host_id, const char *guest_arch,
				    const char *component, const char *version,
				    struct loam_artifact_pick *out, loam_err *err)
{
	return first(db, PICK_FROM " AND h.version = ? ORDER BY " HA_PREFERRED_FIRST " LIMIT 1",
		     DB_ARGS(DB_TEXT(host_id), DB_TEXT(component), DB_TEXT(guest_arch),
			     DB_TEXT(guest_arch), DB_TEXT(version)),
		     out, err);
}

#define FW_OF_VMM                                                                                  \
	"FROM host_artifact_firmware WHERE host_id = ? AND component = ? AND name = ? AND "        \
	"version = ? AND arch = ?"

int loam_host_artifact_pair_listed(struct loam_db *db, const char *host_id,
				   const struct loam_artifact_key *vmm, const char *fw_name,
				   const char *fw_version, bool *listed, loam_err *err)
{
	cleanup_rows struct loam_db_rows *r = NULL;
	if (loam_db_query(db,
			  "SELECT 1 " FW_OF_VMM " AND firmware_name = ? AND firmware_version = ?",
			  DB_ARGS(DB_TEXT(host_id), DB_TEXT(vmm->component), DB_TEXT(vmm->name),
				  DB_TEXT(vmm->version), DB_TEXT(vmm->arch), DB_TEXT(fw_name),
				  DB_TEXT(fw_version)),
			  &r, err) < 0)
		return -1;
	*listed = loam_db_rows_count(r) > 0;
	return 0;
}

int loam_host_artifact_firmware_text(struct loam_db *db, const char *host_id,
				     const struct loam_artifact_key *vmm, char **text,
				     loam_err *err)
{
	cleanup_rows struct loam_db_rows *r = NULL;
	if (loam_db_query(db,
			  "SELECT firmware_name, firmware_version " FW_OF_VMM
			  " ORDER BY firmware_name, firmware_version",
			  DB_ARGS(DB_TEXT(host_id), DB_TEXT(vmm->component), DB_TEXT(vmm->name),
				  DB_TEXT(vmm->version), DB_TEXT(vmm->arch)),
			  &r, err) < 0)
		return -1;
	char *s = xstrdup("");
	for (size_t i = 0; i < loam_db_rows_count(r); i++) {
		char *next = xasprintf("%s%s%s %s", s, i ? ", " : "", loam_db_rows_text(r, i, 0),
				       loam_db_rows_text(r, i, 1));
		free(s);
		s = next;
	}
	*text = s;
	return 0;
}

int loam_host_artifact_set_weight(struct loam_db *db, const char *host_id, const char *component,
				  const char *name, const char *version, const char *arch,
				  int64_t weight, int64_t *changed, loam_err *err)
{
	return loam_db_exec(db,
			    "UPDATE host_artifact SET weight = ? "
			    "WHERE host_id = ? AND component = ? AND version = ? AND "
			    "(CAST(? AS TEXT) IS NULL OR name = ?) AND "
			    "(CAST(? AS TEXT) IS NULL OR arch = ?)",
			    DB_ARGS(DB_INT(weight), DB_TEXT(host_id), DB_TEXT(component),
				    DB_TEXT(version), loam_db_text_or_null(name),
				    loam_db_text_or_null(name), loam_db_text_or_null(arch),
				    loam_db_text_or_null(arch)),
			    changed, err);
}
