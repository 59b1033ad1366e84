/*
 * loamd's own pieces that are worth testing apart from main(): the options
 * with their documented defaults (docs/design.md §4), the rule that keeps
 * the token off the network in clear text, the API token file and the
 * watch on the database file.
 */
#ifndef LOAM_LOAMD_H
#define LOAM_LOAMD_H

#include <stdbool.h>

#include "db/db.h"
#include "lib/argv.h"
#include "lib/err.h"

struct loamd_opts {
	char *state_dir;
	char *db_url;
	char *listen;
	int workers;
	bool log_json;
	int log_level;
	char *dist_dir;
	char *artifact_store;
	bool artifact_store_defaulted; /* not given: a missing store is only a warning */
	int heartbeat_s;
	int lease_s;
	char *tls_cert, *tls_key; /* PEM files: the API over HTTPS */
	bool insecure_listen;	  /* plain HTTP on a non-loopback address, knowingly */
	char *artifact_listen;	  /* default: --listen's address, a free port */
	struct loam_argv host_state_roots, ssh_key_roots;
	double create_per_s;
	int create_burst;
	int per_ip_connections;
};

/* Exit status when the database file was deleted or replaced under loamd. */
#define LOAMD_EXIT_STORAGE 3

/* Parses argv; exits 0 on --help. Returns -1 with *err on bad usage. */
int loamd_parse_opts(int argc, char **argv, struct loamd_opts *o, loam_err *err);
/* Fills the defaults of options not given (state dir, DB URL, dist dir). */
int loamd_default_opts(struct loamd_opts *o, loam_err *err);
/* Refuses to serve the API in clear text on an address other than
 * loopback (the bearer token would cross the network unencrypted) unless
 * --tls-cert/--tls-key or --insecure-listen are given; says why. */
int loamd_check_listen(const struct loamd_opts *o, loam_err *err);
void loamd_free_opts(struct loamd_opts *o);

/* Reads DIR/token, or writes a new random one (32 bytes as 64 hex chars,
 * mode 0600, atomically) on first start. Refuses a token file that others
 * can read. *out is freed by the caller. */
int loamd_token_load_or_create(const char *state_dir, char **out, loam_err *err);
/* The same for another token file of the state dir: "metrics-token", the
 * token that reads /metrics only (a Prometheus server's). */
int loamd_token_file_load_or_create(const char *state_dir, const char *file, char **out,
				    loam_err *err);

/* Checks every interval_ms that the database file is still the one db
 * opened (loam_db_check_file); when it is not, calls lost(why) from the
 * watch thread (loamd exits there). Nothing to watch on PostgreSQL. */
struct loamd_dbwatch;
int loamd_dbwatch_start(struct loam_db *db, int interval_ms, void (*lost)(const char *why),
			struct loamd_dbwatch **out, loam_err *err);
void loamd_dbwatch_stop(struct loamd_dbwatch *w);

#endif
