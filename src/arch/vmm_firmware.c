/*
 * The firmware half of the machine recipes (see arch.h): every arch we
 * run boots UEFI (OVMF, AAVMF) from two pflash drives, so the recipes in
 * src/arch/<arch>/ share this instead of each spelling the drives out.
 */
#include "arch/arch.h"

void loam_vmm_pflash_args(const struct loam_vmm_spec *spec, struct loam_argv *argv)
{
	if (spec->kernel && spec->skip_firmware)
		return;
	loam_argv_add(argv, "-drive");
	loam_argv_addf(argv, "if=pflash,format=raw,unit=0,readonly=on,file=%s", spec->fw_code);
	loam_argv_add(argv, "-drive");
	loam_argv_addf(argv, "if=pflash,format=raw,unit=1,file=%s", spec->fw_vars);
}
