/*
 * Golden QEMU command lines per arch: the common part from src/host/vmm.c
 * and each arch's machine recipe (q35 + OVMF on pflash; virt + GICv3 +
 * AAVMF, cortex-a72 under TCG and no dies), with hugepage backing, direct
 * kernel boot and the refusals. A change to a recipe must change a golden.
 */
#include <stdlib.h>

#include "arch/arch.h"
#include "lib/cleanup.h"
#include "t.h"
#include "host/vmm.h"

static struct loam_vmm_spec base_spec(void)
{
	return (struct loam_vmm_spec){
	    .vcpus = 8,
	    .topo = {.packages = 1, .dies = 2, .cores = 2, .threads = 2},
	    .memory_mib = 2048,
	    .fw_code = "/fw/CODE.fd",
	    .fw_vars = "/d/VARS.fd",
	    .disk = "/d/disk.qcow2",
	    .seed = "/d/seed.img",
	    .serial_log = "/d/serial.log",
	    .console_log = "/d/console.log",
	    .qmp_socket = "/d/qmp.sock",
	    .pidfile = "/d/run/qemu.pid",
	    .name = "web-1",
	    .daemonize = true,
	};
}

/* The argv joined by single spaces (the caller frees). */
static char *build(const char *arch_name, const struct loam_vmm_spec *spec, loam_err *err)
{
	const struct loam_arch *arch = loam_arch_by_name(arch_name);
	cleanup_argv struct loam_argv argv = {0};
	if (loam_vmm_argv(arch, arch->qemu_binary, spec, &argv, err) < 0)
		return NULL;
	size_t n = 1;
	for (size_t i = 0; i < argv.n; i++)
		n += strlen(argv.v[i]) + 1;
	char *s = calloc(1, n);
	for (size_t i = 0; i < argv.n; i++) {
		if (i)
			strcat(s, " ");
		strcat(s, argv.v[i]);
	}
	return s;
}

#define COMMON_TAIL                                                                                \
	"-drive if=none,id=disk0,format=qcow2,discard=unmap,file=/d/disk.qcow2 "                   \
	"-device virtio-blk-pci,drive=disk0,bootindex=1 "                                          \
	"-drive if=none,id=seed0,format=raw,readonly=on,file=/d/seed.img "                         \
	"-device virtio-blk-pci,drive=seed0 "                                                      \
	"-chardev file,id=serial0,path=/d/serial.log -serial chardev:serial0 "                     \
	"-device virtio-serial-pci,id=vser0 -chardev file,id=vcon0,path=/d/console.log "           \
	"-device virtconsole,chardev=vcon0,bus=vser0.0 "                                           \
	"-chardev socket,id=qmp0,path=/d/qmp.sock,server=on,wait=off "                             \
	"-mon chardev=qmp0,mode=control -pidfile /d/run/qemu.pid -daemonize"

static void test_x64_golden(void)
{
	cleanup_err loam_err err = NULL;
	struct loam_vmm_spec spec = base_spec();
	cleanup_free char *got = build("x64", &spec, &err);
	CHECK_STR(got, "qemu-system-x86_64 -name guest=web-1 -nodefaults -no-user-config "
		       "-display none -machine q35,accel=tcg -cpu max "
		       "-drive if=pflash,format=raw,unit=0,readonly=on,file=/fw/CODE.fd "
		       "-drive if=pflash,format=raw,unit=1,file=/d/VARS.fd -m 2048 "
		       "-smp cpus=8,sockets=1,dies=2,cores=2,threads=2 " COMMON_TAIL);
}

static void test_arm64_golden_folds_dies_into_sockets(void)
{
	cleanup_err loam_err err = NULL;
	struct loam_vmm_spec spec = base_spec();
	cleanup_free char *got = build("arm64", &spec, &err);
	CHECK_STR(got, "qemu-system-aarch64 -name guest=web-1 -nodefaults -no-user-config "
		       "-display none -machine virt,gic-version=3,accel=tcg -cpu cortex-a72 "
		       "-drive if=pflash,format=raw,unit=0,readonly=on,file=/fw/CODE.fd "
		       "-drive if=pflash,format=raw,unit=1,file=/d/VARS.fd -m 2048 "
		       "-smp cpus=8,sockets=2,cores=2,threads=2 " COMMON_TAIL);
}

static void test_kvm_uses_host_cpu(void)
{
	cleanup_err loam_err err = NULL;
	struct loam_vmm_spec spec = base_spec();
	spec.kvm = true;
	cleanup_free char *x = build("x64", &spec, &err);
	CHECK_CONTAINS(x, "-machine q35,accel=kvm -cpu host ");
	cleanup_free char *a = build("arm64", &spec, &err);
	CHECK_CONTAINS(a, "-machine virt,gic-version=host,accel=kvm -cpu host ");
}

static void test_hugepages_back_memory(void)
{
	cleanup_err loam_err err = NULL;
	struct loam_vmm_spec spec = base_spec();
	spec.hugepages = true;
	spec.hugepage_dir = "/dev/hugepages1G";
	cleanup_free char *got = build("x64", &spec, &err);
	CHECK_CONTAINS(got, "-machine q35,accel=tcg,memory-backend=mem ");
	CHECK_CONTAINS(got, "-m 2048 -object memory-backend-file,id=mem,size=2048M,"
			    "mem-path=/dev/hugepages1G,prealloc=on,share=on ");
	cleanup_free char *plain = (spec.hugepages = false, build("x64", &spec, &err));
	CHECK(plain && !strstr(plain, "memory-backend"));
}

static void test_direct_kernel_gets_arch_console(void)
{
	cleanup_err loam_err err = NULL;
	struct loam_vmm_spec spec = base_spec();
	spec.kernel = "/img/vmlinuz";
	spec.initrd = "/img/initrd";
	spec.cmdline = "quiet panic=-1";
	cleanup_free char *x = build("x64", &spec, &err);
	CHECK_CONTAINS(x, "-kernel /img/vmlinuz -initrd /img/initrd -append console=ttyS0 quiet "
			  "panic=-1 ");
	cleanup_free char *a = build("arm64", &spec, &err);
	CHECK_CONTAINS(a, "-append console=ttyAMA0 quiet panic=-1 ");
	CHECK_CONTAINS(x, "if=pflash");
	spec.skip_firmware = true;
	cleanup_free char *fast = build("x64", &spec, &err);
	CHECK(fast && !strstr(fast, "pflash"));
	spec.skip_firmware = false;
	spec.cmdline = "console=hvc0 quiet";
	cleanup_free char *own = build("arm64", &spec, &err);
	CHECK_CONTAINS(own, "-append console=hvc0 quiet ");
}

/* The jail hands files over open: each fd joins an fd set (a writable
 * file's set holds a read-only fd too), and QMP is served on an inherited listening socket. */
static void test_files_handed_over_as_fds(void)
{
	cleanup_err loam_err err = NULL;
	struct loam_vmm_spec spec = base_spec();
	static const struct loam_vmm_fd fds[] = {{3, 3}, {4, 3}, {5, 5}};
	spec.fds = fds;
	spec.n_fds = 3;
	spec.qmp_fd = 6;
	spec.disk = "/dev/fdset/3";
	cleanup_free char *got = build("x64", &spec, &err);
	CHECK_CONTAINS(got, "-display none -add-fd fd=3,set=3 -add-fd fd=4,set=3 "
			    "-add-fd fd=5,set=5 -machine ");
	CHECK_CONTAINS(got, "format=qcow2,discard=unmap,file=/dev/fdset/3 ");
	CHECK_CONTAINS(got, "-chardev socket,id=qmp0,fd=6,server=on,wait=off "
			    "-mon chardev=qmp0,mode=control ");
	CHECK(got && !strstr(got, "-runas") && !strstr(got, "qmp.sock"));
}

/* The disk from the storage daemon: no -drive for it, a reconnecting
 * vhost-user-blk device, and guest memory the daemon can map (memfd, or
 * the hugepage file, shared) on both arches. */
static void test_disk_from_the_storage_daemon(void)
{
	cleanup_err loam_err err = NULL;
	struct loam_vmm_spec spec = base_spec();
	spec.disk = NULL;
	spec.disk_socket = "/d/run/disk.sock";
	cleanup_free char *x = build("x64", &spec, &err), *a = build("arm64", &spec, &err);
	CHECK_CONTAINS(x, "-machine q35,accel=tcg,memory-backend=mem ");
	CHECK_CONTAINS(a, "-machine virt,gic-version=3,accel=tcg,memory-backend=mem ");
	CHECK_CONTAINS(x, "-m 2048 -object memory-backend-memfd,id=mem,size=2048M,share=on ");
	CHECK_CONTAINS(x, "-chardev socket,id=disk0,path=/d/run/disk.sock,reconnect=1 "
			  "-device vhost-user-blk-pci,chardev=disk0,num-queues=1,disable-legacy=on,"
			  "bootindex=1 -drive if=none,id=seed0,");
	CHECK(x && !strstr(x, "id=disk0,format") && !strstr(x, "disk.qcow2"));
	spec.hugepages = true;
	spec.hugepage_dir = "/dev/hugepages1G";
	cleanup_free char *huge = build("x64", &spec, &err);
	CHECK_CONTAINS(huge, "memory-backend-file,id=mem,size=2048M,mem-path=/dev/hugepages1G,"
			     "prealloc=on,share=on ");
	CHECK(huge && !strstr(huge, "memfd"));
}

static void test_refusals(void)
{
	struct loam_vmm_spec spec = base_spec();
	loam_err err = NULL;
	spec.topo.cores = 3;
	CHECK(build("x64", &spec, &err) == NULL);
	CHECK_CONTAINS(loam_err_msg(err), "does not make 8 vCPUs");
	loam_err_free(&err);
	spec = base_spec();
	spec.hugepages = true;
	CHECK(build("x64", &spec, &err) == NULL);
	CHECK_CONTAINS(loam_err_msg(err), "hugetlbfs");
	loam_err_free(&err);
	spec = base_spec();
	spec.kernel = "/k";
	spec.cmdline = "quiet; reboot";
	CHECK(build("arm64", &spec, &err) == NULL);
	CHECK_INT(loam_err_kind_of(err), LOAM_E_INVALID);
	loam_err_free(&err);
}

int main(void)
{
	RUN(test_x64_golden);
	RUN(test_arm64_golden_folds_dies_into_sockets);
	RUN(test_kvm_uses_host_cpu);
	RUN(test_hugepages_back_memory);
	RUN(test_direct_kernel_gets_arch_console);
	RUN(test_files_handed_over_as_fds);
	RUN(test_disk_from_the_storage_daemon);
	RUN(test_refusals);
	return t_summary();
}
