/*
 * loam: the command-line client. Dispatches to one command per file. The
 * one global option, `--cacert FILE` before the command, names the CA that
 * loamd's HTTPS certificate is checked with (as $LOAM_CACERT does).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "lib/log.h"

static const struct loam_cli_cmd commands[] = {
    {"bench", "bench alloc|...   run a benchmark and print JSON", loam_cmd_bench},
    {"host", "host add|ls|show|set|rm   cloudify and manage hosts", loam_cmd_host},
    {"vm", "vm create|ls|show|stop|start|reboot|rm   manage VMs", loam_cmd_vm},
    {"sizes", "sizes [--json]   list VM sizes per arch", loam_cmd_sizes},
    {"artifact", "artifact ls|gc   artifact versions per host; remove unused ones",
     loam_cmd_artifact},
    {"image", "image ls   guest images per arch, and the hosts that have them", loam_cmd_image},
    {"project", "project create|ls|show|set|rm   projects and their per-arch quotas",
     loam_cmd_project},
    {"token", "token create|ls|revoke   API tokens of projects (and for metrics)", loam_cmd_token},
};

static int usage(FILE *out)
{
	fprintf(out, "usage: loam [--cacert FILE] COMMAND [ARGS...]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(out, "  %-8s %s\n", commands[i].name, commands[i].summary);
	return out == stdout ? 0 : 2;
}

int main(int argc, char **argv)
{
	loam_log_init("loam", false, LOAM_LOG_INFO);
	if (argc >= 3 && strcmp(argv[1], "--cacert") == 0) {
		setenv("LOAM_CACERT", argv[2], 1);
		argc -= 2;
		argv += 2;
	}
	if (argc < 2)
		return usage(stderr);
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0)
		return usage(stdout);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].run(argc - 1, argv + 1);
	fprintf(stderr, "loam: unknown command '%.64s'; see loam --help\n", argv[1]);
	return 2;
}
