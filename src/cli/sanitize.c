/*
 * Every string loamd sends is stripped of control characters before the
 * CLI prints it (issue 16): a VM's reason, an error's detail or a name set
 * by a hostile or broken server must not move the cursor, retitle the
 * terminal or hide a line. C0 controls (but newline and tab in text that
 * spans lines), DEL and the C1 controls (U+0080..U+009F, which some
 * terminals obey as CSI and OSC) are dropped. loam_client_call applies it
 * to every document it returns, keys included, so no verb can forget it.
 */
#include "cli/client.h"

#include <stdlib.h>
#include <string.h>

#include "lib/xalloc.h"

/* Bytes of a control character at s, or 0. */
static size_t control_at(const unsigned char *s, bool keep_lines)
{
	if (*s == 0x7f || (*s < 0x20 && !(keep_lines && (*s == '\n' || *s == '\t'))))
		return 1;
	if (s[0] == 0xc2 && s[1] >= 0x80 && s[1] <= 0x9f)
		return 2;
	return 0;
}

char *loam_cli_clean(const char *s, bool keep_lines)
{
	size_t n = strlen(s);
	char *out = xmalloc(n + 1), *o = out;
	const unsigned char *p = (const unsigned char *)s;
	while (*p) {
		size_t skip = control_at(p, keep_lines);
		if (skip) {
			p += skip;
			continue;
		}
		*o++ = (char)*p++;
	}
	*o = '\0';
	return out;
}

static bool dirty(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (control_at(p, true))
			return true;
	return false;
}

static void clean_object(json_t *obj)
{
	const char *key;
	json_t *v;
	void *tmp;
	json_t *renamed = NULL;
	json_object_foreach_safe(obj, tmp, key, v)
	{
		loam_cli_strip_controls(v);
		if (!dirty(key))
			continue;
		if (!renamed)
			renamed = json_object();
		char *clean = loam_cli_clean(key, false);
		json_object_set(renamed, clean, v);
		free(clean);
		json_object_del(obj, key);
	}
	if (renamed) {
		json_object_update(obj, renamed);
		json_decref(renamed);
	}
}

void loam_cli_strip_controls(json_t *doc)
{
	if (json_is_string(doc)) {
		const char *s = json_string_value(doc);
		if (strlen(s) != json_string_length(doc) || dirty(s)) {
			char *clean = loam_cli_clean(s, true);
			json_string_set(doc, clean);
			free(clean);
		}
	} else if (json_is_array(doc)) {
		size_t i;
		json_t *v;
		json_array_foreach(doc, i, v)
		{
			loam_cli_strip_controls(v);
		}
	} else if (json_is_object(doc)) {
		clean_object(doc);
	}
}
