/*
 * `loam vm firewall NAME ls|add|rm [PORT[/tcp|/udp]] [--from CIDR]
 * [--project P]`: the
 * inbound ports open on a VM besides SSH (docs/network.md). A rule without
 * --from opens the port to everyone but the host's other VMs; with it, to
 * that prefix only (other VMs in it included). The change reaches the
 * VM's host at once; the VM keeps running.
 */
#include "cli/verbs.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "lib/cleanup.h"
#include "lib/json.h"
#include "lib/xalloc.h"

static const char usage[] =
    "loam vm firewall NAME ls|add|rm [PORT[/tcp|/udp]] [--from CIDR] [--project P] [--json]";

struct fw_opts {
	const char *name, *action, *port, *from, *project;
	bool json;
};

static int parse(int argc, char **argv, struct fw_opts *o)
{
	static const struct option opts[] = {{"from", required_argument, NULL, 'f'},
					     {"json", no_argument, NULL, 'j'},
					     {"project", required_argument, NULL, 'p'},
					     {NULL, 0, NULL, 0}};
	*o = (struct fw_opts){0};
	optind = 0;
	int c;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'f')
			o->from = optarg;
		else if (c == 'j')
			o->json = true;
		else if (c == 'p')
			o->project = optarg;
		else
			return -1;
	}
	int rest = argc - optind;
	if (rest < 2)
		return -1;
	o->name = argv[optind];
	o->action = argv[optind + 1];
	bool ls = strcmp(o->action, "ls") == 0;
	bool change = strcmp(o->action, "add") == 0 || strcmp(o->action, "rm") == 0;
	if ((ls && (rest != 2 || o->from)) || (change && rest != 3) || (!ls && !change))
		return -1;
	o->port = change ? argv[optind + 2] : NULL;
	return 0;
}

static void print_ports(const char *name, const json_t *doc)
{
	char ports[1024];
	loam_cli_value_text(json_object_get(doc, "open_ports"), ports, sizeof(ports));
	const json_t *changed = json_object_get(doc, "changed");
	printf("vm %s: open ports %s%s\n", name, ports,
	       json_is_false(changed) ? " (unchanged)" : "");
}

int loam_vm_firewall(int argc, char **argv)
{
	struct fw_opts o;
	if (parse(argc, argv, &o) < 0)
		return loam_cli_usage(usage);
	cleanup_err loam_err err = NULL;
	cleanup_free char *path = NULL;
	bool ls = strcmp(o.action, "ls") == 0;
	cleanup_free char *suffix = ls ? xstrdup("firewall") : xasprintf("firewall/%s", o.action);
	if (loam_cli_vm_path(o.name, o.project, suffix, &path, &err) < 0)
		return loam_cli_error(err);
	cleanup_json json_t *body = ls ? NULL : json_pack("{s:s}", "port", o.port);
	if (o.from)
		json_object_set_new(body, "from", json_string(o.from));
	cleanup_json json_t *doc = NULL;
	if (loam_cli_call_once(ls ? "GET" : "POST", path, body, &doc, &err) < 0)
		return loam_cli_error(err);
	if (o.json)
		loam_cli_print_json(doc);
	else
		print_ports(o.name, doc);
	return 0;
}
