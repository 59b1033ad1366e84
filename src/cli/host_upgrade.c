/*
 * `loam host upgrade HOST [--component C] [--version V] [--wait [--timeout
 * S]] [--json]`: asks the host to install the artifact store's versions
 * side by side with the installed ones (default: the newest of every
 * component it takes) and returns at once (POST /v1/hosts/HOST/upgrade);
 * the host's cloudify strand installs them as a job. With --wait it
 * follows the versions (GET /v1/hosts/HOST) until each is installed or
 * failed. New VMs then take the newest installed version; running VMs
 * keep theirs.
 */
#include "cli/verbs.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/cleanup.h"
#include "lib/json.h"

static const char usage[] = "loam host upgrade HOST [--component C] [--version V] "
			    "[--wait [--timeout S]] [--json]";

#define WAIT_POLL_MS   500
#define DEFAULT_WAIT_S 3600

static bool same_version(const json_t *a, const json_t *b)
{
	static const char *const keys[] = {"component", "name", "version", "arch"};
	for (size_t k = 0; k < 4; k++)
		if (!json_equal(json_object_get(a, keys[k]), json_object_get(b, keys[k])))
			return false;
	return true;
}

static void print_entries(const char *host, const json_t *list)
{
	const json_t *e;
	size_t i;
	json_array_foreach(list, i, e)
	{
		const char *state = loam_cli_str(e, "state"), *error = loam_cli_str(e, "error");
		printf("%s %s %s %s %s on %s%s%s\n", state, loam_cli_str(e, "component"),
		       loam_cli_str(e, "name"), loam_cli_str(e, "version"), loam_cli_str(e, "arch"),
		       host, *error && strcmp(state, "installed") != 0 ? ": " : "",
		       strcmp(state, "installed") != 0 ? error : "");
	}
}

/* Replaces each requested entry by its row on the host; true when none
 * is installing any more. */
static bool settle(json_t *requested, const json_t *host)
{
	bool done = true;
	json_t *e;
	size_t i;
	json_array_foreach(requested, i, e)
	{
		json_t *row, *found = NULL;
		size_t k;
		json_array_foreach(json_object_get(host, "artifacts"), k, row)
		{
			if (!found && same_version(e, row))
				found = row;
		}
		if (found)
			json_array_set(requested, i, found);
		done &=
		    strcmp(loam_cli_str(json_array_get(requested, i), "state"), "installing") != 0;
	}
	return done;
}

static int follow(const char *name, json_t *requested, long timeout_s)
{
	cleanup_free char *path = NULL;
	cleanup_client struct loam_client *c = NULL;
	cleanup_err loam_err err = NULL;
	if (loam_cli_host_path(name, NULL, &path, &err) < 0 || loam_client_open(&c, &err) < 0)
		return loam_cli_error(err);
	time_t deadline = time(NULL) + timeout_s;
	for (;;) {
		cleanup_json json_t *host = NULL;
		if (loam_client_call(c, "GET", path, NULL, &host, &err) < 0)
			return loam_cli_error(err);
		if (settle(requested, host))
			break;
		if (time(NULL) >= deadline) {
			fprintf(stderr,
				"loam: host %s is still installing after %ld s; follow it with: "
				"loam host show %s\n",
				name, timeout_s, name);
			return 1;
		}
		loam_cli_sleep_ms(WAIT_POLL_MS);
	}
	const json_t *e;
	size_t i;
	json_array_foreach(requested, i, e)
	{
		if (strcmp(loam_cli_str(e, "state"), "failed") == 0)
			return 1;
	}
	return 0;
}

struct upgrade_opts {
	bool json, wait;
	long timeout_s;
};

static int parse(int argc, char **argv, json_t *body, struct upgrade_opts *o)
{
	enum { O_COMP = 256, O_VER, O_JSON, O_WAIT, O_TIMEOUT };
	static const struct option opts[] = {{"component", required_argument, NULL, O_COMP},
					     {"version", required_argument, NULL, O_VER},
					     {"json", no_argument, NULL, O_JSON},
					     {"wait", no_argument, NULL, O_WAIT},
					     {"timeout", required_argument, NULL, O_TIMEOUT},
					     {NULL, 0, NULL, 0}};
	*o = (struct upgrade_opts){.timeout_s = DEFAULT_WAIT_S};
	optind = 0;
	for (int c; (c = getopt_long(argc, argv, "", opts, NULL)) != -1;) {
		char *end = NULL;
		if (c == O_COMP || c == O_VER)
			json_object_set_new(body, c == O_COMP ? "component" : "version",
					    json_string(optarg));
		else if (c == O_JSON)
			o->json = true;
		else if (c == O_WAIT)
			o->wait = true;
		else if (c == O_TIMEOUT && (o->timeout_s = strtol(optarg, &end, 10)) > 0 && !*end)
			continue;
		else
			return -1;
	}
	return argc - optind == 1 ? 0 : -1;
}

int loam_host_upgrade(int argc, char **argv)
{
	cleanup_json json_t *body = json_object();
	struct upgrade_opts o;
	if (parse(argc, argv, body, &o) < 0)
		return loam_cli_usage(usage);
	const char *name = argv[optind];
	cleanup_err loam_err err = NULL;
	cleanup_free char *path = NULL;
	cleanup_json json_t *doc = NULL;
	if (loam_cli_host_path(name, "upgrade", &path, &err) < 0 ||
	    loam_cli_call_once("POST", path, body, &doc, &err) < 0)
		return loam_cli_error(err);
	json_t *requested = json_object_get(doc, "requested");
	int rc = o.wait ? follow(name, requested, o.timeout_s) : 0;
	if (o.json)
		loam_cli_print_json(doc);
	else
		print_entries(name, requested);
	if (!o.wait && !o.json)
		printf("follow it with: loam host upgrade %s --wait, or loam host show %s\n", name,
		       name);
	return rc;
}
