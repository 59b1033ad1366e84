/*
 * Thin helpers over jansson: parse and typed lookups that fail with a
 * loam_err naming the field, and a cleanup attribute for json_t.
 */
#ifndef LOAM_JSON_H
#define LOAM_JSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "lib/err.h"

static inline void loam_json_decrefp(json_t **j)
{
	json_decref(*j);
}
#define cleanup_json __attribute__((cleanup(loam_json_decrefp)))

/* Parses a whole buffer; the error names `what` and jansson's position. */
json_t *loam_json_parse(const char *buf, size_t len, const char *what, loam_err *err);
/* Compact, key order kept; the caller frees. Aborts on allocation failure. */
char *loam_json_dump(const json_t *j);
/* Pretty (indent 2) for humans. */
char *loam_json_dump_pretty(const json_t *j);

/* Required fields: fail with "<what>: field 'key' ..." when absent or wrong. */
int loam_json_get_str(const json_t *obj, const char *key, const char **out, loam_err *err);
int loam_json_get_int(const json_t *obj, const char *key, int64_t *out, loam_err *err);
int loam_json_get_bool(const json_t *obj, const char *key, bool *out, loam_err *err);
/* Optional fields: leave *out untouched when absent, fail when wrong type. */
int loam_json_opt_str(const json_t *obj, const char *key, const char **out, loam_err *err);
int loam_json_opt_int(const json_t *obj, const char *key, int64_t *out, loam_err *err);
int loam_json_opt_bool(const json_t *obj, const char *key, bool *out, loam_err *err);

#endif
