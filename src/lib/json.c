/*
 * jansson helpers. Every lookup error is LOAM_E_INVALID because JSON reaches
 * us from users, the API and agents, and a malformed document is their fault.
 */
#include "lib/json.h"

#include "lib/xalloc.h"

json_t *loam_json_parse(const char *buf, size_t len, const char *what, loam_err *err)
{
	json_error_t je;
	json_t *j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
	if (!j)
		loam_fail(err, LOAM_E_INVALID, "%s: invalid JSON at line %d column %d: %s", what,
			  je.line, je.column, je.text);
	return j;
}

static char *dump(const json_t *j, size_t flags)
{
	return xalloc_check(json_dumps(j, flags | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY));
}

char *loam_json_dump(const json_t *j)
{
	return dump(j, JSON_COMPACT);
}

char *loam_json_dump_pretty(const json_t *j)
{
	return dump(j, JSON_INDENT(2));
}

static int wrong(const char *key, const char *type, loam_err *err)
{
	return loam_fail(err, LOAM_E_INVALID, "field '%s' must be %s", key, type);
}

static json_t *lookup(const json_t *obj, const char *key)
{
	return json_is_object(obj) ? json_object_get(obj, key) : NULL;
}

int loam_json_opt_str(const json_t *obj, const char *key, const char **out, loam_err *err)
{
	json_t *v = lookup(obj, key);
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return wrong(key, "a string", err);
	*out = json_string_value(v);
	return 0;
}

int loam_json_opt_int(const json_t *obj, const char *key, int64_t *out, loam_err *err)
{
	json_t *v = lookup(obj, key);
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_integer(v))
		return wrong(key, "an integer", err);
	*out = json_integer_value(v);
	return 0;
}

int loam_json_opt_bool(const json_t *obj, const char *key, bool *out, loam_err *err)
{
	json_t *v = lookup(obj, key);
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_boolean(v))
		return wrong(key, "true or false", err);
	*out = json_is_true(v);
	return 0;
}

/* A required field given as null is missing: the caller gets no NULL. */
static bool present(const json_t *obj, const char *key)
{
	const json_t *v = lookup(obj, key);
	return v && !json_is_null(v);
}

static int missing(const char *key, loam_err *err)
{
	return loam_fail(err, LOAM_E_INVALID, "field '%s' is required", key);
}

int loam_json_get_str(const json_t *obj, const char *key, const char **out, loam_err *err)
{
	if (!present(obj, key))
		return missing(key, err);
	return loam_json_opt_str(obj, key, out, err);
}

int loam_json_get_int(const json_t *obj, const char *key, int64_t *out, loam_err *err)
{
	if (!present(obj, key))
		return missing(key, err);
	return loam_json_opt_int(obj, key, out, err);
}

int loam_json_get_bool(const json_t *obj, const char *key, bool *out, loam_err *err)
{
	if (!present(obj, key))
		return missing(key, err);
	return loam_json_opt_bool(obj, key, out, err);
}
