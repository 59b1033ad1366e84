/*
 * Starting a VM's QEMU in its jail. Root opens every file QEMU needs (the
 * firmware code, VARS, disk, seed, serial and console logs) in the VM's
 * root-owned directory and makes the QMP socket there; a child then takes
 * those fds at fixed numbers, drops to the VM's user (groups, gid, uid, no
 * new privileges) and execs QEMU, which names them /dev/fdset/N. QEMU
 * never runs as root and writes by path only in run/ (its pid file).
 */
#ifndef LOAM_HOST_VM_LAUNCH_H
#define LOAM_HOST_VM_LAUNCH_H

#include <stdbool.h>
#include <sys/types.h>

#include "host/vm.h"
#include "lib/argv.h"
#include "lib/err.h"

/* The QEMU argv vm-start runs, fd numbers included (by_path false), or
 * the same machine with every file named by its path (by_path true), for
 * a reference boot as root outside loam (loam-bench boot). */
int vm_qemu_argv(const struct vm_paths *p, const struct vm_spec *s, bool by_path,
		 struct loam_argv *argv, loam_err *err);

/* QEMU's environment (NAME=VALUE words, none inherited): the pinned
 * bundle's module dir, QEMU_MODULE_DIR. */
int vm_qemu_env(const struct vm_spec *s, struct loam_argv *env, loam_err *err);

/* Starts QEMU in its jail (host/jail.h) as the VM's user; *pid is the
 * running QEMU's host pid, also recorded in the VM's root-owned vmm.pid,
 * and *jail_ms what the jail added: its cgroup, and its child's set-up
 * from the clone to QEMU's exec (namespaces, mounts, drop). */
int vm_launch(const struct vm_paths *p, const struct vm_spec *s, pid_t *pid, double *jail_ms,
	      loam_err *err);

/* The VM's cgroup under loam/ ("vm-<id>"). */
void vm_cgroup_name(const struct vm_paths *p, char *out, size_t size);

#endif
