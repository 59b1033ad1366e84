/*
 * `loam token create --project NAME | --metrics [--json]`: a new API token.
 * The token is printed once, alone on stdout (loamd keeps only its
 * SHA-256); what it is for goes to stderr, so that
 * `T=$(loam token create --project p)` captures just the token.
 */
#include "cli/verbs.h"

#include <getopt.h>
#include <stdio.h>

#include "lib/cleanup.h"
#include "lib/json.h"

int loam_token_create(int argc, char **argv)
{
	static const char usage[] = "loam token create --project NAME | --metrics [--json]";
	static const struct option opts[] = {{"project", required_argument, NULL, 'p'},
					     {"metrics", no_argument, NULL, 'm'},
					     {"json", no_argument, NULL, 'j'},
					     {NULL, 0, NULL, 0}};
	const char *project = NULL;
	bool metrics = false, json = false;
	optind = 0;
	int c;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'p')
			project = optarg;
		else if (c == 'm')
			metrics = true;
		else if (c == 'j')
			json = true;
		else
			return loam_cli_usage(usage);
	}
	if (optind != argc || !project == !metrics)
		return loam_cli_usage(usage);
	cleanup_err loam_err err = NULL;
	if (project && loam_cli_check_name("project", project, &err) < 0)
		return loam_cli_error(err);
	cleanup_json json_t *body =
	    project ? json_pack("{s:s}", "project", project) : json_pack("{s:b}", "metrics", 1);
	cleanup_json json_t *doc = NULL;
	if (loam_cli_call_once("POST", "/v1/tokens", body, &doc, &err) < 0)
		return loam_cli_error(err);
	if (json) {
		loam_cli_print_json(doc);
		return 0;
	}
	printf("%s\n", loam_cli_str(doc, "token"));
	fprintf(stderr,
		"token %s (%s%s%s): shown this once, loamd keeps only its hash; revoke it with: "
		"loam token revoke %s\n",
		loam_cli_str(doc, "id"), project ? "project " : "metrics", project ? project : "",
		"", loam_cli_str(doc, "id"));
	return 0;
}
