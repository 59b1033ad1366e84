/*
 * `loam host upgrade HOST [--component C] [--version V] [--json]`: installs
 * the artifact store's versions on a host side by side with the installed
 * ones (default: the newest of every component for the host's arch and the
 * arches it emulates). New VMs then take the newest installed version;
 * running VMs keep theirs (POST /v1/hosts/HOST/upgrade).
 */
#include "cli/verbs.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "lib/cleanup.h"
#include "lib/json.h"

static const char usage[] = "loam host upgrade HOST [--component C] [--version V] [--json]";

static void print_installed(const json_t *doc)
{
	const json_t *e;
	size_t i;
	json_array_foreach(json_object_get(doc, "installed"), i, e)
	{
		printf("installed %s %s %s %s on %s\n",
		       json_string_value(json_object_get(e, "component")),
		       json_string_value(json_object_get(e, "name")),
		       json_string_value(json_object_get(e, "version")),
		       json_string_value(json_object_get(e, "arch")),
		       json_string_value(json_object_get(doc, "host")));
	}
}

int loam_host_upgrade(int argc, char **argv)
{
	enum { O_COMP = 256, O_VER, O_JSON };
	static const struct option opts[] = {{"component", required_argument, NULL, O_COMP},
					     {"version", required_argument, NULL, O_VER},
					     {"json", no_argument, NULL, O_JSON},
					     {NULL, 0, NULL, 0}};
	cleanup_json json_t *body = json_object();
	bool json = false;
	optind = 0;
	for (int c; (c = getopt_long(argc, argv, "", opts, NULL)) != -1;) {
		if (c == O_COMP || c == O_VER)
			json_object_set_new(body, c == O_COMP ? "component" : "version",
					    json_string(optarg));
		else if (c == O_JSON)
			json = true;
		else
			return loam_cli_usage(usage);
	}
	if (argc - optind != 1)
		return loam_cli_usage(usage);
	const char *name = argv[optind];
	cleanup_err loam_err err = NULL;
	if (loam_cli_check_name("host name", name, &err) < 0)
		return loam_cli_error(err);
	cleanup_free char *path = NULL;
	if (asprintf(&path, "/v1/hosts/%s/upgrade", name) < 0)
		return 1;
	cleanup_json json_t *doc = NULL;
	if (loam_cli_call_once("POST", path, body, &doc, &err) < 0)
		return loam_cli_error(err);
	if (json)
		loam_cli_print_json(doc);
	else
		print_installed(doc);
	return 0;
}
