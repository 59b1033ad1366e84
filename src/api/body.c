/*
 * Request bodies: a body is a JSON object with known fields only, so that
 * a typo ("locaton") is refused instead of silently ignored, and every
 * string field is length- and charset-checked before a handler reads it.
 */
#include "api/internal.h"

#include <string.h>

#include "lib/valid.h"

static bool allowed_key(const char *key, const char *const *allowed)
{
	for (; *allowed; allowed++)
		if (strcmp(key, *allowed) == 0)
			return true;
	return false;
}

static void list_allowed(const char *const *allowed, char *buf, size_t size)
{
	buf[0] = '\0';
	for (; *allowed; allowed++) {
		if (buf[0])
			strncat(buf, ", ", size - strlen(buf) - 1);
		strncat(buf, *allowed, size - strlen(buf) - 1);
	}
}

int api_body_check(struct api_req *r, const char *const *allowed, bool allow_empty, loam_err *err)
{
	if (!r->body) {
		if (allow_empty)
			return 0;
		return loam_fail(err, LOAM_E_INVALID, "this request needs a JSON object body");
	}
	const char *key;
	json_t *v;
	json_object_foreach(r->body, key, v)
	{
		if (allowed_key(key, allowed))
			continue;
		char list[512];
		list_allowed(allowed, list, sizeof(list));
		return loam_fail(err, LOAM_E_INVALID, "unknown field '%.64s'; allowed: %s",
				 loam_has_unsafe_chars(key) ? "?" : key, list);
	}
	return 0;
}

static bool has_control_chars(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

int api_body_str(struct api_req *r, const char *key, size_t max, const char **out, loam_err *err)
{
	json_t *v = r->body ? json_object_get(r->body, key) : NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return loam_fail(err, LOAM_E_INVALID, "field '%s' must be a string", key);
	const char *s = json_string_value(v);
	if (strlen(s) != json_string_length(v) || has_control_chars(s))
		return loam_fail(err, LOAM_E_INVALID, "field '%s' contains control characters",
				 key);
	if (strlen(s) > max)
		return loam_fail(err, LOAM_E_INVALID, "field '%s' is over %zu characters", key,
				 max);
	*out = s;
	return 0;
}
