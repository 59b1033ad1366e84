/*
 * Fuzzes the agent's argv: the input, split at NUL bytes, is the argv of a
 * loam-host verb. The first byte picks what parses it: `arch NAME...`
 * (the verb itself: it only prints), the VM verbs that take an id
 * (vm-start/status/stop/purge: id, --state-dir, --timeout, checked down to
 * the per-VM paths), vm-prep's (no id), job-start's (name, --state-dir,
 * --wait-ms, --reap, -- VERB...: only vm-prep and install may run) or
 * watch's (--vm ID and --job NAME items). These are only parsed (the
 * *_args_check functions), never run: they create users, start jobs and
 * kill processes. Accepted arguments must give valid names and paths.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/cleanup.h"
#include "host/verbs.h"
#include "host/vm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define MAX_ARGS 16

/* `arch` prints on every input: -close_fd_mask=3 keeps it out of the log. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static char *args[256];
	static char mask[] = "-close_fd_mask=3";
	int n = *argc < 250 ? *argc : 250;
	memcpy(args, *argv, (size_t)n * sizeof(char *));
	args[n++] = mask;
	args[n] = NULL;
	*argc = n;
	*argv = args;
	return 0;
}

static void check_args(int argc, char **argv, unsigned which)
{
	cleanup_err loam_err err = NULL;
	int rc = which == 3   ? loam_host_job_args_check(argc, argv, &err)
		 : which == 4 ? loam_host_watch_args_check(argc, argv, &err)
			      : loam_host_vm_args_check(argc, argv, which == 1, &err);
	if (rc < 0) {
		if (!err || loam_err_kind_of(err) != LOAM_E_INVALID)
			abort();
		return;
	}
	if (err)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const verbs[] = {"arch", "vm-status", "vm-prep", "job-start", "watch"};
	if (size == 0)
		return 0;
	char *buf = malloc(size);
	if (!buf)
		return 0;
	memcpy(buf, data + 1, size - 1);
	buf[size - 1] = '\0';
	char *argv[MAX_ARGS + 2];
	int argc = 0;
	unsigned which = data[0] % 5;
	argv[argc++] = (char *)verbs[which];
	for (char *p = buf; p < buf + size && argc <= MAX_ARGS; p += strlen(p) + 1)
		argv[argc++] = p;
	argv[argc] = NULL;
	if (which == 0) {
		int status = loam_host_verb_arch(argc, argv);
		if (status != 0 && status != 2)
			abort();
	} else {
		check_args(argc, argv, which);
	}
	free(buf);
	return 0;
}
