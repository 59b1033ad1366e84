/*
 * `loam host set NAME ...`: the operator's knobs on a host: allocation
 * state (accepting/draining), location, the foreign arches it may emulate
 * under TCG, whether TCG is allowed at all, the CPU overcommit factor
 * for development boxes (docs/design.md §2 "Acceleration"), and its
 * network: the VMs' IPv4 pool and IPv6 prefix, and whether guest traffic
 * may leave the host (egress, off by default; docs/network.md).
 */
#include "cli/verbs.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/cleanup.h"
#include "lib/json.h"

static const char usage[] =
    "loam host set NAME [--accepting|--draining] [--location L] [--emulate ARCH[,ARCH]] "
    "[--no-emulate] [--allow-tcg|--no-allow-tcg] [--cpu-overcommit F] [--ipv4-pool CIDR] "
    "[--ipv6-prefix CIDR|default] [--egress on|off] [--json]";

enum {
	O_ACCEPT = 256,
	O_DRAIN,
	O_LOC,
	O_EMU,
	O_NOEMU,
	O_TCG,
	O_NOTCG,
	O_OC,
	O_JSON,
	O_POOL,
	O_PREFIX,
	O_EGRESS
};

static int take_net(int c, json_t *body)
{
	switch (c) {
	case O_POOL:
		json_object_set_new(body, "ipv4_pool", json_string(optarg));
		return 0;
	case O_PREFIX: /* "default": the host's own ULA /48 */
		json_object_set_new(body, "ipv6_prefix",
				    strcmp(optarg, "default") == 0 ? json_null()
								   : json_string(optarg));
		return 0;
	case O_EGRESS:
		if (strcmp(optarg, "on") != 0 && strcmp(optarg, "off") != 0)
			return -1;
		json_object_set_new(body, "egress", json_boolean(strcmp(optarg, "on") == 0));
		return 0;
	}
	return -1;
}

static void add_emulate(json_t *body, const char *list)
{
	json_t *arr = json_object_get(body, "emulate");
	if (!arr) {
		arr = json_array();
		json_object_set_new(body, "emulate", arr);
	}
	cleanup_free char *copy = strdup(list);
	char *save = NULL;
	for (char *a = strtok_r(copy, ",", &save); a; a = strtok_r(NULL, ",", &save))
		json_array_append_new(arr, json_string(a));
}

static int parse_overcommit(const char *s, json_t *body)
{
	char *end = NULL;
	double f = strtod(s, &end);
	if (!*s || *end)
		return -1;
	json_object_set_new(body, "cpu_overcommit", json_real(f));
	return 0;
}

static int take(int c, json_t *body, bool *json)
{
	switch (c) {
	case O_ACCEPT:
	case O_DRAIN:
		json_object_set_new(body, "allocation_state",
				    json_string(c == O_ACCEPT ? "accepting" : "draining"));
		return 0;
	case O_LOC:
		json_object_set_new(body, "location", json_string(optarg));
		return 0;
	case O_EMU:
		add_emulate(body, optarg);
		return 0;
	case O_NOEMU:
		json_object_set_new(body, "emulate", json_array());
		return 0;
	case O_TCG:
	case O_NOTCG:
		json_object_set_new(body, "allow_tcg", json_boolean(c == O_TCG));
		return 0;
	case O_OC:
		return parse_overcommit(optarg, body);
	case O_JSON:
		*json = true;
		return 0;
	}
	return take_net(c, body);
}

int loam_host_set(int argc, char **argv)
{
	static const struct option opts[] = {{"accepting", no_argument, NULL, O_ACCEPT},
					     {"draining", no_argument, NULL, O_DRAIN},
					     {"location", required_argument, NULL, O_LOC},
					     {"emulate", required_argument, NULL, O_EMU},
					     {"no-emulate", no_argument, NULL, O_NOEMU},
					     {"allow-tcg", no_argument, NULL, O_TCG},
					     {"no-allow-tcg", no_argument, NULL, O_NOTCG},
					     {"cpu-overcommit", required_argument, NULL, O_OC},
					     {"json", no_argument, NULL, O_JSON},
					     {"ipv4-pool", required_argument, NULL, O_POOL},
					     {"ipv6-prefix", required_argument, NULL, O_PREFIX},
					     {"egress", required_argument, NULL, O_EGRESS},
					     {NULL, 0, NULL, 0}};
	cleanup_json json_t *body = json_object();
	bool json = false;
	optind = 0;
	int c;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1)
		if (take(c, body, &json) < 0)
			return loam_cli_usage(usage);
	if (argc - optind != 1 || json_object_size(body) == 0)
		return loam_cli_usage(usage);
	const char *name = argv[optind];
	cleanup_err loam_err err = NULL;
	cleanup_free char *path = NULL;
	cleanup_json json_t *host = NULL;
	if (loam_cli_host_path(name, NULL, &path, &err) < 0 ||
	    loam_cli_call_once("PATCH", path, body, &host, &err) < 0)
		return loam_cli_error(err);
	if (json)
		loam_cli_print_json(host);
	else
		loam_cli_print_fields(host);
	return 0;
}
