/*
 * Fuzzes the CLI's argument parsing: the input, split at NUL bytes, is the
 * argv of `loam host ...`, `loam vm ...` or `loam sizes ...` (the first
 * byte picks the command) and runs through the real command functions.
 * LOAM_URL points at a closed local port, so whatever the parsing accepts
 * ends in a fast "cannot connect" instead of a request: the fuzzer covers
 * option parsing, validation and request building, and never reaches a
 * server. Each command must return an exit status (0, 1 or 2) without
 * crashing, leaking or looping. `loam bench` is left out: it runs
 * benchmarks, not a parser.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define MAX_ARGS 24

/* The commands print usage and errors on every input: libFuzzer's
 * -close_fd_mask=3 keeps that out of the log (it keeps its own output). */
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
	setenv("LOAM_URL", "http://127.0.0.1:1", 1);
	setenv("LOAM_TOKEN", "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", 1);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct {
		const char *name;
		int (*run)(int argc, char **argv);
	} commands[] = {{"host", loam_cmd_host}, {"vm", loam_cmd_vm}, {"sizes", loam_cmd_sizes}};
	if (size == 0)
		return 0;
	char *buf = malloc(size);
	if (!buf)
		return 0;
	memcpy(buf, data + 1, size - 1);
	buf[size - 1] = '\0';
	char *argv[MAX_ARGS + 2];
	int argc = 0;
	argv[argc++] = (char *)commands[data[0] % 3].name;
	for (char *p = buf; p < buf + size && argc <= MAX_ARGS; p += strlen(p) + 1)
		argv[argc++] = p;
	argv[argc] = NULL;
	int status = commands[data[0] % 3].run(argc, argv);
	free(buf);
	if (status < 0 || status > 2)
		abort();
	return 0;
}
