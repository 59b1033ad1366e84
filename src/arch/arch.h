/*
 * The architecture interface, after kvmtool: everything that differs between
 * CPU architectures lives in src/arch/<name>/ behind this one struct, and no
 * file outside those folders branches on the arch. The list of arches is
 * generated from the folders at build time, so adding riscv64 means adding
 * src/arch/riscv64/; the schema takes it from the registry (the arch table).
 */
#ifndef LOAM_ARCH_H
#define LOAM_ARCH_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/argv.h"
#include "lib/err.h"
#include "lib/topology.h"

/* A name that looks like this arch but whose binaries cannot run on our
 * hosts (32-bit, big-endian, ILP32, capability ABIs), with the reason. */
struct loam_arch_refusal {
	const char *name; /* lower case */
	const char *reason;
};

/* One VM size: vCPUs and memory. Memory is fixed per arch (docs/design.md §2). */
struct loam_size {
	const char *name; /* "standard-2" */
	unsigned vcpus;
	unsigned memory_gib;
};

/* A server model of this arch as met in the field, and how common it is
 * among the arch's servers: `loam-bench alloc` draws its synthetic fleet
 * from these. */
struct loam_server_shape {
	unsigned cores, threads_per_core, memory_gib;
	unsigned weight; /* relative to the arch's other shapes */
};

/* What the host agent learned that decides whether KVM is usable. */
struct loam_kvm_probe {
	bool dev_kvm_opens;	/* /dev/kvm opened read-write */
	int kvm_api_version;	/* KVM_GET_API_VERSION, or -1 */
	bool kvm_vm_creates;	/* KVM_CREATE_VM succeeded */
	const char *cpu_flags;	/* x86 "flags" line of /proc/cpuinfo, or "" */
	const char *kvm_module; /* name of the module behind /dev/kvm, e.g. "kvm_pvm", or "" */
};

/* Everything the VMM recipe needs to build a command line for one VM. */
/* An inherited fd and the QEMU fd set it joins: a set holds one fd per
 * access mode QEMU may ask for (a writable image is also opened read-only). */
struct loam_vmm_fd {
	int fd, set;
};

struct loam_vmm_spec {
	unsigned vcpus;
	struct loam_topology topo;
	unsigned memory_mib;
	bool hugepages;	     /* back guest memory with 1 GiB hugepages */
	bool kvm;	     /* false: TCG emulation */
	const char *fw_code; /* read-only firmware code */
	const char *fw_vars; /* per-VM copy of the variable store */
	const char *disk;    /* boot disk (qcow2 overlay) as a -drive, or NULL */
	/* The boot disk served over vhost-user-blk on this unix socket (in place
	 * of disk), which needs guest memory QEMU can share: a named backend. */
	const char *disk_socket;
	const char *seed;   /* cloud-init NoCloud seed, or NULL */
	const char *kernel; /* direct kernel boot: kernel, or NULL for firmware boot */
	const char *initrd;
	const char *cmdline;
	bool skip_firmware;	/* direct kernel only: boot without UEFI (fastest) */
	const char *serial_log; /* file the guest console is written to */
	const char *qmp_socket;
	const char *pidfile;
	const char *name;
	const char *hugepage_dir; /* hugetlbfs mount with 1 GiB pages, when hugepages */
	const char *console_log;  /* file the virtio console is written to, or NULL */
	bool daemonize;		  /* -daemonize: QEMU returns once the VM is set up */
	/* Files handed over open (the jail, src/host/vm_launch.c): each entry
	 * becomes `-add-fd fd=F,set=S`, named /dev/fdset/S in the paths above;
	 * qmp_fd > 0 is a listening socket QEMU serves QMP on, in place of
	 * listening on qmp_socket itself. */
	const struct loam_vmm_fd *fds;
	size_t n_fds;
	int qmp_fd;
};

/* True when the machine must name memory-backend=mem (the arch's -machine):
 * hugepages, or memory shared with a vhost-user storage daemon. */
static inline bool loam_vmm_memory_backend(const struct loam_vmm_spec *spec)
{
	return spec->hugepages || spec->disk_socket;
}

struct loam_arch {
	const char *name;		   /* canonical: "x64", "arm64" */
	const char *uname_machine;	   /* what uname -m prints: "x86_64", "aarch64" */
	const char *debian_arch;	   /* Debian's name: "amd64", "arm64" */
	const char *const *aliases;	   /* lower-case spellings of this arch */
	const char *const *level_prefixes; /* names that take a -vN / _vN level suffix */
	const char *const *oci_variants;   /* OCI platform variants; "v8" also admits "v8.2" */
	const struct loam_arch_refusal *refusals; /* near misses, NULL-terminated */
	const struct loam_size *sizes;		  /* NULL-terminated by name */
	const char *qemu_binary;
	bool smp_dies;		   /* the machine takes -smp dies= (QEMU 7.2's arm virt does not) */
	const char *console;	   /* guest kernel console device */
	const char *efi_boot_file; /* removable-media path on the ESP */
	const char *image_suffix;  /* boot image file suffix */
	const char *firmware_code; /* file names inside the firmware artifact */
	const char *firmware_vars;
	/* Hardware-assisted KVM usable for this arch? Sets a human reason. */
	bool (*kvm_usable)(const struct loam_kvm_probe *probe, const char **reason);
	/* Appends the machine, CPU and firmware arguments of this arch. */
	void (*vmm_machine_args)(const struct loam_vmm_spec *spec, struct loam_argv *argv);
	/* /proc/cpuinfo: a key only this arch's cpuinfo has (tells the arch of
	 * a copied tree), and the key that holds the CPU feature flags. */
	const char *cpuinfo_signature_key;
	const char *cpuinfo_flags_key;
	/* Writes a readable CPU model for one processor block of /proc/cpuinfo
	 * into out ("" when unknown); lookup(block, key) returns a value or NULL. */
	void (*cpu_model)(const char *(*lookup)(const void *block, const char *key),
			  const void *block, char *out, size_t len);
	/* The synthetic fleet of `loam-bench alloc`: this arch's share of the
	 * hosts and of the VM requests (weights, percent for the arches here;
	 * 0 leaves the arch out) and its server shapes, ending with cores 0. */
	unsigned fleet_host_pct, fleet_vm_pct;
	const struct loam_server_shape *fleet_servers;
};

/* All arches, in folder order; NULL-terminated. */
extern const struct loam_arch *const loam_arches[];

/* Finds an arch by its canonical name only; NULL if none. */
const struct loam_arch *loam_arch_by_name(const char *canonical);
/* The arch of the machine we run on, from uname(2). Under qemu-user
 * emulation that is the emulated machine, which is what we want. */
const struct loam_arch *loam_arch_of_this_machine(loam_err *err);

/*
 * Maps any spelling met in practice (uname, Debian, Go, GNU triples, OCI
 * platforms, marketing names, x86-64 level suffixes) to an arch. Refuses
 * 32-bit, big-endian and other incompatible names, unknown arches, the empty
 * string and any control or shell metacharacter, with a message that names
 * the input and the reason.
 */
const struct loam_arch *loam_arch_normalize(const char *input, loam_err *err);

/*
 * The firmware half of a machine recipe, the same for every arch that
 * boots UEFI from pflash: the read-only code (unit 0) and the VM's own
 * variable store (unit 1); nothing for a direct kernel boot that skips the
 * firmware. A recipe's vmm_machine_args calls it after its -machine and
 * -cpu (vmm_firmware.c).
 */
void loam_vmm_pflash_args(const struct loam_vmm_spec *spec, struct loam_argv *argv);

/* Sizes. loam_size_find fails with the list of valid names. */
int loam_size_find(const struct loam_arch *arch, const char *name, const struct loam_size **out,
		   loam_err *err);
/* "arm64, x64" (for messages). */
const char *loam_arch_supported_list(void);

#endif
