/*
 * The VM's storage daemon: the pinned storage bundle's qemu-storage-daemon
 * serves the VM's disk over vhost-user-blk on run/disk.sock, in the same
 * jail as QEMU (vm_launch.h), as the VM's user. Root opens the overlay (no
 * links followed, under the VM directory's fd) and the boot image and
 * hands them in as fds 3 and 4; the daemon names them /proc/self/fd/N,
 * which reopens the very inode it was handed (so the overlay is group
 * read-write for the VM's group: the daemon has no fd sets).
 *
 * A root-owned supervisor, forked by vm-start and detached from it, stays
 * as the daemon's parent: it waits on it and forks a new one at once when
 * it dies under a running VM (QEMU reconnects). After three failed
 * restarts in a row it gives up and leaves the reason, with the daemon's
 * log tail, in storage.failed, which the checkup turns into a failed VM.
 * It stops the daemon when QEMU is gone or when vm-stop tells it to.
 */
#ifndef LOAM_HOST_VM_STORAGE_H
#define LOAM_HOST_VM_STORAGE_H

#include <jansson.h>
#include <sys/types.h>

#include "host/vm.h"
#include "host/vm_launch.h"
#include "lib/argv.h"
#include "lib/err.h"

#define VM_STORAGE_DISK_FD  3
#define VM_STORAGE_IMAGE_FD 4
/* Restarts that fail in a row (the daemon never serves, or dies within
 * VM_STORAGE_STABLE_MS of serving) before the supervisor gives up. */
#define VM_STORAGE_MAX_FAILURES 3
#define VM_STORAGE_STABLE_MS	5000
#define VM_STORAGE_START_MS	10000
#define VM_STORAGE_LOG_TAIL	1024

/* The daemon's argv: the blockdev chain on fds 3 and 4, the export on
 * run/disk.sock. */
int vm_storage_argv(const struct vm_paths *p, const struct vm_spec *s, struct loam_argv *argv,
		    loam_err *err);

/* Forks the supervisor and returns once the first daemon serves (its
 * socket exists), or fails with the daemon's log tail. qemu's jail gives
 * the user, groups and run/; dir is the VM directory's fd. */
int vm_storage_start(const struct vm_paths *p, const struct vm_spec *s, int dir,
		     const struct vm_jail *qemu, loam_err *err);
/* Stops the supervisor and its daemon, if any; err may be NULL. */
int vm_storage_stop(const struct vm_paths *p, loam_err *err);
/* {"supervisor", "pid", "running", "restarts", "failed"}, or null when the
 * VM has no storage daemon and no failure on record. */
json_t *vm_storage_status(const struct vm_paths *p);

/* The supervisor's half (vm_storage_keeper.c), in the forked child. */
struct vm_keeper {
	const struct vm_paths *p;
	struct vm_jail jail; /* the daemon's: fds 3 and 4, stderr the log */
	int dir;	     /* the VM directory */
	int log;	     /* storage.log */
	int ready_w;	     /* "ok", or why the first daemon did not serve */
};
__attribute__((noreturn)) void vm_keeper_run(struct vm_keeper *k);

#endif
