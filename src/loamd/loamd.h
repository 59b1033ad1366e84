/*
 * loamd's own pieces that are worth testing apart from main(): the options
 * with their documented defaults (docs/design.md §4) and the API token file.
 */
#ifndef LOAM_LOAMD_H
#define LOAM_LOAMD_H

#include <stdbool.h>

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
};

/* Parses argv; exits 0 on --help. Returns -1 with *err on bad usage. */
int loamd_parse_opts(int argc, char **argv, struct loamd_opts *o, loam_err *err);
/* Fills the defaults of options not given (state dir, DB URL, dist dir). */
int loamd_default_opts(struct loamd_opts *o, loam_err *err);
void loamd_free_opts(struct loamd_opts *o);

/* Reads DIR/token, or writes a new random one (32 bytes as 64 hex chars,
 * mode 0600, atomically) on first start. Refuses a token file that others
 * can read. *out is freed by the caller. */
int loamd_token_load_or_create(const char *state_dir, char **out, loam_err *err);
/* The same for another token file of the state dir: "metrics-token", the
 * token that reads /metrics only (a Prometheus server's). */
int loamd_token_file_load_or_create(const char *state_dir, const char *file, char **out,
				    loam_err *err);

#endif
