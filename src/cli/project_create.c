/*
 * `loam project create NAME [--json]`: a project, without quotas (no
 * limit) until `loam project set` gives some.
 */
#include "cli/verbs.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "lib/cleanup.h"
#include "lib/json.h"

int loam_project_create(int argc, char **argv)
{
	static const char usage[] = "loam project create NAME [--json]";
	bool json = argc == 3 && strcmp(argv[2], "--json") == 0;
	if (argc != 2 && !json)
		return loam_cli_usage(usage);
	const char *name = argv[1];
	cleanup_err loam_err err = NULL;
	cleanup_json json_t *body = json_pack("{s:s}", "name", name);
	cleanup_json json_t *doc = NULL;
	if (loam_cli_check_name("project name", name, &err) < 0 ||
	    loam_cli_call_once("POST", "/v1/projects", body, &doc, &err) < 0)
		return loam_cli_error(err);
	if (json)
		loam_cli_print_json(doc);
	else
		printf("project %s created; give it a token with: loam token create --project %s\n",
		       name, name);
	return 0;
}
