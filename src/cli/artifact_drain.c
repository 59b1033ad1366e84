/*
 * `loam artifact drain HOST COMPONENT VERSION [--name N] [--arch A]
 * [--json]`: sets the version's weight on the host to 0, so that no new VM
 * takes it, while the VMs pinned to it keep it (POST
 * /v1/artifacts/weight). `undrain` (artifact_undrain.c) sets it back.
 */
#include "cli/verbs.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "lib/cleanup.h"
#include "lib/json.h"

int loam_cli_artifact_weight(int argc, char **argv, const char *usage, long weight)
{
	enum { O_NAME = 256, O_ARCH, O_JSON, O_WEIGHT };
	static const struct option opts[] = {{"name", required_argument, NULL, O_NAME},
					     {"arch", required_argument, NULL, O_ARCH},
					     {"json", no_argument, NULL, O_JSON},
					     {"weight", required_argument, NULL, O_WEIGHT},
					     {NULL, 0, NULL, 0}};
	cleanup_json json_t *body = json_object();
	bool json = false;
	optind = 0;
	for (int c; (c = getopt_long(argc, argv, "", opts, NULL)) != -1;) {
		char *end = NULL;
		if (c == O_NAME || c == O_ARCH)
			json_object_set_new(body, c == O_NAME ? "name" : "arch",
					    json_string(optarg));
		else if (c == O_JSON)
			json = true;
		else if (c == O_WEIGHT && weight > 0 && (weight = strtol(optarg, &end, 10)) >= 0 &&
			 !*end)
			continue;
		else
			return loam_cli_usage(usage);
	}
	if (argc - optind != 3)
		return loam_cli_usage(usage);
	cleanup_err loam_err err = NULL;
	if (loam_cli_check_name("host name", argv[optind], &err) < 0)
		return loam_cli_error(err);
	json_object_set_new(body, "host", json_string(argv[optind]));
	json_object_set_new(body, "component", json_string(argv[optind + 1]));
	json_object_set_new(body, "version", json_string(argv[optind + 2]));
	json_object_set_new(body, "weight", json_integer(weight));
	cleanup_json json_t *doc = NULL;
	if (loam_cli_call_once("POST", "/v1/artifacts/weight", body, &doc, &err) < 0)
		return loam_cli_error(err);
	if (json)
		loam_cli_print_json(doc);
	else
		printf("%s %s %s on %s: weight %lld%s\n", loam_cli_str(doc, "component"),
		       loam_cli_str(doc, "version"), weight == 0 ? "drained" : "weighted",
		       loam_cli_str(doc, "host"),
		       (long long)json_integer_value(json_object_get(doc, "weight")),
		       weight == 0 ? " (no new VM takes it; pinned VMs keep it)" : "");
	return 0;
}

int loam_artifact_drain(int argc, char **argv)
{
	return loam_cli_artifact_weight(
	    argc, argv, "loam artifact drain HOST COMPONENT VERSION [--name N] [--arch A] [--json]",
	    0);
}
