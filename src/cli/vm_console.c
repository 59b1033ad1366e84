/*
 * `loam vm console NAME [--project P] [--follow] [--json]`: the last lines of the VM's
 * serial console (GET /v1/vms/NAME/console). --follow asks again every
 * second and prints only what is new: the longest run of lines at the end
 * of what it printed that starts the new tail is taken as seen. It stops
 * when the VM is gone, or on Ctrl-C.
 */
#include "cli/verbs.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "lib/cleanup.h"
#include "lib/json.h"
#include "lib/xalloc.h"

#define USAGE	       "loam vm console NAME [--project P] [--follow] [--json]"
#define FOLLOW_POLL_MS 1000

/* How many lines at the start of now were the last ones of before. */
static size_t overlap(const json_t *before, const json_t *now)
{
	size_t nb = json_array_size(before), nn = json_array_size(now);
	for (size_t k = nb < nn ? nb : nn; k > 0; k--) {
		bool same = true;
		for (size_t i = 0; i < k && same; i++)
			same =
			    json_equal(json_array_get(before, nb - k + i), json_array_get(now, i));
		if (same)
			return k;
	}
	return 0;
}

static void print_lines(const json_t *lines, size_t from)
{
	for (size_t i = from; i < json_array_size(lines); i++) {
		const char *line = json_string_value(json_array_get(lines, i));
		printf("%s\n", line ? line : "");
	}
	fflush(stdout);
}

static int follow(const char *path, json_t *first)
{
	cleanup_json json_t *seen = json_incref(json_object_get(first, "lines"));
	for (;;) {
		loam_cli_sleep_ms(FOLLOW_POLL_MS);
		cleanup_err loam_err err = NULL;
		cleanup_json json_t *doc = NULL;
		if (loam_cli_call_once("GET", path, NULL, &doc, &err) < 0) {
			if (loam_err_kind_of(err) == LOAM_E_NOTFOUND) {
				fprintf(stderr, "loam: the VM is gone\n");
				return 0;
			}
			return loam_cli_error(err);
		}
		json_t *lines = json_object_get(doc, "lines");
		print_lines(lines, overlap(seen, lines));
		json_decref(seen);
		seen = json_incref(lines);
	}
}

int loam_vm_console(int argc, char **argv)
{
	static const struct option opts[] = {{"follow", no_argument, NULL, 'f'},
					     {"json", no_argument, NULL, 'j'},
					     {"project", required_argument, NULL, 'p'},
					     {NULL, 0, NULL, 0}};
	bool json = false, follow_it = false;
	const char *project = NULL;
	optind = 0;
	int c;
	while ((c = getopt_long(argc, argv, "f", opts, NULL)) != -1) {
		if (c == 'f')
			follow_it = true;
		else if (c == 'j')
			json = true;
		else if (c == 'p')
			project = optarg;
		else
			return loam_cli_usage(USAGE);
	}
	if (argc - optind != 1 || (json && follow_it))
		return loam_cli_usage(USAGE " (--json prints one answer: not with --follow)");
	const char *name = argv[optind];
	cleanup_err loam_err err = NULL;
	cleanup_free char *path = NULL;
	if (loam_cli_vm_path(name, project, "console", &path, &err) < 0)
		return loam_cli_error(err);
	cleanup_json json_t *doc = NULL;
	if (loam_cli_call_once("GET", path, NULL, &doc, &err) < 0)
		return loam_cli_error(err);
	if (json) {
		loam_cli_print_json(doc);
		return 0;
	}
	print_lines(json_object_get(doc, "lines"), 0);
	return follow_it ? follow(path, doc) : 0;
}
