/*
 * The frame every console page shares: the document head (the stylesheet
 * and script from /static/, no inline code so that the Content-Security-
 * Policy can forbid it), the menu, the log-out form, and the helpers the
 * pages use to show API documents: errors, fields by name, and the fields
 * this console does not know yet.
 */
#include "api/console_internal.h"

#include <string.h>

#include "lib/timefmt.h"

static const struct {
	const char *path, *label;
	bool operator_only;
} nav[] = {{"/fleet", "Fleet", false}, {"/hosts", "Hosts", true}, {"/vms", "VMs", false}};

const char *jstr(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

double jnum(const json_t *o, const char *key)
{
	return json_number_value(json_object_get(o, key));
}

void page_csrf(struct console_ctx *c, struct html *h)
{
	html_printf(h, "<input type=\"hidden\" name=\"csrf\" value=\"%s\">", c->session.csrf);
}

static void page_nav(struct console_ctx *c, struct html *h, const char *active)
{
	html_lit(h, "<nav><a class=\"brand\" href=\"/fleet\">loam</a><ul>");
	for (size_t i = 0; i < sizeof(nav) / sizeof(nav[0]); i++)
		if (!nav[i].operator_only || console_is_operator(c))
			html_printf(h, "<li><a href=\"%s\"%s>%s</a></li>", nav[i].path,
				    strcmp(nav[i].label, active) == 0 ? " aria-current=\"page\""
								      : "",
				    nav[i].label);
	html_lit(h, "</ul><form class=\"logout\" method=\"post\" action=\"/logout\">");
	page_csrf(c, h);
	html_printf(h,
		    "<span class=\"who\">%s</span><button type=\"submit\">Log out</button>"
		    "</form></nav>",
		    c->session.principal);
}

void page_begin(struct console_ctx *c, struct html *h, const char *title, const char *active,
		int poll_ms)
{
	html_printf(h,
		    "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
		    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
		    "<title>%s · loam</title>"
		    "<link rel=\"icon\" href=\"/static/favicon.svg\" type=\"image/svg+xml\">"
		    "<link rel=\"stylesheet\" href=\"/static/console.css\">"
		    "<script src=\"/static/console.js\" defer></script></head>"
		    "<body data-poll=\"%d\">",
		    title, poll_ms);
	if (c->session.csrf[0])
		page_nav(c, h, active);
	html_lit(h, "<main>");
}

void page_end(struct console_ctx *c, struct html *h)
{
	char iso[LOAM_ISO8601_LEN];
	loam_time_iso8601(c->now_ms, iso);
	html_printf(h,
		    "</main><footer><span id=\"updated\" data-live role=\"status\">as of "
		    "<time datetime=\"%s\">%s</time></span></footer></body></html>",
		    iso, iso);
}

void page_error(struct html *h, const json_t *doc)
{
	const char *detail = jstr(doc, "detail");
	html_printf(h, "<p class=\"msg bad\" role=\"alert\">%s</p>",
		    detail ? detail : "the request failed");
}

static bool skipped(const char *key, const char *const *skip)
{
	for (; skip && *skip; skip++)
		if (strcmp(key, *skip) == 0)
			return true;
	return false;
}

static bool is_time_key(const char *key)
{
	size_t n = strlen(key);
	return n > 3 && strcmp(key + n - 3, "_at") == 0;
}

void page_other_fields(struct html *h, const json_t *obj, const char *const *skip, int64_t now_ms)
{
	const char *key;
	json_t *v;
	html_lit(h, "<dl class=\"fields\">");
	json_object_foreach((json_t *)obj, key, v)
	{
		if (skipped(key, skip) ||
		    (json_is_array(v) && json_is_object(json_array_get(v, 0))))
			continue;
		html_printf(h, "<dt>%s</dt><dd>", key);
		if (is_time_key(key))
			html_time(h, v, now_ms);
		else
			html_json(h, v);
		html_lit(h, "</dd>");
	}
	html_lit(h, "</dl>");
}

#define MAX_COLUMNS 16

/* The columns of a table of objects: `first` in order, then every other
 * key met, in the order met, but those in `skip`. */
static size_t columns_of(const json_t *list, const char *const *first, const char *const *skip,
			 const char **cols)
{
	size_t n = 0;
	for (; first && *first && n < MAX_COLUMNS; first++)
		cols[n++] = *first;
	size_t i;
	const json_t *row;
	json_array_foreach(list, i, row)
	{
		const char *key;
		json_t *v;
		json_object_foreach((json_t *)row, key, v)
		{
			bool have = skipped(key, skip);
			for (size_t c = 0; c < n && !have; c++)
				have = strcmp(cols[c], key) == 0;
			if (!have && n < MAX_COLUMNS && !json_is_object(v))
				cols[n++] = key;
		}
	}
	return n;
}

void page_object_table(struct html *h, const json_t *list, const char *const *first,
		       const char *const *skip, int64_t now_ms)
{
	const char *cols[MAX_COLUMNS];
	size_t n = columns_of(list, first, skip, cols);
	html_lit(h, "<div class=\"scroll\"><table><thead><tr>");
	for (size_t c = 0; c < n; c++)
		html_printf(h, "<th>%s</th>", cols[c]);
	html_lit(h, "</tr></thead><tbody>");
	size_t i;
	const json_t *row;
	json_array_foreach(list, i, row)
	{
		html_lit(h, "<tr>");
		for (size_t c = 0; c < n; c++) {
			html_lit(h, "<td>");
			if (is_time_key(cols[c]))
				html_time(h, json_object_get(row, cols[c]), now_ms);
			else
				html_json(h, json_object_get(row, cols[c]));
			html_lit(h, "</td>");
		}
		html_lit(h, "</tr>");
	}
	html_lit(h, "</tbody></table></div>");
}
