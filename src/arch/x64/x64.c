/*
 * x64 (x86-64, AMD64, Intel 64): names, sizes, KVM rules and the QEMU q35
 * recipe with OVMF on pflash.
 */
#include <stdio.h>
#include <string.h>

#include "arch/arch.h"

/* 4 GiB per vCPU, so 8 GiB per SMT core (docs/design.md §2). */
#define X64_GIB_PER_VCPU 4

static const char *const x64_aliases[] = {
    "x64", "x86_64", "x86-64", "x8664", "amd64", "intel64", "em64t", "x86_64h", NULL,
};

/* Names that take a micro-architecture level: x86_64_v3, x86-64-v2, amd64v3. */
static const char *const x64_level_prefixes[] = {"x86_64", "x86-64", "amd64", "x64", NULL};

static const char *const x64_oci_variants[] = {"v1", "v2", "v3", "v4", NULL};

static const struct loam_arch_refusal x64_refusals[] = {
    {"i386", "32-bit x86; loam runs only 64-bit hosts"},
    {"i486", "32-bit x86; loam runs only 64-bit hosts"},
    {"i586", "32-bit x86; loam runs only 64-bit hosts"},
    {"i686", "32-bit x86; loam runs only 64-bit hosts"},
    {"i786", "32-bit x86; loam runs only 64-bit hosts"},
    {"i86pc", "32-bit x86; loam runs only 64-bit hosts"},
    {"386", "32-bit x86 (Go's name); loam runs only 64-bit hosts"},
    {"x86", "32-bit x86; loam runs only 64-bit hosts"},
    {"x86_32", "32-bit x86; loam runs only 64-bit hosts"},
    {"ia32", "32-bit x86; loam runs only 64-bit hosts"},
    {"ia-32", "32-bit x86; loam runs only 64-bit hosts"},
    {"x32", "the x32 ABI has 32-bit pointers; loam runs only LP64 hosts"},
    {NULL, NULL},
};

static const struct loam_size x64_sizes[] = {
    {"standard-2", 2, 2 * X64_GIB_PER_VCPU},
    {"standard-4", 4, 4 * X64_GIB_PER_VCPU},
    {"standard-8", 8, 8 * X64_GIB_PER_VCPU},
    {"standard-16", 16, 16 * X64_GIB_PER_VCPU},
    {"standard-30", 30, 30 * X64_GIB_PER_VCPU},
    {"standard-60", 60, 60 * X64_GIB_PER_VCPU},
    {NULL, 0, 0},
};

/* 32, 64 or 96 SMT cores, 8 GiB per core for guests and 32 for the host. */
static const struct loam_server_shape x64_servers[] = {
    {96, 2, 96 * 8 + 32, 1},
    {64, 2, 64 * 8 + 32, 1},
    {32, 2, 32 * 8 + 32, 1},
    {0, 0, 0, 0},
};

static bool has_flag(const char *flags, const char *flag)
{
	size_t n = strlen(flag);
	for (const char *p = flags; p && (p = strstr(p, flag)); p += n)
		if ((p == flags || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0' || p[n] == '\n'))
			return true;
	return false;
}

static bool x64_kvm_usable(const struct loam_kvm_probe *probe, const char **reason)
{
	if (!probe->dev_kvm_opens) {
		*reason = "/dev/kvm is missing or cannot be opened";
		return false;
	}
	/* PVM serves /dev/kvm even on CPUs with vmx (nested), and still cannot
	 * boot stock kernels, so the module decides before the flags. */
	bool pvm = probe->kvm_module && strcmp(probe->kvm_module, "kvm_pvm") == 0;
	bool hw = has_flag(probe->cpu_flags, "vmx") || has_flag(probe->cpu_flags, "svm");
	if (pvm) {
		*reason = hw ? "/dev/kvm is kvm_pvm, a software PVM hypervisor that cannot boot "
			       "stock kernels"
			     : "/dev/kvm is kvm_pvm, a software PVM hypervisor that cannot boot "
			       "stock kernels, and the CPU has no vmx or svm flag";
		return false;
	}
	if (!hw) {
		*reason = "the CPU has no vmx or svm flag, so /dev/kvm is not hardware "
			  "virtualization";
		return false;
	}
	*reason = "/dev/kvm opens and the CPU has hardware virtualization";
	return true;
}

static void x64_vmm_machine_args(const struct loam_vmm_spec *spec, struct loam_argv *argv)
{
	loam_argv_add(argv, "-machine");
	loam_argv_addf(argv, "q35,accel=%s%s", spec->kvm ? "kvm" : "tcg",
		       loam_vmm_memory_backend(spec) ? ",memory-backend=mem" : "");
	loam_argv_add(argv, "-cpu");
	loam_argv_add(argv, spec->kvm ? "host" : "max");
	loam_vmm_pflash_args(spec, argv);
}

static void x64_cpu_model(const char *(*lookup)(const void *block, const char *key),
			  const void *block, char *out, size_t len)
{
	const char *name = lookup(block, "model name");
	snprintf(out, len, "%s", name ? name : "");
}

const struct loam_arch loam_arch_x64 = {
    .name = "x64",
    .uname_machine = "x86_64",
    .debian_arch = "amd64",
    .aliases = x64_aliases,
    .level_prefixes = x64_level_prefixes,
    .oci_variants = x64_oci_variants,
    .refusals = x64_refusals,
    .sizes = x64_sizes,
    .qemu_binary = "qemu-system-x86_64",
    .smp_dies = true,
    .console = "ttyS0",
    .efi_boot_file = "BOOTX64.EFI",
    .image_suffix = "x64.img",
    .firmware_code = "OVMF_CODE.fd",
    .firmware_vars = "OVMF_VARS.fd",
    .kvm_usable = x64_kvm_usable,
    .vmm_machine_args = x64_vmm_machine_args,
    .cpuinfo_signature_key = "vendor_id",
    .cpuinfo_flags_key = "flags",
    .cpu_model = x64_cpu_model,
    .fleet_host_pct = 70,
    .fleet_vm_pct = 75,
    .fleet_servers = x64_servers,
};
