/*
 * The CLI's side of the API: a small HTTP/JSON client over libcurl that
 * finds loamd ($LOAM_URL, the profile's url), its token ($LOAM_TOKEN, the
 * profile's token, or the state dir's token file) and the CA to check
 * HTTPS with ($LOAM_CACERT or `loam --cacert`, the profile's cacert, or
 * the system store); turns API errors back into loam_err with their kind,
 * and says what to do when loamd is down, its certificate untrusted or the
 * token wrong. Every string it returns is stripped of control characters
 * (sanitize.c). Also the helpers every verb shares: printing JSON or an
 * aligned table, and reporting an error.
 */
#ifndef LOAM_CLI_CLIENT_H
#define LOAM_CLI_CLIENT_H

#include <jansson.h>
#include <stdbool.h>

#include "lib/err.h"

struct loam_client;

int loam_client_open(struct loam_client **out, loam_err *err);
void loam_client_close(struct loam_client *c);
static inline void loam_client_closep(struct loam_client **c)
{
	loam_client_close(*c);
}
#define cleanup_client __attribute__((cleanup(loam_client_closep)))

/* method "GET"/"POST"/...; body NULL or an object; *out gets the parsed
 * response document on 2xx. */
int loam_client_call(struct loam_client *c, const char *method, const char *path,
		     const json_t *body, json_t **out, loam_err *err);
/* GET of a listing, following its pages (the Link rel="next" headers) to
 * the end: *out is one array of every item. */
int loam_client_get_all(struct loam_client *c, const char *path, json_t **out, loam_err *err);

/* sanitize.c: s without control characters (keep_lines keeps newline and
 * tab); the caller frees. */
char *loam_cli_clean(const char *s, bool keep_lines);
/* The same on every string (and key) of doc, in place. */
void loam_cli_strip_controls(json_t *doc);

/* Prints "loam: <msg>" on stderr and returns the exit status. */
int loam_cli_error(const loam_err err);
/* Prints a usage line for a verb and returns 2. */
int loam_cli_usage(const char *usage);
/* Pretty JSON on stdout, with times as ISO 8601 (loam_cli_iso_times). */
void loam_cli_print_json(const json_t *doc);
/* True for a key that holds a time (unix ms in the API): "created_at". */
bool loam_cli_is_time_key(const char *key);
/* Replaces, at any depth, every time key's integer by its ISO 8601 text in
 * UTC ("2026-12-02T10:15:03.123Z"). */
void loam_cli_iso_times(json_t *doc);

/* One table column: header and the key in each row object. */
struct loam_col {
	const char *header;
	const char *key;
};
/* Prints rows (an array of objects) as an aligned table. */
void loam_cli_print_table(const json_t *rows, const struct loam_col *cols, size_t ncols);
/* A JSON value as display text: "-" for null, arrays joined by ','. */
void loam_cli_value_text(const json_t *v, char *buf, size_t size);
/* Prints an object as "key: value" lines. */
void loam_cli_print_fields(const json_t *obj);

#endif
