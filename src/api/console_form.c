/*
 * The console's form posts, application/x-www-form-urlencoded: split on
 * '&' and '=', '+' to space, then percent-decoding by libmicrohttpd's
 * MHD_http_unescape. A repeated field is refused rather than guessed at.
 */
#include "api/console_internal.h"

#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>

#include "lib/xalloc.h"

static char *decode(char *s)
{
	for (char *p = s; *p; p++)
		if (*p == '+')
			*p = ' ';
	size_t n = MHD_http_unescape(s);
	s[n] = '\0';
	return s;
}

int form_parse(const char *body, size_t len, struct form *f, loam_err *err)
{
	*f = (struct form){.buf = xstrndup(body ? body : "", body ? len : 0)};
	if (strlen(f->buf) != len && body)
		return loam_fail(err, LOAM_E_INVALID, "the form holds a NUL byte");
	char *save = NULL;
	for (char *pair = strtok_r(f->buf, "&", &save); pair; pair = strtok_r(NULL, "&", &save)) {
		char *eq = strchr(pair, '=');
		if (eq)
			*eq = '\0';
		const char *key = decode(pair), *value = eq ? decode(eq + 1) : "";
		if (form_get(f, key))
			return loam_fail(err, LOAM_E_INVALID, "form field '%.32s' given twice",
					 key);
		if (f->n == FORM_MAX_FIELDS)
			return loam_fail(err, LOAM_E_INVALID, "the form has over %d fields",
					 FORM_MAX_FIELDS);
		f->key[f->n] = key;
		f->value[f->n++] = value;
	}
	return 0;
}

void form_free(struct form *f)
{
	free(f->buf);
	*f = (struct form){0};
}

const char *form_get(const struct form *f, const char *key)
{
	for (size_t i = 0; i < f->n; i++)
		if (strcmp(f->key[i], key) == 0)
			return f->value[i];
	return NULL;
}
