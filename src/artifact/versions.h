/*
 * Which artifact versions a host has and a new VM takes (issue 5, items 4
 * and 5): the host's host_artifact rows as JSON for `loam host show`, the
 * fleet's for `loam artifact ls`, the one rule a new VM's versions are
 * picked by, and GC's removal on one host. The rows themselves are the
 * model's (db/host_artifact.h).
 */
#ifndef LOAM_ARTIFACT_VERSIONS_H
#define LOAM_ARTIFACT_VERSIONS_H

#include <jansson.h>

#include "db/db.h"
#include "lib/err.h"

/* [{component, name, version, arch, kind, state, path, sha256, error,
 *   installed_at}] for the host, ordered by component, arch, name, version. */
int loam_artifact_host_json(struct loam_db *db, const char *host_id, json_t **out, loam_err *err);

/*
 * THE selection rule for a new VM (the VM prog pins each component through
 * it and records the result in vm_artifact): the version of `component` a
 * new VM on host_id for arch starts with is the newest installed one,
 * newest meaning the latest installed_at (`loam host upgrade` installs side
 * by side, so the version installed last wins; a debian-package that is
 * 'unavailable' on the host counts: the VMM is provided another way, and
 * the version is still what the manifest names). Returns 1 with *name and
 * *version set (the caller frees both), 0 when the host has none, -1 on a
 * DB error. A running VM never calls this again: its vm_artifact rows keep
 * the version it started with.
 */
int loam_artifact_pick_for_vm(struct loam_db *db, const char *host_id, const char *arch,
			      const char *component, char **name, char **version, loam_err *err);

/* For `loam artifact ls`: [{host, component, name, version, arch, state,
 * vms}] with vms = how many VMs on that host are pinned to that version. */
int loam_artifact_ls_json(struct loam_db *db, json_t **out, loam_err *err);

struct loam_transport;

/*
 * GC on one host: removes every file/tarball version that no VM on the host
 * is pinned to and that is not the newest installed version of its
 * component/name/arch (new VMs need that one). The rows are deleted inside
 * one transaction that re-checks "unused" (the VM prog pins inside a
 * transaction too, so the two serialize), then `agent_path uninstall`
 * removes the directories. *removed (may be NULL) gets the list removed.
 */
int loam_artifact_gc_host(struct loam_db *db, struct loam_transport *t, const char *host_id,
			  const char *agent_path, const char *prefix, json_t **removed,
			  loam_err *err);

#endif
