/*
 * The query string of an API request (?limit=&after=&project=), decoded
 * and checked before any handler runs, and the pages of listings: keyset
 * pages (after the last item's key), with the next page named in a Link
 * header (rel="next") so that the answer itself stays a JSON array.
 */
#include "api/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/http_common.h"
#include "lib/cleanup.h"
#include "lib/valid.h"
#include "lib/xalloc.h"

#define AFTER_MAX 512

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes %XX in place; a malformed escape or a NUL fails. */
static int percent_decode(char *s, loam_err *err)
{
	char *o = s;
	for (const char *p = s; *p; p++) {
		if (*p != '%') {
			*o++ = *p;
			continue;
		}
		int hi = hex_value(p[1]), lo = hi < 0 ? -1 : hex_value(p[2]);
		if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
			return loam_fail(err, LOAM_E_INVALID, "malformed %%-escape in the query");
		*o++ = (char)(hi * 16 + lo);
		p += 2;
	}
	*o = '\0';
	return 0;
}

/* Sort keys of listings: names, ids, "NAME:PROJECT", artifact paths. */
static bool after_ok(const char *s)
{
	size_t n = strlen(s);
	return n > 0 && n <= AFTER_MAX &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.+~:_/-") ==
		   n;
}

static int take_param(char *key, char *value, struct api_query *q, loam_err *err)
{
	if (percent_decode(key, err) < 0 || percent_decode(value, err) < 0)
		return -1;
	if (strcmp(key, "limit") == 0) {
		char *end = NULL;
		long v = strtol(value, &end, 10);
		if (!*value || *end || v < 1 || v > API_PAGE_MAX)
			return loam_fail(err, LOAM_E_INVALID, "limit must be a number from 1 to %d",
					 API_PAGE_MAX);
		q->page.limit = (size_t)v;
		return 0;
	}
	if (strcmp(key, "after") == 0) {
		if (!after_ok(value))
			return loam_fail(err, LOAM_E_INVALID,
					 "after must be the key a listing's Link header gave");
		q->page.after = value;
		return 0;
	}
	if (strcmp(key, "project") == 0) {
		q->project = value;
		return loam_valid_name("project", value, err);
	}
	return loam_fail(err, LOAM_E_INVALID,
			 "unknown query parameter '%.32s'; known: limit, after, project",
			 loam_has_unsafe_chars(key) ? "?" : key);
}

int api_query_parse(const char *query, char *buf, size_t size, struct api_query *q, loam_err *err)
{
	*q = (struct api_query){.page = {.limit = API_PAGE_DEFAULT}};
	size_t n = strlen(query);
	if (n >= size)
		return loam_fail(err, LOAM_E_INVALID, "query string too long");
	memcpy(buf, query, n + 1);
	char *save = NULL;
	for (char *kv = strtok_r(buf, "&", &save); kv; kv = strtok_r(NULL, "&", &save)) {
		char *eq = strchr(kv, '=');
		if (!eq)
			return loam_fail(err, LOAM_E_INVALID,
					 "query parameters are KEY=VALUE joined by '&'");
		*eq = '\0';
		if (take_param(kv, eq + 1, q, err) < 0)
			return -1;
	}
	return 0;
}

size_t api_page_shown(const struct api_req *r, size_t got)
{
	return got < r->q.page.limit ? got : r->q.page.limit;
}

void api_page_link(struct api_req *r, const char *last_key)
{
	char *o = r->next;
	size_t size = sizeof(r->next);
	snprintf(o, size, "<%s?limit=%zu&after=", r->path, r->q.page.limit);
	http_percent_encode(o, size - 32, last_key);
	if (r->q.project) {
		strncat(o, "&project=", size - strlen(o) - 1);
		strncat(o, r->q.project, size - strlen(o) - 1);
	}
	strncat(o, ">; rel=\"next\"", size - strlen(o) - 1);
}

struct keyed {
	char *key;
	json_t *item;
};

static int by_key(const void *a, const void *b)
{
	return strcmp(((const struct keyed *)a)->key, ((const struct keyed *)b)->key);
}

void api_page_array(struct api_req *r, json_t *list, char *(*key_of)(const json_t *item))
{
	size_t n = json_array_size(list);
	struct keyed *v = xcalloc(n ? n : 1, sizeof(*v));
	for (size_t i = 0; i < n; i++) {
		v[i].item = json_incref(json_array_get(list, i));
		v[i].key = key_of(v[i].item);
	}
	qsort(v, n, sizeof(*v), by_key);
	json_array_clear(list);
	const char *after = loam_db_page_after(&r->q.page);
	size_t got = 0, last = 0;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(v[i].key, after) > 0 && got++ < r->q.page.limit) {
			json_array_append(list, v[i].item);
			last = i;
		}
	}
	if (got > r->q.page.limit)
		api_page_link(r, v[last].key);
	for (size_t i = 0; i < n; i++) {
		json_decref(v[i].item);
		free(v[i].key);
	}
	free(v);
}
