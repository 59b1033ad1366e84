/*
 * What the host and vm verbs share: sub-verb dispatch, and the three shapes
 * most verbs take (list, show, act on a name), so that each verb file only
 * says what is particular to it.
 */
#include "cli/verbs.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "lib/cleanup.h"
#include "lib/json.h"
#include "lib/valid.h"
#include "lib/xalloc.h"

int loam_cli_dispatch(const char *group, const struct loam_cli_verb *verbs, size_t n, int argc,
		      char **argv)
{
	bool help = argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0);
	for (size_t i = 0; argc >= 2 && !help && i < n; i++)
		if (strcmp(argv[1], verbs[i].name) == 0)
			return verbs[i].run(argc - 1, argv + 1);
	FILE *out = help ? stdout : stderr;
	if (argc >= 2 && !help)
		fprintf(stderr, "loam %s: unknown verb '%.64s'\n", group, argv[1]);
	fprintf(out, "usage:\n");
	for (size_t i = 0; i < n; i++)
		fprintf(out, "  %s\n", verbs[i].usage);
	return help ? 0 : 2;
}

int loam_cli_check_name(const char *what, const char *name, loam_err *err)
{
	return loam_valid_name(what, name, err);
}

int loam_cli_call_once(const char *method, const char *path, const json_t *body, json_t **out,
		       loam_err *err)
{
	cleanup_client struct loam_client *c = NULL;
	if (loam_client_open(&c, err) < 0)
		return -1;
	return loam_client_call(c, method, path, body, out, err);
}

struct json_name {
	bool json;
	const char *name;
	const char *project; /* --project: the operator's choice of project */
};

/* Parses "[--json] [--project P] [NAME]"; nnames is 0 or 1. */
static int parse_json_name(int argc, char **argv, size_t nnames, struct json_name *o)
{
	static const struct option opts[] = {{"json", no_argument, NULL, 'j'},
					     {"project", required_argument, NULL, 'p'},
					     {NULL, 0, NULL, 0}};
	optind = 0;
	opterr = 1;
	int c;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'j')
			o->json = true;
		else if (c == 'p')
			o->project = optarg;
		else
			return -1;
	}
	if ((size_t)(argc - optind) != nnames)
		return -1;
	if (nnames)
		o->name = argv[optind];
	return 0;
}

/* prefix[/name][/suffix][?project=P], with the names checked. */
static int build_path(const char *prefix, const struct json_name *o, const char *suffix, char **out,
		      loam_err *err)
{
	if ((o->name && loam_cli_check_name("name", o->name, err) < 0) ||
	    (o->project && loam_cli_check_name("project", o->project, err) < 0))
		return -1;
	*out = xasprintf("%s%s%s%s%s%s%s", prefix, o->name ? "/" : "", o->name ? o->name : "",
			 suffix ? "/" : "", suffix ? suffix : "", o->project ? "?project=" : "",
			 o->project ? o->project : "");
	return 0;
}

int loam_cli_vm_path(const char *name, const char *project, const char *suffix, char **out,
		     loam_err *err)
{
	struct json_name o = {.name = name, .project = project};
	return build_path("/v1/vms", &o, suffix, out, err);
}

int loam_cli_host_path(const char *name, const char *suffix, char **out, loam_err *err)
{
	struct json_name o = {.name = name};
	if (loam_cli_check_name("host name", name, err) < 0)
		return -1;
	return build_path("/v1/hosts", &o, suffix, out, err);
}

int loam_cli_list(int argc, char **argv, const char *usage, const char *path,
		  const struct loam_col *cols, size_t ncols)
{
	struct json_name o = {0};
	if (parse_json_name(argc, argv, 0, &o) < 0)
		return loam_cli_usage(usage);
	cleanup_err loam_err err = NULL;
	cleanup_free char *full = NULL;
	cleanup_client struct loam_client *c = NULL;
	cleanup_json json_t *doc = NULL;
	if (build_path(path, &o, NULL, &full, &err) < 0 || loam_client_open(&c, &err) < 0 ||
	    loam_client_get_all(c, full, &doc, &err) < 0)
		return loam_cli_error(err);
	if (o.json)
		loam_cli_print_json(doc);
	else
		loam_cli_print_table(doc, cols, ncols);
	return 0;
}

int loam_cli_show(int argc, char **argv, const char *usage, const char *prefix)
{
	return loam_cli_show_with(argc, argv, usage, prefix, loam_cli_print_fields);
}

int loam_cli_show_with(int argc, char **argv, const char *usage, const char *prefix,
		       void (*print)(const json_t *doc))
{
	struct json_name o = {0};
	if (parse_json_name(argc, argv, 1, &o) < 0)
		return loam_cli_usage(usage);
	cleanup_err loam_err err = NULL;
	cleanup_free char *path = NULL;
	cleanup_json json_t *doc = NULL;
	if (build_path(prefix, &o, NULL, &path, &err) < 0 ||
	    loam_cli_call_once("GET", path, NULL, &doc, &err) < 0)
		return loam_cli_error(err);
	if (o.json)
		loam_cli_print_json(doc);
	else
		print(doc);
	return 0;
}

int loam_cli_name_call(int argc, char **argv, const char *usage, const char *method,
		       const char *prefix, const char *suffix, const char *done)
{
	struct json_name o = {0};
	if (parse_json_name(argc, argv, 1, &o) < 0)
		return loam_cli_usage(usage);
	cleanup_err loam_err err = NULL;
	cleanup_free char *path = NULL;
	cleanup_json json_t *doc = NULL;
	if (build_path(prefix, &o, suffix, &path, &err) < 0 ||
	    loam_cli_call_once(method, path, NULL, &doc, &err) < 0)
		return loam_cli_error(err);
	if (o.json) {
		loam_cli_print_json(doc);
		return 0;
	}
	const json_t *state = json_object_get(doc, "state");
	if (json_is_string(state))
		printf("%s %s (%s)\n", o.name, done, json_string_value(state));
	else
		printf("%s %s\n", o.name, done);
	return 0;
}

const char *loam_cli_str(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : "";
}

void loam_cli_sleep_ms(long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}
