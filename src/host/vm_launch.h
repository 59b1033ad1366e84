/*
 * Starting a VM's programs in its jail: its storage daemon (vm_storage.h),
 * then QEMU. Root opens every file QEMU needs (the firmware code, VARS,
 * seed, serial and console logs) in the VM's root-owned directory and
 * makes the QMP socket there; a child then takes those fds at fixed
 * numbers, drops to the VM's user (groups, gid, uid, no new privileges)
 * and execs QEMU, which names them /dev/fdset/N and gets its disk from the
 * storage daemon's socket. vm_jail_exec is that child's half, shared by
 * both programs. Neither runs as root; both write by path only in run/.
 */
#ifndef LOAM_HOST_VM_LAUNCH_H
#define LOAM_HOST_VM_LAUNCH_H

#include <stdbool.h>
#include <sys/types.h>

#include "host/net.h"
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

/* Starts the VM's storage daemon (vm_storage.h), then QEMU daemonized as
 * the VM's user; *pid is the running QEMU. */
int vm_launch(const struct vm_paths *p, const struct vm_spec *s, pid_t *pid, loam_err *err);

/* Root's fds are parked at or above this number until a jailed child puts
 * them at their targets (below it). */
#define VM_JAIL_FD_PARK 64
#define VM_JAIL_FDS_MAX 24

/* One fd a jailed program gets: root's src at target. */
struct vm_jail_fd {
	int src, target;
};

/* One program in the VM's jail: who it runs as, what it gets. */
struct vm_jail {
	uid_t uid;
	gid_t groups[2];   /* the VM user's own group, then kvm */
	int run;	   /* run/, the working directory */
	int err_w;	   /* its stderr */
	char *const *argv; /* argv[0]: the absolute path */
	char *const *envp; /* its whole environment */
	struct vm_jail_fd fds[VM_JAIL_FDS_MAX];
	size_t n_fds;
	const struct vm_net *net; /* the VM's network namespace (and tap), or NULL */
};

/* Who the VM's programs run as, and run/ (j->run), checked through the VM
 * directory's fd. */
int vm_jail_prepare(const struct vm_paths *p, int dir, struct vm_jail *j, loam_err *err);
/* In a forked child: puts the fds in place, enters the jail, drops to the
 * VM's user (groups, gid, uid, no new privileges) and execs. */
__attribute__((noreturn)) void vm_jail_exec(const struct vm_jail *j);

#endif
