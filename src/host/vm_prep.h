/*
 * vm-prep's work: the VM's user, its 0700 directory, the qcow2 overlay over
 * the boot image, the firmware VARS copy, the NoCloud seed and vm.json.
 * Split from the verb so that each step stays short and testable.
 */
#ifndef LOAM_HOST_VM_PREP_H
#define LOAM_HOST_VM_PREP_H

#include <jansson.h>

#include "host/vm.h"

/* Idempotent: makes what is missing, keeps the disk and VARS that exist
 * (they hold the guest's state), rewrites the seed and vm.json. *result is
 * the JSON object vm-prep prints. */
int vm_prep(const struct vm_paths *p, const struct vm_spec *s, json_t **result, loam_err *err);

#endif
