/*
 * `loam project show NAME [--json]`: the project and its usage against
 * each quota, per arch and resource (a project token may show its own).
 */
#include "cli/verbs.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "lib/cleanup.h"
#include "lib/json.h"

void loam_cli_print_project(const json_t *p)
{
	printf("project %s: %lld VM(s)\n", loam_cli_str(p, "name"),
	       (long long)json_integer_value(json_object_get(p, "vms")));
	static const struct loam_col cols[] = {
	    {"ARCH", "arch"},
	    {"RESOURCE", "resource"},
	    {"USED", "used"},
	    {"LIMIT", "limit"},
	};
	loam_cli_print_table(json_object_get(p, "quotas"), cols, sizeof(cols) / sizeof(cols[0]));
}

int loam_cli_project_call(const char *method, const char *name, const json_t *body, bool json)
{
	cleanup_err loam_err err = NULL;
	if (loam_cli_check_name("project name", name, &err) < 0)
		return loam_cli_error(err);
	char path[128];
	snprintf(path, sizeof(path), "/v1/projects/%s", name);
	cleanup_json json_t *doc = NULL;
	if (loam_cli_call_once(method, path, body, &doc, &err) < 0)
		return loam_cli_error(err);
	if (json)
		loam_cli_print_json(doc);
	else
		loam_cli_print_project(doc);
	return 0;
}

int loam_project_show(int argc, char **argv)
{
	static const char usage[] = "loam project show NAME [--json]";
	bool json = argc == 3 && strcmp(argv[2], "--json") == 0;
	if (argc != 2 && !json)
		return loam_cli_usage(usage);
	return loam_cli_project_call("GET", argv[1], NULL, json);
}
