/*
 * QEMU argv assembly; see vmm.h. Every word is added separately and no
 * shell ever reads the result. Paths reaching here were validated to
 * [A-Za-z0-9._/+-], so none can smuggle a ',' into QEMU's option syntax.
 */
#include "host/vmm.h"

#include <string.h>

#include "lib/topology.h"
#include "lib/valid.h"

#define CMDLINE_MAX 2048

static void add_pair(struct loam_argv *argv, const char *opt, const char *value)
{
	loam_argv_add(argv, opt);
	loam_argv_add(argv, value);
}

static void add_smp(const struct loam_arch *arch, const struct loam_vmm_spec *s,
		    struct loam_argv *argv)
{
	const struct loam_topology *t = &s->topo;
	loam_argv_add(argv, "-smp");
	if (arch->smp_dies)
		loam_argv_addf(argv, "cpus=%u,sockets=%u,dies=%u,cores=%u,threads=%u", s->vcpus,
			       t->packages, t->dies, t->cores, t->threads);
	else /* The machine has no dies: a die becomes a socket of its own. */
		loam_argv_addf(argv, "cpus=%u,sockets=%u,cores=%u,threads=%u", s->vcpus,
			       t->packages * t->dies, t->cores, t->threads);
}

static void add_memory(const struct loam_vmm_spec *s, struct loam_argv *argv)
{
	loam_argv_add(argv, "-m");
	loam_argv_addf(argv, "%u", s->memory_mib);
	/* The arch's -machine names memory-backend=mem then. */
	if (s->hugepages) {
		loam_argv_add(argv, "-object");
		loam_argv_addf(
		    argv, "memory-backend-file,id=mem,size=%uM,mem-path=%s,prealloc=on,share=on",
		    s->memory_mib, s->hugepage_dir);
	} else if (s->disk_socket) {
		loam_argv_add(argv, "-object");
		loam_argv_addf(argv, "memory-backend-memfd,id=mem,size=%uM,share=on",
			       s->memory_mib);
	}
}

/* The disk from the storage daemon: QEMU reconnects within a second when
 * the daemon is restarted, and the guest's I/O waits meanwhile.
 * disable-legacy=on: OVMF and AAVMF hang on the transitional device. */
static void add_vhost_user_disk(const struct loam_vmm_spec *s, struct loam_argv *argv)
{
	loam_argv_add(argv, "-chardev");
	loam_argv_addf(argv, "socket,id=disk0,path=%s,reconnect=1", s->disk_socket);
	add_pair(argv, "-device",
		 "vhost-user-blk-pci,chardev=disk0,num-queues=1,disable-legacy=on,bootindex=1");
}

static void add_disks(const struct loam_vmm_spec *s, struct loam_argv *argv)
{
	if (s->disk_socket) {
		add_vhost_user_disk(s, argv);
	} else if (s->disk) {
		loam_argv_add(argv, "-drive");
		loam_argv_addf(argv, "if=none,id=disk0,format=qcow2,discard=unmap,file=%s",
			       s->disk);
		add_pair(argv, "-device", "virtio-blk-pci,drive=disk0,bootindex=1");
	}
	if (!s->seed)
		return;
	loam_argv_add(argv, "-drive");
	loam_argv_addf(argv, "if=none,id=seed0,format=raw,readonly=on,file=%s", s->seed);
	add_pair(argv, "-device", "virtio-blk-pci,drive=seed0");
}

/* The serial port (the firmware's and the kernel's console) goes to the
 * serial log; a virtio console rides alongside for the guest's own use. */
static void add_consoles(const struct loam_vmm_spec *s, struct loam_argv *argv)
{
	loam_argv_add(argv, "-chardev");
	loam_argv_addf(argv, "file,id=serial0,path=%s", s->serial_log);
	add_pair(argv, "-serial", "chardev:serial0");
	add_pair(argv, "-device", "virtio-serial-pci,id=vser0");
	loam_argv_add(argv, "-chardev");
	if (s->console_log)
		loam_argv_addf(argv, "file,id=vcon0,path=%s", s->console_log);
	else
		loam_argv_add(argv, "null,id=vcon0");
	add_pair(argv, "-device", "virtconsole,chardev=vcon0,bus=vser0.0");
}

static void add_supervision(const struct loam_vmm_spec *s, struct loam_argv *argv)
{
	loam_argv_add(argv, "-chardev");
	if (s->qmp_fd > 0)
		loam_argv_addf(argv, "socket,id=qmp0,fd=%d,server=on,wait=off", s->qmp_fd);
	else
		loam_argv_addf(argv, "socket,id=qmp0,path=%s,server=on,wait=off", s->qmp_socket);
	add_pair(argv, "-mon", "chardev=qmp0,mode=control");
	add_pair(argv, "-pidfile", s->pidfile);
	if (s->daemonize)
		loam_argv_add(argv, "-daemonize");
}

static void add_fdsets(const struct loam_vmm_spec *s, struct loam_argv *argv)
{
	for (size_t i = 0; i < s->n_fds; i++) {
		loam_argv_add(argv, "-add-fd");
		loam_argv_addf(argv, "fd=%d,set=%d", s->fds[i].fd, s->fds[i].set);
	}
}

static void add_direct_kernel(const struct loam_arch *arch, const struct loam_vmm_spec *s,
			      struct loam_argv *argv)
{
	if (!s->kernel)
		return;
	add_pair(argv, "-kernel", s->kernel);
	if (s->initrd)
		add_pair(argv, "-initrd", s->initrd);
	loam_argv_add(argv, "-append");
	/* The image's own command line may name the console already. */
	const char *cmdline = s->cmdline ? s->cmdline : "";
	if (strstr(cmdline, "console="))
		loam_argv_add(argv, cmdline);
	else
		loam_argv_addf(argv, "console=%s%s%s", arch->console, *cmdline ? " " : "", cmdline);
}

static int check_spec(const struct loam_vmm_spec *s, loam_err *err)
{
	if (!loam_topology_valid(&s->topo, s->vcpus))
		return loam_fail(
		    err, LOAM_E_INVALID,
		    "topology %ux%ux%ux%u (packages x dies x cores x threads) does not "
		    "make %u vCPUs",
		    s->topo.packages, s->topo.dies, s->topo.cores, s->topo.threads, s->vcpus);
	if (s->memory_mib == 0)
		return loam_fail(err, LOAM_E_INVALID, "memory_mib must be at least 1");
	if (s->hugepages && (!s->hugepage_dir || s->memory_mib % 1024 != 0))
		return loam_fail(err, LOAM_E_INVALID,
				 "hugepage backing needs a hugetlbfs mount with 1 GiB pages and a "
				 "memory size in whole GiB");
	if (s->cmdline && (strlen(s->cmdline) > CMDLINE_MAX || loam_has_unsafe_chars(s->cmdline)))
		return loam_fail(
		    err, LOAM_E_INVALID,
		    "kernel command line must be at most %d characters without control "
		    "or shell metacharacters",
		    CMDLINE_MAX);
	return 0;
}

int loam_vmm_argv(const struct loam_arch *arch, const char *qemu, const struct loam_vmm_spec *spec,
		  struct loam_argv *argv, loam_err *err)
{
	if (check_spec(spec, err) < 0)
		return -1;
	loam_argv_add(argv, qemu);
	loam_argv_add(argv, "-name");
	loam_argv_addf(argv, "guest=%s", spec->name);
	loam_argv_add(argv, "-nodefaults");
	loam_argv_add(argv, "-no-user-config");
	add_pair(argv, "-display", "none");
	add_fdsets(spec, argv);
	arch->vmm_machine_args(spec, argv);
	add_memory(spec, argv);
	add_smp(arch, spec, argv);
	add_disks(spec, argv);
	add_consoles(spec, argv);
	add_direct_kernel(arch, spec, argv);
	add_supervision(spec, argv);
	return 0;
}
