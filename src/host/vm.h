/*
 * The host side of one VM: its id, its unix user, the files in its
 * directory, the spec the control plane sent (vm.json), and the processes
 * that belong to it. The VM verbs (verb_vm.c) are built from these parts.
 *
 * Layout under the state dir D, all per VM (the names: proto/agent.h):
 *   D/vms/<id>/            root:loam-vm-<id> 0710; every file in it root's, 0600
 *     vm.json              the spec; refused if anyone but root owns it
 *     disk.qcow2 VARS.fd seed.img      made by vm-prep
 *     serial.log console.log qmp.sock  made by vm-start, handed to QEMU as fds
 *     storage.pid storage.log storage.failed  the storage daemon's supervisor's
 *     run/                 loam-vm-<id> 0700: the only place the VM user writes
 *       qemu.pid           written by QEMU; read by root only through a dir fd
 *       disk.sock          the storage daemon's vhost-user-blk socket
 * disk.qcow2 alone is group-writable by the VM's group (0660): the storage
 * daemon reopens the fd it was handed through /proc/self/fd (vm_storage.h).
 * The VM id is checked with loam_valid_id (lib/valid.h).
 */
#ifndef LOAM_HOST_VM_H
#define LOAM_HOST_VM_H

#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <sys/types.h>

#include "arch/arch.h"
#include "lib/err.h"

#define VM_USER_MAX 32
#define VM_PATH_MAX 512

struct vm_paths {
	char id[64];
	char user[VM_USER_MAX + 1];
	char vms[VM_PATH_MAX]; /* D/vms */
	char dir[VM_PATH_MAX];
	char spec[VM_PATH_MAX];
	char disk[VM_PATH_MAX];
	char vars[VM_PATH_MAX];
	char seed[VM_PATH_MAX];
	char serial[VM_PATH_MAX];
	char console[VM_PATH_MAX];
	char qmp[VM_PATH_MAX];
	char run[VM_PATH_MAX];	     /* D/vms/<id>/run: the VM user's */
	char pid[VM_PATH_MAX];	     /* in run/ */
	char disk_sock[VM_PATH_MAX]; /* in run/ */
	char ref_pid[VM_PATH_MAX];   /* a reference boot's (vm-argv --paths) */
};

/* "loam-vm-<id>", or for long ids a prefix of the id and 8 hex digits of
 * its SHA-256, so the name stays unique and within 32 characters. */
int vm_user_name(const char *id, char out[VM_USER_MAX + 1], loam_err *err);
/* Validates state_dir and id and fills every path. */
int vm_paths_init(const char *state_dir, const char *id, struct vm_paths *p, loam_err *err);

struct vm_spec {
	json_t *json; /* owns every string below */
	const char *id, *name, *image, *image_format, *fw_code, *fw_vars;
	const char *vmm_dir;	  /* optional: the pinned vmm bundle (bin/ lib/qemu/ share/qemu/) */
	const char *storage_dir;  /* optional: the pinned storage bundle (bin/qemu-img, ...) */
	const char *hugepage_dir; /* optional: hugetlbfs mount; default found in /proc/mounts */
	const struct loam_arch *arch;
	unsigned vcpus, memory_mib, disk_gib; /* disk_gib 0: the image's size */
	bool hugepages, kvm;
	struct loam_topology topo;
	bool has_seed;
	const char *meta_data, *user_data, *network_config;
	const char *kernel, *initrd, *cmdline; /* kernel NULL: firmware boot */
	bool kernel_firmware; /* direct kernel through UEFI (default) or without it */
};

/* Validates every field of j (takes a reference). Changes nothing. */
int vm_spec_parse(json_t *j, struct vm_spec *s, loam_err *err);
void vm_spec_free(struct vm_spec *s);
/* Reads D/vms/<id>/vm.json, refusing one not owned by root. */
int vm_spec_load(const struct vm_paths *p, struct vm_spec *s, loam_err *err);
/* The QEMU binary the VM runs: vmm_dir/bin/<the arch's qemu binary> when
 * the spec names the pinned bundle, else the arch's from PATH (a spec
 * naming its own binary is refused).
 * Also its data dir (-L) and module dir (QEMU_MODULE_DIR) in the bundle,
 * "" without one. */
int vm_spec_vmm_paths(const struct vm_spec *s, char binary[VM_PATH_MAX], char data_dir[VM_PATH_MAX],
		      char module_dir[VM_PATH_MAX], loam_err *err);
/* qemu-img of the pinned storage bundle, or "qemu-img" (PATH) without one. */
int vm_spec_qemu_img(const struct vm_spec *s, char out[VM_PATH_MAX], loam_err *err);
/* The pinned bundle's qemu-storage-daemon, or the host's (PATH) without one. */
int vm_spec_storage_daemon(const struct vm_spec *s, char out[VM_PATH_MAX], loam_err *err);
/* False only for a kernel booted without UEFI: no pflash, no VARS. */
bool vm_spec_uses_firmware(const struct vm_spec *s);

/* Users and groups, read from /etc/passwd and /etc/group (no NSS, so the
 * static agent needs no glibc at run time). */
int vm_user_lookup(const char *user, uid_t *uid, gid_t *gid, bool *found, loam_err *err);
int vm_user_ensure(const char *user, uid_t *uid, gid_t *gid, loam_err *err);
int vm_user_remove(const char *user, loam_err *err);
/* Full path of a system tool, looked up in PATH and then the sbin dirs. */
int vm_tool(const char *name, char out[PATH_MAX], loam_err *err);

/* The pid of this VM's QEMU when it runs: the pid file (read through
 * vm_files.h) names a live, non-zombie process of the VM's user whose
 * command line carries this VM's pid file. */
pid_t vm_running_pid(const struct vm_paths *p);
bool vm_pid_alive(pid_t pid);
/* SIGKILLs every process of uid but `spared` (0: none) until none is
 * left (or fails). */
int vm_kill_user_processes(uid_t uid, pid_t spared, loam_err *err);
/* SIGKILLs the live processes match(pid, arg) picks until none is left;
 * `what` names them in the error. */
int vm_kill_until_gone(bool (*match)(pid_t pid, const void *arg), const void *arg, const char *what,
		       loam_err *err);
/* DIR/FILE into out, failing when it does not fit. */
int vm_path_join(char out[VM_PATH_MAX], const char *dir, const char *file, loam_err *err);
/* The kvm group's id: the VM user's one extra group. */
int vm_kvm_gid(gid_t *gid, loam_err *err);

#endif
