/*
 * Runs a program already switched to a VM's user: the agent forks, drops
 * its groups, gid and uid (and sets no-new-privs), then execs. The VMM is
 * started this way, never as root and never with QEMU's `-runas` (QEMU
 * 10 refuses it); the bench's direct boot too. A stop-gap start path until the VM launcher with its
 * jail (issue 15) replaces it: keep the call, not the file.
 */
#ifndef LOAM_HOST_RUN_AS_H
#define LOAM_HOST_RUN_AS_H

#include <sys/types.h>

#include "lib/err.h"

/* The user's primary group and the groups /etc/group lists it in (read
 * directly: the static agent has no NSS). At most max; *n gets how many. */
int host_user_groups(const char *user, gid_t gid, gid_t *out, size_t max, size_t *n, loam_err *err);

/*
 * Runs argv (argv[0] an absolute path) with envp as uid:gid with the
 * groups, stdin from /dev/null, and waits until it exits and its stdout and
 * stderr are closed (a daemonizing program: until it is set up), at most
 * timeout_ms. Fails with the program's last stderr line when it does not
 * exit 0.
 */
int host_run_as(const char *const *argv, const char *const *envp, uid_t uid, gid_t gid,
		const gid_t *groups, size_t ngroups, int timeout_ms, loam_err *err);

struct vm_paths;

/* The VM's serial log, made afresh for a start: root's (root reads it,
 * and only as a root-owned file, in a directory the VM's user owns),
 * writable by the VM's group, which QEMU truncates and writes; made
 * without following a link the user may have planted. */
int vm_serial_log_reset(const struct vm_paths *p, gid_t gid, loam_err *err);

/* Starts a VM's QEMU (argv[0] absolute, daemonizing) as the VM's user with
 * its groups, with env (e.g. QEMU_MODULE_DIR=...; NULL-terminated, may be
 * NULL) besides PATH, after vm_serial_log_reset: vm-start without systemd,
 * and `loam bench boot`'s direct boot of the same argv. */
int vm_start_as_user(const struct vm_paths *p, const char *const *argv, const char *const *env,
		     int timeout_ms, loam_err *err);

#endif
