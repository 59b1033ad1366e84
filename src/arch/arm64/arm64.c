/*
 * arm64 (AArch64, little-endian, LP64): names, sizes, KVM rules and the QEMU
 * virt recipe with a GICv3 and AAVMF on pflash.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch/arch.h"

/* 3.2 GiB per vCPU, floored per size: the arm64 servers come fixed at 80
 * cores and 256 GiB and every core must stay usable (docs/design.md §2). */
#define ARM64_GIB_PER_VCPU_TENTHS 32
#define ARM64_MEM(vcpus)	  ((vcpus)*ARM64_GIB_PER_VCPU_TENTHS / 10)

static const char *const arm64_aliases[] = {
    "arm64", "aarch64", "a64", "arm64v8", "armv8-a", "armv9-a", NULL,
};

static const char *const arm64_level_prefixes[] = {NULL};

static const char *const arm64_oci_variants[] = {"v8", "v9", NULL};

#define ARM32		"32-bit ARM; loam runs only 64-bit hosts"
#define ARM64_BE_REASON "big-endian AArch64; arm64 hosts run little-endian binaries"

static const struct loam_arch_refusal arm64_refusals[] = {
    {"aarch64_be", ARM64_BE_REASON},
    {"aarch64be", ARM64_BE_REASON},
    {"arm64be", ARM64_BE_REASON},
    {"arm64_be", ARM64_BE_REASON},
    {"arm64_32", "arm64_32 is an ILP32 ABI with 32-bit pointers; arm64 hosts run LP64"},
    {"aarch64_ilp32", "ILP32 ABI with 32-bit pointers; arm64 hosts run LP64"},
    {"arm64ilp32", "ILP32 ABI with 32-bit pointers; arm64 hosts run LP64"},
    {"aarch64c", "CHERI capability ABI (Morello purecap); arm64 hosts run plain LP64"},
    {"arm64c", "CHERI capability ABI (Morello purecap); arm64 hosts run plain LP64"},
    {"arm64e", "Apple's arm64e pointer-authentication ABI; arm64 hosts run Linux LP64"},
    {"arm", ARM32},
    {"arm32", ARM32},
    {"aarch32", ARM32},
    {"armel", ARM32},
    {"armhf", ARM32},
    {"armeb", ARM32},
    {"armv5tel", ARM32},
    {"armv6", ARM32},
    {"armv6l", ARM32},
    {"armv7", ARM32},
    {"armv7l", ARM32},
    {"armv7a", ARM32},
    {"armv7hl", ARM32},
    {"armv8l", ARM32 " (AArch32 mode)"},
    {"armv8b", ARM32 " (AArch32 mode, big-endian)"},
    {"thumbv7", ARM32},
    {NULL, NULL},
};

static const struct loam_size arm64_sizes[] = {
    {"standard-2", 2, ARM64_MEM(2)},
    {"standard-4", 4, ARM64_MEM(4)},
    {"standard-8", 8, ARM64_MEM(8)},
    {"standard-16", 16, ARM64_MEM(16)},
    {"standard-30", 30, ARM64_MEM(30)},
    {"standard-60", 60, ARM64_MEM(60)},
    {NULL, 0, 0},
};

/* The field's 80-core 256 GiB servers, and a few 128-core 512 GiB ones. */
static const struct loam_server_shape arm64_servers[] = {
    {80, 1, 256, 90},
    {128, 1, 512, 10},
    {0, 0, 0, 0},
};

static bool arm64_kvm_usable(const struct loam_kvm_probe *probe, const char **reason)
{
	if (!probe->dev_kvm_opens) {
		*reason = "/dev/kvm is missing or cannot be opened";
		return false;
	}
	if (probe->kvm_api_version != 12 || !probe->kvm_vm_creates) {
		*reason = "/dev/kvm opens but KVM cannot create a VM";
		return false;
	}
	*reason = "/dev/kvm opens and KVM creates VMs";
	return true;
}

static void arm64_vmm_machine_args(const struct loam_vmm_spec *spec, struct loam_argv *argv)
{
	loam_argv_add(argv, "-machine");
	loam_argv_addf(argv, "virt,gic-version=%s,accel=%s%s", spec->kvm ? "host" : "3",
		       spec->kvm ? "kvm" : "tcg",
		       loam_vmm_memory_backend(spec) ? ",memory-backend=mem" : "");
	/* Plain "max" under TCG emulates QARMA pointer authentication and is
	 * about 5x slower; cortex-a72 boots Debian's kernel fastest. */
	loam_argv_add(argv, "-cpu");
	loam_argv_add(argv, spec->kvm ? "host" : "cortex-a72");
	loam_vmm_pflash_args(spec, argv);
}

/* A minimal table of MIDR implementer/part codes (Linux's cputype.h) for
 * the server and big.LITTLE cores we expect; others print as raw codes. */
struct arm64_part {
	unsigned implementer, part;
	const char *name;
};

static const struct arm64_part arm64_parts[] = {
    {0x41, 0xd03, "ARM Cortex-A53"},	    {0x41, 0xd05, "ARM Cortex-A55"},
    {0x41, 0xd07, "ARM Cortex-A57"},	    {0x41, 0xd08, "ARM Cortex-A72"},
    {0x41, 0xd0b, "ARM Cortex-A76"},	    {0x41, 0xd0c, "ARM Neoverse-N1"},
    {0x41, 0xd40, "ARM Neoverse-V1"},	    {0x41, 0xd41, "ARM Cortex-A78"},
    {0x41, 0xd44, "ARM Cortex-X1"},	    {0x41, 0xd46, "ARM Cortex-A510"},
    {0x41, 0xd47, "ARM Cortex-A710"},	    {0x41, 0xd48, "ARM Cortex-X2"},
    {0x41, 0xd49, "ARM Neoverse-N2"},	    {0x41, 0xd4f, "ARM Neoverse-V2"},
    {0x48, 0xd01, "HiSilicon Kunpeng-920"}, {0xc0, 0xac3, "Ampere Ampere-1"},
    {0xc0, 0xac4, "Ampere Ampere-1a"},	    {0, 0, NULL},
};

static bool parse_code(const char *s, unsigned *out)
{
	if (!s || !*s)
		return false;
	char *end;
	unsigned long v = strtoul(s, &end, 0);
	if (end == s || v > 0xffff)
		return false;
	*out = (unsigned)v;
	return true;
}

static void arm64_cpu_model(const char *(*lookup)(const void *block, const char *key),
			    const void *block, char *out, size_t len)
{
	const char *impl_s = lookup(block, "CPU implementer"), *part_s = lookup(block, "CPU part");
	unsigned impl, part;
	if (parse_code(impl_s, &impl) && parse_code(part_s, &part)) {
		for (const struct arm64_part *p = arm64_parts; p->name; p++)
			if (p->implementer == impl && p->part == part) {
				snprintf(out, len, "%s", p->name);
				return;
			}
		snprintf(out, len, "CPU implementer 0x%02x part 0x%03x", impl, part);
		return;
	}
	/* Under qemu-user or on odd kernels the block may only have a name. */
	const char *name = lookup(block, "model name");
	snprintf(out, len, "%s", name ? name : "");
}

const struct loam_arch loam_arch_arm64 = {
    .name = "arm64",
    .uname_machine = "aarch64",
    .debian_arch = "arm64",
    .aliases = arm64_aliases,
    .level_prefixes = arm64_level_prefixes,
    .oci_variants = arm64_oci_variants,
    .refusals = arm64_refusals,
    .sizes = arm64_sizes,
    .qemu_binary = "qemu-system-aarch64",
    .smp_dies = false,
    .console = "ttyAMA0",
    .efi_boot_file = "BOOTAA64.EFI",
    .image_suffix = "arm64.img",
    .firmware_code = "AAVMF_CODE.fd",
    .firmware_vars = "AAVMF_VARS.fd",
    .kvm_usable = arm64_kvm_usable,
    .vmm_machine_args = arm64_vmm_machine_args,
    .cpuinfo_signature_key = "CPU implementer",
    .cpuinfo_flags_key = "Features",
    .cpu_model = arm64_cpu_model,
    .fleet_host_pct = 30,
    .fleet_vm_pct = 25,
    .fleet_servers = arm64_servers,
};
