/*
 * loam-host: the agent loamd runs on every host, over SSH or locally. It is
 * one static binary per arch and never includes control-plane code. This
 * file only dispatches to the verbs.
 */
#include <stdio.h>
#include <string.h>

#include "lib/log.h"
#include "host/verbs.h"
#include "proto/agent.h"

static const struct loam_host_verb verbs[] = {
    {LOAM_VERB_ARCH, "arch [NAME...]   print this machine's arch, or normalize names",
     loam_host_verb_arch},
    {LOAM_VERB_LEARN, "learn [--root DIR] [--storage-dir DIR]   print host facts as JSON",
     loam_host_verb_learn},
    {LOAM_VERB_VM_PREP,
     "vm-prep --state-dir DIR < SPEC.json   create a VM's user, dir, disk, VARS, seed",
     loam_host_verb_vm_prep},
    {LOAM_VERB_VM_START, "vm-start ID --state-dir DIR   start the VM's QEMU as its user",
     loam_host_verb_vm_start},
    {LOAM_VERB_VM_ARGV, "vm-argv ID --state-dir DIR   print the QEMU argv vm-start runs, as JSON",
     loam_host_verb_vm_argv},
    {LOAM_VERB_VM_STATUS, "vm-status ID --state-dir DIR   print process, QMP and readiness as JSON",
     loam_host_verb_vm_status},
    {LOAM_VERB_VM_WAIT_READY,
     "vm-wait-ready ID --state-dir DIR [--timeout S]   wait for the guest's readiness line",
     loam_host_verb_vm_wait_ready},
    {LOAM_VERB_VM_STOP, "vm-stop ID --state-dir DIR [--timeout S]   power down, quit, then kill",
     loam_host_verb_vm_stop},
    {LOAM_VERB_VM_PURGE,
     "vm-purge ID --state-dir DIR   stop and remove the VM's processes, dir and user",
     loam_host_verb_vm_purge},
    {LOAM_VERB_VM_NET,
     "vm-net ID --state-dir DIR < NET.json   apply a changed network (open ports, egress)",
     loam_host_verb_vm_net},
    {LOAM_VERB_INSTALL, "install   install the artifacts of a JSON request on stdin",
     loam_host_verb_install},
    {LOAM_VERB_UNINSTALL, "uninstall   remove artifact versions named in a JSON request on stdin",
     loam_host_verb_uninstall},
    {LOAM_VERB_JOB_START,
     "job-start NAME --state-dir DIR [--wait-ms N] [--reap] -- VERB ARGS...   run a long verb "
     "detached",
     loam_host_verb_job_start},
    {LOAM_VERB_JOB_STATUS,
     "job-status NAME --state-dir DIR [--wait-ms N] [--reap]   how a detached job is doing",
     loam_host_verb_job_status},
    {LOAM_VERB_JOB_CANCEL, "job-cancel NAME --state-dir DIR   kill a detached job and forget it",
     loam_host_verb_job_cancel},
    {LOAM_VERB_WATCH,
     "watch --state-dir DIR [--timeout-ms N] [--vm ID]... [--job NAME]...   wait for the first "
     "VM that booted or job that ended",
     loam_host_verb_watch},
};

static int usage(FILE *out)
{
	fprintf(out, "usage: loam-host VERB [ARGS...]\n\nverbs:\n");
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		fprintf(out, "  %s\n", verbs[i].usage);
	return out == stdout ? 0 : 2;
}

int main(int argc, char **argv)
{
	loam_log_init("loam-host", false, LOAM_LOG_INFO);
	if (argc < 2)
		return usage(stderr);
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0)
		return usage(stdout);
	if (strcmp(argv[1], "--version") == 0) {
		printf("loam-host %s\n", LOAM_VERSION);
		return 0;
	}
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (strcmp(argv[1], verbs[i].name) == 0)
			return verbs[i].run(argc - 1, argv + 1);
	fprintf(stderr, "loam-host: unknown verb '%.64s'\n", argv[1]);
	return usage(stderr);
}
