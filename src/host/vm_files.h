/*
 * Opening a VM's files without trusting its user. The VM's directory is
 * root's, but run/ inside it belongs to the VM's user, who may plant
 * symlinks, hardlinks or FIFOs there; so every file is opened relative to
 * a directory fd that was checked, with O_NOFOLLOW, and checked again
 * (owner, type, link count) through the fd before it is used.
 */
#ifndef LOAM_HOST_VM_FILES_H
#define LOAM_HOST_VM_FILES_H

#include <stdbool.h>
#include <sys/types.h>

#include "host/vm.h"
#include "lib/err.h"

/* The VM's directory: a real directory owned by root that nobody else can
 * write. Returns the fd (O_CLOEXEC) or -1 (LOAM_E_NOTFOUND when absent or
 * in the old layout, owned by the VM user: vm-prep converts it). */
int vm_dir_open(const struct vm_paths *p, loam_err *err);
/* run/ under dirfd: a directory owned by a user other than root (*owner). */
int vm_run_open(int dirfd, uid_t *owner, loam_err *err);
/* name under dirfd: flags | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC (mode 0600
 * with O_CREAT), refused unless a regular file owned by owner with one
 * link, so that a planted link or FIFO is never used. O_NONBLOCK is cleared
 * again once the fd is known to be a regular file. */
int vm_file_open(int dirfd, const char *name, int flags, uid_t owner, loam_err *err);
/* Removes name under dirfd if present (unlinkat never follows a link). */
int vm_unlink_at(int dirfd, const char *name, loam_err *err);
/* The pid in run/qemu.pid and the uid that owns run/ and the file; 0 when
 * there is none or it is not a plain file of that user. */
pid_t vm_pidfile_read(const struct vm_paths *p, uid_t *owner);
/* rm -rf through directory fds, never following a link; absent is fine. */
int vm_remove_tree(const char *dir, loam_err *err);

#endif
