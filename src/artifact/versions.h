/*
 * Which artifact versions a host has and a VM runs with (issue 5, items 4
 * and 5): host_artifact rows as JSON for `loam host show`, pinning a new VM
 * to the newest installed version of each component on its host, and the
 * VM's pinned versions as JSON for `loam vm show` ("artifacts").
 */
#ifndef LOAM_ARTIFACT_VERSIONS_H
#define LOAM_ARTIFACT_VERSIONS_H

#include <jansson.h>

#include "db/db.h"
#include "lib/err.h"

/* [{component, name, version, arch, kind, state, path, sha256, error,
 *   installed_at}] for the host, ordered by component, arch, version. */
int loam_artifact_host_json(struct loam_db *db, const char *host_id, json_t **out, loam_err *err);

/*
 * Records in vm_artifact, for each component, the newest version (latest
 * installed_at) installed on host_id for arch (debian-package entries that
 * are 'unavailable' on the host count: the VMM is provided another way, and
 * the pinned version is still what the manifest names). A VM that already
 * has a pin for a component keeps it, so this is idempotent and running VMs
 * keep their versions across upgrades. Fails (LOAM_E_NOTFOUND) when the host
 * has no usable firmware or image for the arch.
 */
int loam_artifact_pin_vm(struct loam_db *db, const char *vm_id, const char *host_id,
			 const char *arch, loam_err *err);

/* {"vmm": {"name", "version", "arch"}, "firmware": ..., ...} */
int loam_artifact_vm_json(struct loam_db *db, const char *vm_id, json_t **out, loam_err *err);

/*
 * For the allocator (issue 5, item 7): an SQL condition, true when the host
 * row aliased `h` has the boot image installed for the VM's arch. It takes
 * two '?' parameters: the image name, then the arch. Explain text: "no
 * accepting host has image NAME installed for ARCH".
 */
#define LOAM_ARTIFACT_HOST_HAS_IMAGE_SQL(h)                                                        \
	"EXISTS (SELECT 1 FROM host_artifact ha WHERE ha.host_id = " h ".id "                      \
	"AND ha.component = 'image' AND ha.name = ? AND ha.arch = ? AND ha.state = 'installed')"

/* For `loam artifact ls`: [{host, component, name, version, arch, state,
 * vms}] with vms = how many VMs on that host are pinned to that version. */
int loam_artifact_ls_json(struct loam_db *db, json_t **out, loam_err *err);

struct loam_transport;

/*
 * GC on one host: removes every file/tarball version that no VM on the host
 * is pinned to and that is not the newest installed version of its
 * component/name/arch (new VMs need that one). The rows are deleted inside
 * one transaction that re-checks "unused" (call loam_artifact_pin_vm inside
 * a transaction too, so the two serialize), then `agent_path uninstall`
 * removes the directories. *removed (may be NULL) gets the list removed.
 */
int loam_artifact_gc_host(struct loam_db *db, struct loam_transport *t, const char *host_id,
			  const char *agent_path, const char *prefix, json_t **removed,
			  loam_err *err);

#endif
