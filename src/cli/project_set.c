/*
 * `loam project set NAME --quota ARCH.RESOURCE=N ... [--json]`: sets the
 * project's per-arch quotas (RESOURCE: vcpus, memory_gib, vms; N a whole
 * number, or "none" for no limit), all in one request, then shows usage
 * against them.
 */
#include "cli/verbs.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/cleanup.h"
#include "lib/json.h"

static const char usage[] = "loam project set NAME --quota ARCH.RESOURCE=N|none ... [--json]";

/* "arm64.vcpus=16" or "arm64.vcpus=none" into quotas. */
static int add_quota(json_t *quotas, const char *arg)
{
	const char *eq = strchr(arg, '=');
	if (!eq || eq == arg || strlen(arg) > 128)
		return -1;
	char key[128];
	snprintf(key, sizeof(key), "%.*s", (int)(eq - arg), arg);
	const char *value = eq + 1;
	if (strcmp(value, "none") == 0) {
		json_object_set_new(quotas, key, json_null());
		return 0;
	}
	char *end = NULL;
	long long n = strtoll(value, &end, 10);
	if (!*value || *end || n < 0)
		return -1;
	json_object_set_new(quotas, key, json_integer(n));
	return 0;
}

int loam_project_set(int argc, char **argv)
{
	static const struct option opts[] = {{"quota", required_argument, NULL, 'q'},
					     {"json", no_argument, NULL, 'j'},
					     {NULL, 0, NULL, 0}};
	cleanup_json json_t *quotas = json_object();
	bool json = false;
	optind = 0;
	int c;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'j')
			json = true;
		else if (c != 'q' || add_quota(quotas, optarg) < 0)
			return loam_cli_usage(usage);
	}
	if (argc - optind != 1 || json_object_size(quotas) == 0)
		return loam_cli_usage(usage);
	cleanup_json json_t *body = json_pack("{s:O}", "quotas", quotas);
	return loam_cli_project_call("PATCH", argv[optind], body, json);
}
