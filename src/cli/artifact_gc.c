/*
 * `loam artifact gc [--host H] [--dry-run] [--json]`: removes the artifact
 * versions no VM uses (never the newest, which new VMs take) through each
 * host's agent, and prints one line per version: removed (or, with
 * --dry-run, would remove) or kept, with the reason (POST /v1/artifacts/gc).
 * Exits 1 when GC failed on a host.
 */
#include "cli/verbs.h"

#include <getopt.h>
#include <stdio.h>

#include "lib/cleanup.h"
#include "lib/json.h"

static const char usage[] = "loam artifact gc [--host H] [--dry-run] [--json]";

static void print_entries(const char *host, const char *what, const json_t *list)
{
	const json_t *e;
	size_t i;
	json_array_foreach(list, i, e)
	{
		printf("%-12s %s %s %s %s %s (%s; %lld VMs)\n", what, host,
		       json_string_value(json_object_get(e, "component")),
		       json_string_value(json_object_get(e, "name")),
		       json_string_value(json_object_get(e, "version")),
		       json_string_value(json_object_get(e, "arch")),
		       json_string_value(json_object_get(e, "reason")),
		       (long long)json_integer_value(json_object_get(e, "vms")));
	}
}

static void print_report(const json_t *doc, bool dry_run)
{
	const json_t *h;
	size_t i;
	json_array_foreach(json_object_get(doc, "hosts"), i, h)
	{
		const char *host = json_string_value(json_object_get(h, "host"));
		const char *error = json_string_value(json_object_get(h, "error"));
		if (error)
			fprintf(stderr, "loam: gc on %s failed: %s\n", host, error);
		print_entries(host, dry_run ? "would-remove" : "removed",
			      json_object_get(h, "removed"));
		print_entries(host, "kept", json_object_get(h, "kept"));
	}
}

int loam_artifact_gc(int argc, char **argv)
{
	enum { O_HOST = 256, O_DRY, O_JSON };
	static const struct option opts[] = {{"host", required_argument, NULL, O_HOST},
					     {"dry-run", no_argument, NULL, O_DRY},
					     {"json", no_argument, NULL, O_JSON},
					     {NULL, 0, NULL, 0}};
	cleanup_json json_t *body = json_object();
	bool json = false, dry_run = false;
	cleanup_err loam_err err = NULL;
	optind = 0;
	for (int c; (c = getopt_long(argc, argv, "", opts, NULL)) != -1;) {
		if (c == O_HOST && loam_cli_check_name("host name", optarg, &err) < 0)
			return loam_cli_error(err);
		if (c == O_HOST)
			json_object_set_new(body, "host", json_string(optarg));
		else if (c == O_DRY)
			dry_run = true;
		else if (c == O_JSON)
			json = true;
		else
			return loam_cli_usage(usage);
	}
	if (optind != argc)
		return loam_cli_usage(usage);
	json_object_set_new(body, "dry_run", json_boolean(dry_run));
	cleanup_json json_t *doc = NULL;
	if (loam_cli_call_once("POST", "/v1/artifacts/gc", body, &doc, &err) < 0)
		return loam_cli_error(err);
	if (json)
		loam_cli_print_json(doc);
	else
		print_report(doc, dry_run);
	return json_integer_value(json_object_get(doc, "failed")) > 0 ? 1 : 0;
}
