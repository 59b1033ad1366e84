/*
 * Host upgrade and artifact GC (issue 5, item 6): which manifest entries
 * `loam host upgrade` installs (side by side, never replacing a version),
 * and GC's plan: for every version on a host, whether it goes and, if it
 * stays, why. The installing and removing themselves are
 * loam_artifact_install_on_host (host_install.h) and loam_artifact_gc_host
 * (versions.h); loamd's API (src/api/artifacts.c) drives both.
 */
#ifndef LOAM_ARTIFACT_UPGRADE_H
#define LOAM_ARTIFACT_UPGRADE_H

#include <jansson.h>

#include "artifact/manifest.h"
#include "db/db.h"
#include "lib/err.h"

/*
 * Fills out with shallow copies of the entries of m to install for an
 * upgrade (free only out->entries): entries the host takes
 * (loam_artifact_entry_for_host; arches is NULL-terminated, the host's own
 * arch first), whose component is `component` (NULL: all) and whose
 * version is `version` (NULL: the newest of each component/name/arch, i.e.
 * the one listed last: a release appends its versions to the manifest).
 * An unknown component, or a version the store does not have for these
 * arches, is LOAM_E_INVALID naming what the store has; nothing is selected.
 */
int loam_artifact_upgrade_select(const struct loam_artifact_manifest *m, const char *const *arches,
				 const char *component, const char *version,
				 struct loam_artifact_manifest *out, loam_err *err);

/*
 * GC's plan for one host, changing nothing: {"remove": [{component, name,
 * version, arch, weight, vms, reason}], "keep": [... the same, with why it
 * stays]}. A version stays when a VM on the host is pinned to it
 * (vm_artifact, now or at its next start), when it is the newest usable of
 * its component/name/arch, when no usable version of that line ranks above
 * it (weight, then newest: new VMs take it) or when it is not installed.
 * One an interrupted GC began removing goes. The same rule as
 * loam_artifact_gc_host, which re-checks it in its transaction.
 */
int loam_artifact_gc_plan(struct loam_db *db, const char *host_id, json_t **out, loam_err *err);

#endif
