/*
 * `loam vm upgrade NAME [--component vmm|firmware|storage] [--project P]
 * [--json]`: moves
 * the VM to its host's newest versions (the ones a new VM would take; the
 * VMM and the firmware as a tested pair), effective at its next start
 * (POST /v1/vms/NAME/upgrade). Until then it keeps running, and GC keeps,
 * the versions it runs.
 */
#include "cli/verbs.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "lib/cleanup.h"
#include "lib/json.h"

static const char usage[] =
    "loam vm upgrade NAME [--component vmm|firmware|storage] [--project P] [--json]";

static void print_changes(const json_t *doc)
{
	const char *vm = loam_cli_str(doc, "vm");
	const json_t *e;
	size_t i;
	json_array_foreach(json_object_get(doc, "artifacts"), i, e)
	{
		const char *next = loam_cli_str(e, "next");
		if (*next)
			printf("vm %s: %s %s %s -> %s at its next start\n", vm,
			       loam_cli_str(e, "component"), loam_cli_str(e, "name"),
			       loam_cli_str(e, "version"), next);
		else
			printf("vm %s: %s %s %s stays (the newest)\n", vm,
			       loam_cli_str(e, "component"), loam_cli_str(e, "name"),
			       loam_cli_str(e, "version"));
	}
}

int loam_vm_upgrade(int argc, char **argv)
{
	enum { O_COMP = 256, O_JSON, O_PROJECT };
	static const struct option opts[] = {{"component", required_argument, NULL, O_COMP},
					     {"json", no_argument, NULL, O_JSON},
					     {"project", required_argument, NULL, O_PROJECT},
					     {NULL, 0, NULL, 0}};
	cleanup_json json_t *body = json_object();
	bool json = false;
	const char *project = NULL;
	optind = 0;
	for (int c; (c = getopt_long(argc, argv, "", opts, NULL)) != -1;) {
		if (c == O_COMP)
			json_object_set_new(body, "component", json_string(optarg));
		else if (c == O_JSON)
			json = true;
		else if (c == O_PROJECT)
			project = optarg;
		else
			return loam_cli_usage(usage);
	}
	if (argc - optind != 1)
		return loam_cli_usage(usage);
	const char *name = argv[optind];
	cleanup_err loam_err err = NULL;
	cleanup_free char *path = NULL;
	if (loam_cli_vm_path(name, project, "upgrade", &path, &err) < 0)
		return loam_cli_error(err);
	cleanup_json json_t *doc = NULL;
	if (loam_cli_call_once("POST", path, body, &doc, &err) < 0)
		return loam_cli_error(err);
	if (json)
		loam_cli_print_json(doc);
	else
		print_changes(doc);
	return 0;
}
