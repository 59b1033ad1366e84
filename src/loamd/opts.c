/*
 * loamd's command line: the flags and defaults of docs/design.md §4
 * (--state-dir, --db, --listen, --workers) plus logging, the directory of
 * the static agents, the artifact store and its listener, the heartbeat
 * period, the lease length, TLS, the roots of paths clients may name, and
 * the limits that keep the API up under hostile clients.
 */
#include "loamd/loamd.h"

#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/api.h"
#include "db/db.h"
#include "lib/cleanup.h"
#include "lib/log.h"
#include "lib/paths.h"
#include "lib/valid.h"
#include "lib/xalloc.h"

static const char usage_text[] =
    "usage: loamd [OPTIONS]\n"
    "\n"
    "  --state-dir DIR       state dir (default $XDG_STATE_HOME/loam, /var/lib/loam as root)\n"
    "  --db URL              sqlite:PATH or postgres://... (default sqlite:DIR/loam.db)\n"
    "  --listen ADDR:PORT    API address (default 127.0.0.1:7070)\n"
    "  --workers N           engine dispatcher threads (default 4)\n"
    "  --lease-s N           seconds a worker's lease on a strand lasts (default 30; a\n"
    "                        killed loamd's strands resume elsewhere after this)\n"
    "  --log-json            log JSON lines\n"
    "  --log-level LEVEL     debug, info, warn or error (default info)\n"
    "  --dist-dir DIR        static agents loam-host-<arch> (default: ../dist next to loamd)\n"
    "  --artifact-store DIR  the artifact store served under /artifacts/\n"
    "  --heartbeat-s N       seconds between host heartbeats (default 30)\n"
    "  --tls-cert FILE       PEM certificate (chain): serve the API over HTTPS\n"
    "  --tls-key FILE        PEM private key of --tls-cert\n"
    "  --insecure-listen     allow plain HTTP on a non-loopback --listen (the token\n"
    "                        then crosses the network in clear text)\n"
    "  --artifact-listen ADDR:PORT  the artifact store's own listener, plain HTTP\n"
    "                        (default: --listen's address, a free port)\n"
    "  --host-state-root DIR a host's state_dir must be under one of these (repeat;\n"
    "                        default /var/lib/loam and the state dir)\n"
    "  --ssh-key-root DIR    a host's ssh_key must be under one of these (repeat;\n"
    "                        default $HOME/.ssh and STATE_DIR/ssh)\n"
    "  --create-rate N       VM and host creates per second per token (default 2)\n"
    "  --create-burst N      creates a token may make at once (default 20)\n"
    "  --max-conns-per-ip N  API connections from one address (default 32)\n";

static int parse_int(const char *flag, const char *s, int min, int max, int *out, loam_err *err)
{
	char *end = NULL;
	long v = strtol(s, &end, 10);
	if (!*s || *end || v < min || v > max)
		return loam_fail(err, LOAM_E_INVALID, "%s must be a number from %d to %d", flag,
				 min, max);
	*out = (int)v;
	return 0;
}

enum {
	OPT_STATE = 256,
	OPT_DB,
	OPT_LISTEN,
	OPT_WORKERS,
	OPT_LOGJSON,
	OPT_LOGLEVEL,
	OPT_DIST,
	OPT_ART,
	OPT_HB,
	OPT_LEASE,
	OPT_TLS_CERT,
	OPT_TLS_KEY,
	OPT_INSECURE,
	OPT_ART_LISTEN,
	OPT_STATE_ROOT,
	OPT_KEY_ROOT,
	OPT_RATE,
	OPT_BURST,
	OPT_PER_IP,
	OPT_HELP
};

static const struct option long_opts[] = {
    {"state-dir", required_argument, NULL, OPT_STATE},
    {"db", required_argument, NULL, OPT_DB},
    {"listen", required_argument, NULL, OPT_LISTEN},
    {"workers", required_argument, NULL, OPT_WORKERS},
    {"log-json", no_argument, NULL, OPT_LOGJSON},
    {"log-level", required_argument, NULL, OPT_LOGLEVEL},
    {"dist-dir", required_argument, NULL, OPT_DIST},
    {"artifact-store", required_argument, NULL, OPT_ART},
    {"heartbeat-s", required_argument, NULL, OPT_HB},
    {"lease-s", required_argument, NULL, OPT_LEASE},
    {"tls-cert", required_argument, NULL, OPT_TLS_CERT},
    {"tls-key", required_argument, NULL, OPT_TLS_KEY},
    {"insecure-listen", no_argument, NULL, OPT_INSECURE},
    {"artifact-listen", required_argument, NULL, OPT_ART_LISTEN},
    {"host-state-root", required_argument, NULL, OPT_STATE_ROOT},
    {"ssh-key-root", required_argument, NULL, OPT_KEY_ROOT},
    {"create-rate", required_argument, NULL, OPT_RATE},
    {"create-burst", required_argument, NULL, OPT_BURST},
    {"max-conns-per-ip", required_argument, NULL, OPT_PER_IP},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0},
};

static void set_str(char **field, const char *value)
{
	free(*field);
	*field = xstrdup(value);
}

static int parse_rate(const char *s, double *out, loam_err *err)
{
	char *end = NULL;
	double v = strtod(s, &end);
	if (!*s || *end || !(v >= 0.01 && v <= 10000))
		return loam_fail(err, LOAM_E_INVALID,
				 "--create-rate must be a number from 0.01 to 10000 (per second)");
	*out = v;
	return 0;
}

/* A root of paths clients may name: absolute, of safe characters. */
static int add_root(const char *flag, const char *dir, struct loam_argv *roots, loam_err *err)
{
	if (loam_valid_abs_path(flag, dir, err) < 0)
		return -1;
	loam_argv_add(roots, dir);
	return 0;
}

/* The options of issue 16: TLS, listeners, roots and limits. */
static int take_guard_opt(int c, struct loamd_opts *o, loam_err *err)
{
	switch (c) {
	case OPT_TLS_CERT:
		set_str(&o->tls_cert, optarg);
		return 0;
	case OPT_TLS_KEY:
		set_str(&o->tls_key, optarg);
		return 0;
	case OPT_INSECURE:
		o->insecure_listen = true;
		return 0;
	case OPT_ART_LISTEN:
		set_str(&o->artifact_listen, optarg);
		return 0;
	case OPT_STATE_ROOT:
		return add_root("--host-state-root", optarg, &o->host_state_roots, err);
	case OPT_KEY_ROOT:
		return add_root("--ssh-key-root", optarg, &o->ssh_key_roots, err);
	case OPT_RATE:
		return parse_rate(optarg, &o->create_per_s, err);
	case OPT_BURST:
		return parse_int("--create-burst", optarg, 1, 100000, &o->create_burst, err);
	case OPT_PER_IP:
		return parse_int("--max-conns-per-ip", optarg, 1, 1000, &o->per_ip_connections,
				 err);
	}
	return loam_fail(err, LOAM_E_INVALID, "unknown option; see loamd --help");
}

static int take_opt(int c, struct loamd_opts *o, loam_err *err)
{
	if (c >= OPT_TLS_CERT && c < OPT_HELP)
		return take_guard_opt(c, o, err);
	switch (c) {
	case OPT_STATE:
		free(o->state_dir);
		o->state_dir = xstrdup(optarg);
		return 0;
	case OPT_DB:
		free(o->db_url);
		o->db_url = xstrdup(optarg);
		return 0;
	case OPT_LISTEN:
		free(o->listen);
		o->listen = xstrdup(optarg);
		return 0;
	case OPT_WORKERS:
		return parse_int("--workers", optarg, 1, 64, &o->workers, err);
	case OPT_LOGJSON:
		o->log_json = true;
		return 0;
	case OPT_LOGLEVEL:
		o->log_level = loam_log_level_parse(optarg);
		return o->log_level < 0
			   ? loam_fail(err, LOAM_E_INVALID,
				       "--log-level must be debug, info, warn or error")
			   : 0;
	case OPT_DIST:
		free(o->dist_dir);
		o->dist_dir = xstrdup(optarg);
		return 0;
	case OPT_ART:
		free(o->artifact_store);
		o->artifact_store = xstrdup(optarg);
		return 0;
	case OPT_HB:
		return parse_int("--heartbeat-s", optarg, 1, 86400, &o->heartbeat_s, err);
	case OPT_LEASE:
		return parse_int("--lease-s", optarg, 5, 3600, &o->lease_s, err);
	case OPT_HELP:
		fputs(usage_text, stdout);
		exit(0);
	}
	return loam_fail(err, LOAM_E_INVALID, "unknown option; see loamd --help");
}

int loamd_parse_opts(int argc, char **argv, struct loamd_opts *o, loam_err *err)
{
	*o = (struct loamd_opts){
	    .workers = 4, .log_level = LOAM_LOG_INFO, .heartbeat_s = 30, .lease_s = 30};
	optind = 1;
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, "", long_opts, NULL)) != -1) {
		if (c == '?')
			return loam_fail(err, LOAM_E_INVALID,
					 "unknown or incomplete option '%.64s'; "
					 "see loamd --help",
					 argv[optind - 1]);
		if (take_opt(c, o, err) < 0)
			return -1;
	}
	if (optind < argc)
		return loam_fail(err, LOAM_E_INVALID,
				 "unexpected argument '%.64s'; see loamd --help", argv[optind]);
	return 0;
}

/* build/bin/loamd → build/<rel>; else the source tree's build/<rel>. */
static char *default_build_dir(const char *rel)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char *p = NULL;
	if (n > 0) {
		exe[n] = '\0';
		p = xasprintf("%s/../%s", dirname(exe), rel);
		char real[PATH_MAX];
		if (realpath(p, real)) {
			free(p);
			return xstrdup(real);
		}
		free(p);
	}
	const char *src = getenv("LOAM_SOURCE_DIR");
	return xasprintf("%s/build/%s", src && *src ? src : LOAM_SOURCE_DIR, rel);
}

int loamd_default_opts(struct loamd_opts *o, loam_err *err)
{
	if (!o->state_dir)
		o->state_dir = loam_default_state_dir(0);
	if (!o->db_url)
		o->db_url = loam_db_default_url(o->state_dir);
	if (!o->listen)
		o->listen = xstrdup("127.0.0.1:7070");
	if (!o->artifact_listen) {
		char addr[128];
		uint16_t port = 0;
		if (loam_api_parse_listen(o->listen, addr, sizeof(addr), &port, err) < 0)
			return -1;
		bool v6 = strchr(addr, ':') != NULL;
		o->artifact_listen = xasprintf("%s%s%s:0", v6 ? "[" : "", addr, v6 ? "]" : "");
	}
	if (!o->dist_dir)
		o->dist_dir = default_build_dir("dist");
	if (!o->artifact_store) {
		o->artifact_store = default_build_dir("artifacts/store");
		o->artifact_store_defaulted = true;
	}
	return 0;
}

int loamd_check_listen(const struct loamd_opts *o, loam_err *err)
{
	char addr[128];
	uint16_t port = 0;
	if (loam_api_parse_listen(o->listen, addr, sizeof(addr), &port, err) < 0)
		return -1;
	if (!o->tls_cert != !o->tls_key)
		return loam_fail(err, LOAM_E_INVALID,
				 "--tls-cert and --tls-key go together: give both for HTTPS");
	if (o->tls_cert || o->insecure_listen || loam_api_addr_is_loopback(addr))
		return 0;
	return loam_fail(err, LOAM_E_INVALID,
			 "refusing to serve the API in clear text on %s: the bearer token would "
			 "cross the network unencrypted. Give --tls-cert FILE --tls-key FILE for "
			 "HTTPS, listen on a loopback address, or pass --insecure-listen to "
			 "accept the risk",
			 o->listen);
}

void loamd_free_opts(struct loamd_opts *o)
{
	free(o->state_dir);
	free(o->db_url);
	free(o->listen);
	free(o->dist_dir);
	free(o->artifact_store);
	free(o->tls_cert);
	free(o->tls_key);
	free(o->artifact_listen);
	loam_argv_free(&o->host_state_roots);
	loam_argv_free(&o->ssh_key_roots);
	*o = (struct loamd_opts){0};
}
