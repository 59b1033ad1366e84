/*
 * What the agent reports about one VM: is it prepared, does its QEMU run,
 * has the guest printed its readiness line on the serial log. Shared by
 * vm-status, vm-wait-ready and watch, so that all three answer with the
 * same object (docs/agent-vm-verbs.md).
 */
#ifndef LOAM_HOST_VM_STATUS_H
#define LOAM_HOST_VM_STATUS_H

#include <jansson.h>
#include <stdbool.h>
#include <sys/types.h>

#include "host/vm.h"

/* {"id", "exists", "running", "pid", "qmp", "ready", "guest_machine",
 * "serial_tail", "storage", "host_keys"} ("storage": vm_storage_status);
 * QMP is asked only when with_qmp (a booting guest is left alone: "qmp" is
 * then null). */
json_t *vm_status_json(const struct vm_paths *p, bool with_qmp);

/* "x86_64" from a log holding "LOAM-READY machine=x86_64\r\n"; NULL when
 * the line is absent. The guest may be half way through writing the line
 * when the log is read, so it counts only once it has ended. */
json_t *vm_guest_machine(const char *log, size_t len);

/* True once the guest's readiness line is on the serial log, or its QEMU
 * is gone (or was never started). Cheap enough to call every few tens of
 * milliseconds: the log is read again only when its size changed since
 * *seen_size (start with -1). */
bool vm_boot_settled(const struct vm_paths *p, off_t *seen_size);

/* The serial log opened for reading, or -1: only a root-owned regular
 * file counts (the VM user owns the directory and could plant a link). */
int vm_open_serial(const struct vm_paths *p);

/* The SSH host keys of the last whole block cloud-init printed in log, as
 * ["TYPE BASE64"] (at most LOAM_HOST_KEYS_MAX; lines that are no public key
 * are dropped): vm_host_keys.c. */
json_t *vm_console_host_keys(const char *log, size_t len);
/* The same, read from the serial log's tail only (a bounded read). */
json_t *vm_host_keys_json(const struct vm_paths *p);

#endif
