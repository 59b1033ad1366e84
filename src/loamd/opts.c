/*
 * loamd's command line: the flags and defaults of docs/design.md §4
 * (--state-dir, --db, --listen, --workers) plus logging, the directory of
 * the static agents, the artifact store, the heartbeat period and the
 * lease length.
 */
#include "loamd/loamd.h"

#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "db/db.h"
#include "lib/cleanup.h"
#include "lib/log.h"
#include "lib/paths.h"
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
    "  --heartbeat-s N       seconds between host heartbeats (default 30)\n";

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
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0},
};

static int take_opt(int c, struct loamd_opts *o, loam_err *err)
{
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
	(void)err;
	if (!o->state_dir)
		o->state_dir = loam_default_state_dir(0);
	if (!o->db_url)
		o->db_url = loam_db_default_url(o->state_dir);
	if (!o->listen)
		o->listen = xstrdup("127.0.0.1:7070");
	if (!o->dist_dir)
		o->dist_dir = default_build_dir("dist");
	if (!o->artifact_store) {
		o->artifact_store = default_build_dir("artifacts/store");
		o->artifact_store_defaulted = true;
	}
	return 0;
}

void loamd_free_opts(struct loamd_opts *o)
{
	free(o->state_dir);
	free(o->db_url);
	free(o->listen);
	free(o->dist_dir);
	free(o->artifact_store);
	*o = (struct loamd_opts){0};
}
