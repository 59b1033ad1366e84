/*
 * `loam vm create NAME --arch A --size S [--location L] [--image I]
 * [--ssh-key FILE]... [--user U] [--open-port 80/tcp]...`: records the VM
 * (its login: the user, default loam, and the public keys of the files,
 * by default the user's own ~/.ssh key, ssh_keys.c; and the inbound ports
 * to open besides SSH); its "vm" strand then places it on a host of that
 * arch and boots it (the API refuses unknown arches, sizes and images,
 * naming the valid ones). It returns at once (progress: loam vm show
 * NAME) unless --wait, which follows the VM state by state until it runs, fails or --timeout
 * passes. Waiting is opt-in because a VM may queue for capacity for long.
 */
#include "cli/verbs.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/cleanup.h"
#include "lib/json.h"
#include "lib/xalloc.h"

static const char usage[] =
    "loam vm create NAME --arch A --size S [--location L] [--image I] [--boot firmware|kernel] "
    "[--ssh-key FILE]... [--user NAME] [--open-port PORT[/tcp|/udp]]... [--project P] [--json] "
    "[--wait [--timeout S]]";

#define WAIT_POLL_MS   100
#define DEFAULT_WAIT_S 900

struct create_opts {
	const char *arch, *size, *location, *image, *boot, *project, *user;
	bool json, wait;
	long timeout_s;
	json_t *open_ports;			       /* strings, as given */
	const char *key_files[LOAM_CLI_MAX_KEY_FILES]; /* --ssh-key paths */
	size_t nkey_files;
};

/* Prints each new state (with its reason) until the VM runs or fails;
 * *vm is the last view of it. Returns the exit status. */
static int follow(struct loam_client *c, const char *name, const char *project, long timeout_s,
		  json_t **vm)
{
	char path[256], last[1200] = "";
	snprintf(path, sizeof(path), "/v1/vms/%s%s%s", name, *project ? "?project=" : "", project);
	time_t deadline = time(NULL) + timeout_s;
	for (;;) {
		cleanup_err loam_err err = NULL;
		json_decref(*vm);
		*vm = NULL;
		if (loam_client_call(c, "GET", path, NULL, vm, &err) < 0)
			return loam_cli_error(err);
		const char *state = loam_cli_str(*vm, "state"),
			   *reason = loam_cli_str(*vm, "state_reason");
		char now[1200];
		snprintf(now, sizeof(now), "%s%s%s", state, *reason ? ": " : "", reason);
		if (strcmp(now, last) != 0 && strcmp(state, "failed") != 0) {
			fprintf(stderr, "vm %s: %s\n", name, now);
			snprintf(last, sizeof(last), "%s", now);
		}
		if (strcmp(state, "running") == 0)
			return 0;
		if (strcmp(state, "failed") == 0) {
			fprintf(stderr, "loam: vm %s failed: %s\n", name,
				*reason ? reason : "(no reason)");
			return 1;
		}
		if (time(NULL) >= deadline) {
			fprintf(stderr,
				"loam: vm %s is still %s after %ld s; follow it with: loam vm show "
				"%s\n",
				name, state, timeout_s, name);
			return 1;
		}
		loam_cli_sleep_ms(WAIT_POLL_MS);
	}
}

static int parse(int argc, char **argv, struct create_opts *o)
{
	enum { O_WAIT = 256, O_TIMEOUT, O_PROJECT, O_PORT, O_KEY, O_USER };
	static const struct option opts[] = {{"arch", required_argument, NULL, 'a'},
					     {"size", required_argument, NULL, 's'},
					     {"location", required_argument, NULL, 'l'},
					     {"image", required_argument, NULL, 'i'},
					     {"json", no_argument, NULL, 'j'},
					     {"boot", required_argument, NULL, 'b'},
					     {"wait", no_argument, NULL, O_WAIT},
					     {"timeout", required_argument, NULL, O_TIMEOUT},
					     {"project", required_argument, NULL, O_PROJECT},
					     {"open-port", required_argument, NULL, O_PORT},
					     {"ssh-key", required_argument, NULL, O_KEY},
					     {"user", required_argument, NULL, O_USER},
					     {NULL, 0, NULL, 0}};
	*o = (struct create_opts){.timeout_s = DEFAULT_WAIT_S, .open_ports = json_array()};
	bool timeout_given = false;
	optind = 0;
	int c;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		char *end = NULL;
		switch (c) {
		case 'a':
			o->arch = optarg;
			break;
		case 's':
			o->size = optarg;
			break;
		case 'l':
			o->location = optarg;
			break;
		case 'i':
			o->image = optarg;
			break;
		case 'j':
			o->json = true;
			break;
		case 'b':
			o->boot = optarg;
			break;
		case O_WAIT:
			o->wait = true;
			break;
		case O_PROJECT:
			o->project = optarg;
			break;
		case O_PORT:
			json_array_append_new(o->open_ports, json_string(optarg));
			break;
		case O_KEY:
			if (o->nkey_files == LOAM_CLI_MAX_KEY_FILES)
				return -1;
			o->key_files[o->nkey_files++] = optarg;
			break;
		case O_USER:
			o->user = optarg;
			break;
		case O_TIMEOUT:
			o->timeout_s = strtol(optarg, &end, 10);
			if (*end || o->timeout_s < 1 || o->timeout_s > 86400)
				return -1;
			timeout_given = true;
			break;
		default:
			return -1;
		}
	}
	return argc - optind == 1 && o->arch && o->size && (o->wait || !timeout_given) ? 0 : -1;
}

/* The request but its open ports; it takes keys. */
static json_t *request_body(const char *name, const struct create_opts *o, json_t *keys)
{
	json_t *body = json_pack("{s:s, s:s, s:s}", "name", name, "arch", o->arch, "size", o->size);
	if (o->location)
		json_object_set_new(body, "location", json_string(o->location));
	if (o->boot)
		json_object_set_new(body, "boot", json_string(o->boot));
	if (o->image)
		json_object_set_new(body, "image", json_string(o->image));
	if (o->project)
		json_object_set_new(body, "project", json_string(o->project));
	if (o->user)
		json_object_set_new(body, "login_user", json_string(o->user));
	json_object_set_new(body, "ssh_keys", keys);
	return body;
}

static void print_created(const char *name, const json_t *vm, bool wait)
{
	printf("vm %s: %s (%s %s: %lld vCPUs, %lld GiB)", name, loam_cli_str(vm, "state"),
	       loam_cli_str(vm, "arch"), loam_cli_str(vm, "size"),
	       (long long)json_integer_value(json_object_get(vm, "vcpus")),
	       (long long)json_integer_value(json_object_get(vm, "memory_gib")));
	if (wait)
		printf(" on host %s; guest reports %s\n", loam_cli_str(vm, "host"),
		       loam_cli_str(vm, "guest_machine"));
	else
		printf("; follow it with: loam vm show %s\n", name);
}

int loam_vm_create(int argc, char **argv)
{
	struct create_opts o;
	int parsed = parse(argc, argv, &o);
	cleanup_json json_t *open_ports = o.open_ports, *keys = NULL;
	if (parsed < 0)
		return loam_cli_usage(usage);
	const char *name = argv[optind];
	cleanup_err loam_err err = NULL;
	if (loam_cli_check_name("VM name", name, &err) < 0 ||
	    loam_cli_ssh_keys(o.key_files, o.nkey_files, &keys, &err) < 0)
		return loam_cli_error(err);
	cleanup_json json_t *body = request_body(name, &o, loam_steal(&keys));
	if (json_array_size(open_ports))
		json_object_set(body, "open_ports", open_ports);
	cleanup_client struct loam_client *c = NULL;
	cleanup_json json_t *vm = NULL;
	if (loam_client_open(&c, &err) < 0 ||
	    loam_client_call(c, "POST", "/v1/vms", body, &vm, &err) < 0)
		return loam_cli_error(err);
	cleanup_free char *project = xstrdup(loam_cli_str(vm, "project"));
	int rc = o.wait ? follow(c, name, project, o.timeout_s, &vm) : 0;
	if (o.json && vm)
		loam_cli_print_json(vm);
	else if (rc == 0)
		print_created(name, vm, o.wait);
	return rc;
}
