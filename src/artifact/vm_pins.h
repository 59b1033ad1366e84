/*
 * The versions a VM runs with (issue 14 items 4 and 5): pinning them when
 * it starts, and `loam vm upgrade`, which moves it to its host's newest
 * versions at its next start. The VMM and the firmware travel together:
 * the VMM is picked first, then the newest installed firmware its manifest
 * entry lists as tested, and a pair the entry does not list is refused
 * with both versions named. The image never moves: it is the base of the
 * VM's disk.
 */
#ifndef LOAM_ARTIFACT_VM_PINS_H
#define LOAM_ARTIFACT_VM_PINS_H

#include <jansson.h>

#include "db/db.h"
#include "lib/err.h"

/* The VM as these rules need it. */
struct loam_artifact_vm {
	const char *id, *name;
	const char *host_id, *host_name;
	const char *arch;  /* the guest's */
	const char *image; /* the boot image's name */
};

/*
 * Before a start: the versions `loam vm upgrade` recorded become the VM's
 * pins, then every component without a pin gets one (image by its name,
 * VMM, firmware from what the VMM lists, storage daemon) with the host's
 * pick rule (db/host_artifact.h), and the VMM/firmware pair is checked.
 * A component the host has none of stays unpinned (the caller reports it).
 * LOAM_E_CONFLICT when no installed firmware is listed by the VMM, or the
 * pinned pair is not listed.
 */
int loam_artifact_pin_vm(struct loam_db *db, const struct loam_artifact_vm *vm, loam_err *err);

/*
 * `loam vm upgrade`: for `component` (vmm, firmware or storage; NULL: all
 * three), records the host's version a new VM would take as what the VM
 * moves to at its next start, in one transaction. *out gets [{component,
 * name, version (now), next (what it starts with next, or null: it
 * stays)}]. LOAM_E_CONFLICT, changing nothing, when the VM has no pins yet
 * or the VMM/firmware pair it would get is not listed (both versions
 * named); LOAM_E_INVALID for another component.
 */
int loam_artifact_vm_upgrade(struct loam_db *db, const struct loam_artifact_vm *vm,
			     const char *component, json_t **out, loam_err *err);

#endif
