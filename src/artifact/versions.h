/*
 * Which artifact versions a host has (issue 5 items 4 and 5, issue 14
 * items 3-5): the host's host_artifact rows as JSON for `loam host show`,
 * the fleet's for `loam artifact ls`, and GC's removal on one host. The
 * rows themselves are the model's (db/host_artifact.h); which version a VM
 * takes is artifact/vm_pins.h.
 */
#ifndef LOAM_ARTIFACT_VERSIONS_H
#define LOAM_ARTIFACT_VERSIONS_H

#include <jansson.h>

#include "db/db.h"
#include "lib/err.h"

/* [{component, name, version, arch, kind, state, path, sha256, error,
 *   installed_at, weight, vms, guest_arches, firmware}] for the host,
 * ordered by component, arch, name, version; vms = how many VMs on the
 * host are pinned to it (now or at their next start), guest_arches (a
 * bundle's) and firmware ([{name, version}] a VMM was tested with) null
 * where they do not apply. */
int loam_artifact_host_json(struct loam_db *db, const char *host_id, json_t **out, loam_err *err);

/* For `loam artifact ls`: the same for every host, each with "host". */
int loam_artifact_ls_json(struct loam_db *db, json_t **out, loam_err *err);

struct loam_transport;

/*
 * GC on one host: marks 'removing', in one transaction that re-checks
 * the rule, every file/tarball version that no VM on the host is pinned to
 * (now or at its next start), that is not the newest usable of its
 * component/name/arch and that a usable version ranks above (weight, then
 * newest); runs `agent_path uninstall` for every version marked (also
 * those an interrupted GC left), and only then deletes their rows. A crash
 * between the two leaves rows 'removing', which no VM takes and the next
 * GC finishes. *removed (may be NULL) gets the list removed.
 */
int loam_artifact_gc_host(struct loam_db *db, struct loam_transport *t, const char *host_id,
			  const char *agent_path, const char *prefix, json_t **removed,
			  loam_err *err);

#endif
