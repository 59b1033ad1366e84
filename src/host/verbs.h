/*
 * The agent's verbs. Each lives in its own verb_<name>.c and is idempotent:
 * running it twice leaves the host as running it once does. A verb gets
 * argv starting at its own name and returns the process exit status.
 */
#ifndef LOAM_HOST_VERBS_H
#define LOAM_HOST_VERBS_H

struct loam_host_verb {
	const char *name;
	const char *usage;
	int (*run)(int argc, char **argv);
};

int loam_host_verb_arch(int argc, char **argv);
int loam_host_verb_learn(int argc, char **argv);
int loam_host_verb_vm_prep(int argc, char **argv);
int loam_host_verb_vm_start(int argc, char **argv);
int loam_host_verb_vm_argv(int argc, char **argv);
int loam_host_verb_vm_status(int argc, char **argv);
int loam_host_verb_vm_wait_ready(int argc, char **argv);
int loam_host_verb_vm_stop(int argc, char **argv);
int loam_host_verb_vm_purge(int argc, char **argv);
int loam_host_verb_install(int argc, char **argv);
int loam_host_verb_uninstall(int argc, char **argv);
int loam_host_verb_job_start(int argc, char **argv);
int loam_host_verb_job_status(int argc, char **argv);
int loam_host_verb_job_cancel(int argc, char **argv);
int loam_host_verb_watch(int argc, char **argv);
int loam_host_verb_vm_net(int argc, char **argv);

/* The parsing halves of the verbs, without their side effects (for the
 * fuzzers): an install request as on stdin, and the VM verbs' argv (with
 * the id and --state-dir checked as vm_paths_init does). */
#include <stdbool.h>
#include <stddef.h>
#include "lib/err.h"
int loam_host_install_check(const char *buf, size_t len, loam_err *err);
int loam_host_vm_args_check(int argc, char **argv, bool want_id, loam_err *err);
/* job-start's and watch's argv, checked as the verbs do (no side effects). */
int loam_host_job_args_check(int argc, char **argv, loam_err *err);
int loam_host_watch_args_check(int argc, char **argv, loam_err *err);

/* Prints "loam-host: <verb>: <msg>" to stderr and returns the exit status
 * that fits the error (2 for invalid input). Frees the error. */
int loam_host_report(const char *verb, loam_err *err);

#endif
