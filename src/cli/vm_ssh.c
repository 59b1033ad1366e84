/*
 * `loam vm ssh NAME [-i KEY] [--jump-key KEY] [--project P] [-- COMMAND...]`:
 * logs in to a
 * VM as its user with OpenSSH, checking the guest's host key strictly
 * against the keys loam recorded from its console, and jumping through
 * the VM's host (its pinned key checked the same way) when that host is
 * reached over SSH. The exit status is the remote command's (255 when ssh
 * itself fails, as ssh does).
 */
#include "cli/verbs.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/ssh_session.h"
#include "lib/cleanup.h"
#include "lib/json.h"

static const char usage[] =
    "loam vm ssh NAME [-i KEY] [--jump-key KEY] [--project P] [-- COMMAND...]";

#define DEFAULT_USER "loam"
#define KEYS_MAX     16
#define SSH_FAILED   255

struct ssh_opts {
	const char *name, *identity, *jump_identity, *project;
	char **command;
	int ncommand;
};

/* Options go before or after the VM's name, as the usage says; everything
 * after "--" is the remote command's own, never parsed. */
static int parse(int argc, char **argv, struct ssh_opts *o)
{
	static const struct option opts[] = {{"identity", required_argument, NULL, 'i'},
					     {"jump-key", required_argument, NULL, 'J'},
					     {"project", required_argument, NULL, 'p'},
					     {NULL, 0, NULL, 0}};
	*o = (struct ssh_opts){0};
	int end = argc;
	for (int i = 1; i < argc && end == argc; i++)
		if (strcmp(argv[i], "--") == 0)
			end = i;
	optind = 0;
	int c;
	while ((c = getopt_long(end, argv, "i:", opts, NULL)) != -1) {
		if (c == 'i')
			o->identity = optarg;
		else if (c == 'J')
			o->jump_identity = optarg;
		else if (c == 'p')
			o->project = optarg;
		else
			return -1;
	}
	if (optind != end - 1) /* exactly one word that is no option: the name */
		return -1;
	o->name = argv[optind];
	o->command = argv + end + (end < argc);
	o->ncommand = argc - end - (end < argc);
	return 0;
}

/* The target from the VM's view (GET /v1/vms/NAME). */
static int target_of(const json_t *vm, const struct ssh_opts *o, const char **keys,
		     struct ssh_target *t, loam_err *err)
{
	const char *ipv4 = json_string_value(json_object_get(vm, "ipv4"));
	if (!ipv4)
		return loam_fail(err, LOAM_E_CONFLICT,
				 "VM %s has no address yet (it is %s); see: loam vm show %s",
				 o->name, loam_cli_str(vm, "state"), o->name);
	const char *user = json_string_value(json_object_get(vm, "login_user"));
	*t = (struct ssh_target){.vm = o->name,
				 .address = ipv4,
				 .user = user ? user : DEFAULT_USER,
				 .keys = keys,
				 .identity = o->identity,
				 .jump_identity = o->jump_identity};
	size_t i;
	const json_t *k;
	json_array_foreach(json_object_get(vm, "host_keys"), i, k)
	{
		const char *line = json_string_value(json_object_get(k, "key"));
		if (line && t->nkeys < KEYS_MAX)
			keys[t->nkeys++] = line;
	}
	const json_t *jump = json_object_get(vm, "ssh_jump");
	if (json_is_object(jump)) {
		t->jump_address = json_string_value(json_object_get(jump, "address"));
		t->jump_user = json_string_value(json_object_get(jump, "user"));
		t->jump_key = json_string_value(json_object_get(jump, "host_key"));
		t->jump_port = (long)json_integer_value(json_object_get(jump, "port"));
	}
	return 0;
}

int loam_vm_ssh(int argc, char **argv)
{
	struct ssh_opts o;
	if (parse(argc, argv, &o) < 0)
		return loam_cli_usage(usage);
	cleanup_err loam_err err = NULL;
	cleanup_free char *path = NULL;
	if (loam_cli_vm_path(o.name, o.project, NULL, &path, &err) < 0)
		return loam_cli_error(err);
	cleanup_json json_t *vm = NULL;
	const char *keys[KEYS_MAX];
	struct ssh_target t;
	int status = SSH_FAILED;
	if (loam_cli_call_once("GET", path, NULL, &vm, &err) < 0 ||
	    target_of(vm, &o, keys, &t, &err) < 0)
		return loam_cli_error(err);
	if (ssh_session_run(&t, o.command, o.ncommand, &status, &err) < 0) {
		int rc = loam_cli_error(err);
		return loam_err_kind_of(err) == LOAM_E_AUTH ? SSH_FAILED : rc;
	}
	return status;
}
