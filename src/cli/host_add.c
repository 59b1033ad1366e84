/*
 * `loam host add ADDRESS ...` and `loam host add --local`: records the host
 * (loamd starts its cloudify prog) and, unless --no-wait, follows the prog
 * label by label until the host is accepting, or failed with its error.
 * --host-key pins the host's SSH key before first contact; without it the
 * output says that the key seen first is trusted (and, once accepting,
 * which key that was).
 */
#include "cli/verbs.h"

#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/cleanup.h"
#include "lib/json.h"

static const char usage[] =
    "loam host add ADDRESS [--ssh-port N] [--ssh-user U] [--ssh-key FILE] "
    "[--host-key 'TYPE BASE64'] [--location L] [--name N] [--state-dir D] [--no-wait] "
    "[--timeout S]\n"
    "       loam host add --local [--name N] [--location L] [--state-dir D] [--no-wait]";

struct add_opts {
	json_t *body;
	bool wait;
	bool local, pinned;
	long timeout_s;
};

enum {
	O_PORT = 256,
	O_USER,
	O_KEY,
	O_LOC,
	O_NAME,
	O_DIR,
	O_NOWAIT,
	O_LOCAL,
	O_TIMEOUT,
	O_HOST_KEY
};

static int set_key_path(json_t *body, const char *file)
{
	char real[PATH_MAX];
	if (!realpath(file, real)) {
		fprintf(stderr, "loam: ssh key %s: %m; give the path of a private key file\n",
			file);
		return -1;
	}
	json_object_set_new(body, "ssh_key", json_string(real));
	return 0;
}

static int parse_long(const char *s, long min, long max, long *out)
{
	char *end = NULL;
	long v = strtol(s, &end, 10);
	if (!*s || *end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static int take(int c, struct add_opts *o)
{
	long v = 0;
	switch (c) {
	case O_PORT:
		if (parse_long(optarg, 1, 65535, &v) < 0)
			return -1;
		json_object_set_new(o->body, "ssh_port", json_integer(v));
		return 0;
	case O_USER:
		json_object_set_new(o->body, "ssh_user", json_string(optarg));
		return 0;
	case O_KEY:
		return set_key_path(o->body, optarg);
	case O_LOC:
		json_object_set_new(o->body, "location", json_string(optarg));
		return 0;
	case O_NAME:
		json_object_set_new(o->body, "name", json_string(optarg));
		return 0;
	case O_DIR:
		json_object_set_new(o->body, "state_dir", json_string(optarg));
		return 0;
	case O_NOWAIT:
		o->wait = false;
		return 0;
	case O_LOCAL:
		o->local = true;
		json_object_set_new(o->body, "local", json_true());
		return 0;
	case O_TIMEOUT:
		return parse_long(optarg, 1, 86400, &o->timeout_s);
	case O_HOST_KEY:
		o->pinned = true;
		json_object_set_new(o->body, "host_key", json_string(optarg));
		return 0;
	}
	return -1;
}

static int parse(int argc, char **argv, struct add_opts *o)
{
	static const struct option opts[] = {{"ssh-port", required_argument, NULL, O_PORT},
					     {"ssh-user", required_argument, NULL, O_USER},
					     {"ssh-key", required_argument, NULL, O_KEY},
					     {"location", required_argument, NULL, O_LOC},
					     {"name", required_argument, NULL, O_NAME},
					     {"state-dir", required_argument, NULL, O_DIR},
					     {"no-wait", no_argument, NULL, O_NOWAIT},
					     {"local", no_argument, NULL, O_LOCAL},
					     {"timeout", required_argument, NULL, O_TIMEOUT},
					     {"host-key", required_argument, NULL, O_HOST_KEY},
					     {NULL, 0, NULL, 0}};
	optind = 0;
	int c;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1)
		if (take(c, o) < 0)
			return -1;
	int npos = argc - optind;
	if (o->local)
		return npos == 0 ? 0 : -1;
	if (npos != 1)
		return -1;
	json_object_set_new(o->body, "address", json_string(argv[optind]));
	return 0;
}

/* Errors recorded by the engine may end with the agent's newline. */
static void copy_trimmed(char *dst, size_t size, const char *src)
{
	snprintf(dst, size, "%s", src);
	size_t n = strlen(dst);
	while (n > 0 && (dst[n - 1] == '\n' || dst[n - 1] == ' '))
		dst[--n] = '\0';
}

static void print_accepted(const char *name, const json_t *h)
{
	printf("host %s accepting: %s, %lld cpus, %lld cores, %lld GiB, accel %s\n", name,
	       loam_cli_str(h, "arch"), (long long)json_integer_value(json_object_get(h, "cpus")),
	       (long long)json_integer_value(json_object_get(h, "cores")),
	       (long long)json_integer_value(json_object_get(h, "memory_gib")),
	       loam_cli_str(h, "accel"));
	if (*loam_cli_str(h, "host_key"))
		printf("host %s SSH host key pinned: %s\n", name, loam_cli_str(h, "host_key"));
}

/* Prints each new label and each new error; returns the exit status. */
static int follow(struct loam_client *c, const char *name, long timeout_s)
{
	cleanup_free char *path = NULL;
	cleanup_err loam_err path_err = NULL;
	if (loam_cli_host_path(name, NULL, &path, &path_err) < 0)
		return loam_cli_error(path_err);
	char last_label[128] = "", last_error[1024] = "";
	time_t deadline = time(NULL) + timeout_s;
	for (;;) {
		cleanup_err loam_err err = NULL;
		cleanup_json json_t *h = NULL;
		if (loam_client_call(c, "GET", path, NULL, &h, &err) < 0)
			return loam_cli_error(err);
		const char *state = loam_cli_str(h, "state"), *label = loam_cli_str(h, "label");
		char error[1024];
		copy_trimmed(error, sizeof(error), loam_cli_str(h, "last_error"));
		if (*label && strcmp(label, last_label) != 0) {
			printf("%s…\n", label);
			fflush(stdout);
			snprintf(last_label, sizeof(last_label), "%s", label);
		}
		if (strcmp(state, "accepting") == 0) {
			print_accepted(name, h);
			return 0;
		}
		if (strcmp(state, "failed") == 0) {
			fprintf(stderr, "loam: cloudify %s failed at %s: %s\n", name, label,
				*error ? error : "(no error recorded)");
			return 1;
		}
		if (*error && strcmp(error, last_error) != 0) {
			fprintf(stderr, "  %s: %s (retrying)\n", label, error);
			snprintf(last_error, sizeof(last_error), "%s", error);
		}
		if (time(NULL) >= deadline) {
			fprintf(stderr,
				"loam: host %s is still %s at %s; follow it with: loam host "
				"show %s\n",
				name, state, label, name);
			return 1;
		}
		loam_cli_sleep_ms(100);
	}
}

int loam_host_add(int argc, char **argv)
{
	cleanup_json json_t *body = json_object();
	struct add_opts o = {.body = body, .wait = true, .timeout_s = 900};
	if (parse(argc, argv, &o) < 0)
		return loam_cli_usage(usage);
	cleanup_err loam_err err = NULL;
	cleanup_client struct loam_client *c = NULL;
	cleanup_json json_t *host = NULL;
	if (loam_client_open(&c, &err) < 0 ||
	    loam_client_call(c, "POST", "/v1/hosts", body, &host, &err) < 0)
		return loam_cli_error(err);
	const char *name = loam_cli_str(host, "name");
	printf("host %s added; cloudifying\n", name);
	if (!o.local && !o.pinned)
		printf("host %s: no --host-key given: trusting on first use the SSH host key it "
		       "presents at first contact, and pinning it\n",
		       name);
	fflush(stdout);
	if (!o.wait)
		return 0;
	return follow(c, name, o.timeout_s);
}
