/*
 * Starting a VM's programs, each in its own jail (host/jail.h): its
 * storage daemon (vm_storage.h), then QEMU. Root opens every file QEMU
 * needs (the firmware code, VARS, seed, serial and console logs) in the
 * VM's root-owned directory and makes the QMP socket there; the jail puts
 * those fds at fixed numbers, and QEMU names them /dev/fdset/N and gets
 * its disk from the storage daemon's socket in run/. Neither runs as root;
 * both write by path only in run/.
 */
#ifndef LOAM_HOST_VM_LAUNCH_H
#define LOAM_HOST_VM_LAUNCH_H

#include <stdbool.h>
#include <sys/types.h>

#include "host/jail.h"
#include "host/net.h"
#include "host/vm.h"
#include "lib/argv.h"
#include "lib/err.h"
#include "proto/agent.h"

/* The QEMU argv vm-start runs, fd numbers included (by_path false), or
 * the same machine with every file named by its path (by_path true), for
 * a reference boot as root outside loam (loam-bench boot). */
int vm_qemu_argv(const struct vm_paths *p, const struct vm_spec *s, bool by_path,
		 struct loam_argv *argv, loam_err *err);

/* QEMU's environment (NAME=VALUE words, none inherited): the pinned
 * bundle's module dir, QEMU_MODULE_DIR. */
int vm_qemu_env(const struct vm_spec *s, struct loam_argv *env, loam_err *err);

/* Starts the VM's storage daemon (vm_storage.h), then QEMU, each in its
 * jail (host/jail.h) as the VM's user, both in the VM's cgroup; *pid is
 * the running QEMU's host pid, also recorded in the VM's root-owned
 * vmm.pid, and *jail_ms what QEMU's jail added: the cgroup, and its
 * child's set-up from the clone to QEMU's exec (namespaces, mounts, drop). */
int vm_launch(const struct vm_paths *p, const struct vm_spec *s, pid_t *pid, double *jail_ms,
	      loam_err *err);

/* The VM's cgroup under loam/ ("vm-<id>"). */
void vm_cgroup_name(const struct vm_paths *p, char *out, size_t size);

/* A jailed program's read-only view: the system's libraries, its pinned
 * bundle (or NULL) and its own directory prog; the root covers the VM
 * directory and run/ is its /run. ro holds the list. */
#define VM_JAIL_RO_MAX 16
void vm_jail_view(const struct vm_paths *p, const char *bundle, const char *prog,
		  const char *ro[VM_JAIL_RO_MAX], struct jail_view *v);

/* Where the storage daemon serves the disk, relative to run/: both jailed
 * programs' working directory, their /run when the host gives the minimal
 * root and the VM directory's run/ when it does not (jail.h). */
#define VM_JAIL_DISK_SOCK LOAM_LAYOUT_VM_DISK_SOCK

#endif
