/*
 * The QEMU command line of a VM. The common part (name, memory, -smp,
 * virtio disk and console, serial log, QMP, pid file, daemon, fd sets) is
 * built here; the machine, CPU and firmware words come from the arch's
 * vmm_machine_args, so this file names no arch.
 */
#ifndef LOAM_HOST_VMM_H
#define LOAM_HOST_VMM_H

#include "arch/arch.h"
#include "lib/argv.h"
#include "lib/err.h"

/* Appends qemu (the binary) and every argument for spec to argv. Fails with
 * LOAM_E_INVALID on a topology that does not multiply to vcpus, a missing
 * hugepage mount, or a kernel command line with control characters. */
int loam_vmm_argv(const struct loam_arch *arch, const char *qemu, const struct loam_vmm_spec *spec,
		  struct loam_argv *argv, loam_err *err);

#endif
