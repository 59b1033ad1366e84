/*
 * The console's HTML builder. Markup comes only from format strings and
 * literals in our source; every string argument is escaped on the way in
 * (& < > " '), so a host name, a VM's serial console or an error detail
 * can never become markup, whatever it holds. The conversions are a small
 * subset of printf's, so the compiler still checks each argument's type.
 */
#include "api/console_internal.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "lib/cleanup.h"
#include "lib/json.h"
#include "lib/timefmt.h"
#include "lib/xalloc.h"

void html_init(struct html *h)
{
	*h = (struct html){0};
	h->f = xalloc_check(open_memstream(&h->buf, &h->len));
}

char *html_finish(struct html *h, size_t *len)
{
	fclose(h->f);
	h->f = NULL;
	*len = h->len;
	return loam_steal(&h->buf);
}

static void put_escaped(FILE *f, const char *s)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '&':
			fputs("&amp;", f);
			break;
		case '<':
			fputs("&lt;", f);
			break;
		case '>':
			fputs("&gt;", f);
			break;
		case '"':
			fputs("&quot;", f);
			break;
		case '\'':
			fputs("&#39;", f);
			break;
		default:
			fputc(*s, f);
		}
	}
}

/* A precision-limited %f: "%.1f" has precision 1. */
static void put_fixed(FILE *f, int precision, double v)
{
	switch (precision) {
	case 0:
		fprintf(f, "%.0f", v);
		return;
	case 1:
		fprintf(f, "%.1f", v);
		return;
	case 2:
		fprintf(f, "%.2f", v);
		return;
	default:
		abort(); /* a format of ours that this builder does not take: a bug */
	}
}

enum conv { C_PERCENT, C_STR, C_INT, C_UINT, C_DOUBLE, C_LONG, C_SIZE, C_LLONG, C_FIXED };

/* The conversion at fmt (just past '%') and its length; aborts on one this
 * builder does not take, a bug in our own format. */
static enum conv conversion(const char *fmt, size_t *len)
{
	static const struct {
		const char *spec;
		enum conv conv;
	} table[] = {{"%", C_PERCENT}, {"s", C_STR},	 {"d", C_INT},	 {"u", C_UINT},
		     {"g", C_DOUBLE},  {"lld", C_LLONG}, {"ld", C_LONG}, {"zu", C_SIZE}};
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		*len = strlen(table[i].spec);
		if (strncmp(fmt, table[i].spec, *len) == 0)
			return table[i].conv;
	}
	*len = 3;
	if (fmt[0] == '.' && fmt[1] >= '0' && fmt[1] <= '2' && fmt[2] == 'f')
		return C_FIXED;
	abort();
}

/* The formats are fixed strings here, so nothing of fmt reaches printf. */
static void html_vprintf(struct html *h, const char *fmt, va_list ap)
{
	for (const char *p = fmt; *p;) {
		const char *pct = strchr(p, '%');
		if (!pct) {
			fputs(p, h->f);
			break;
		}
		fwrite(p, 1, (size_t)(pct - p), h->f);
		size_t len = 0;
		/* clang-tidy 14 reads ap as uninitialized here only when another
		 * file was analysed before this one in the same run (as lint.sh does):
		 * NOLINTBEGIN(clang-analyzer-valist.Uninitialized) */
		switch (conversion(pct + 1, &len)) {
		case C_PERCENT:
			fputc('%', h->f);
			break;
		case C_STR:
			put_escaped(h->f, va_arg(ap, const char *));
			break;
		case C_INT:
			fprintf(h->f, "%d", va_arg(ap, int));
			break;
		case C_UINT:
			fprintf(h->f, "%u", va_arg(ap, unsigned));
			break;
		case C_DOUBLE:
			fprintf(h->f, "%g", va_arg(ap, double));
			break;
		case C_LONG:
			fprintf(h->f, "%ld", va_arg(ap, long));
			break;
		case C_SIZE:
			fprintf(h->f, "%zu", va_arg(ap, size_t));
			break;
		case C_LLONG:
			fprintf(h->f, "%lld", va_arg(ap, long long));
			break;
		case C_FIXED:
			put_fixed(h->f, pct[2] - '0', va_arg(ap, double));
			break;
		}
		/* NOLINTEND(clang-analyzer-valist.Uninitialized) */
		p = pct + 1 + len;
	}
}

void html_printf(struct html *h, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	html_vprintf(h, fmt, ap);
	va_end(ap);
}

void html_literal(struct html *h, const char *literal)
{
	fputs(literal, h->f);
}

void html_json(struct html *h, const json_t *v)
{
	if (!v || json_is_null(v) || (json_is_array(v) && json_array_size(v) == 0)) {
		html_lit(h, "—");
	} else if (json_is_string(v)) {
		html_printf(h, "%s", json_string_value(v));
	} else if (json_is_integer(v)) {
		html_printf(h, "%lld", (long long)json_integer_value(v));
	} else if (json_is_real(v)) {
		html_printf(h, "%g", json_real_value(v));
	} else if (json_is_true(v)) {
		html_lit(h, "yes");
	} else if (json_is_false(v)) {
		html_lit(h, "no");
	} else if (json_is_array(v) && !json_is_object(json_array_get(v, 0))) {
		size_t i;
		const json_t *e;
		json_array_foreach(v, i, e)
		{
			if (i)
				html_lit(h, ", ");
			html_json(h, e);
		}
	} else {
		cleanup_free char *s = loam_json_dump(v);
		html_printf(h, "<code>%s</code>", s);
	}
}

void html_time(struct html *h, const json_t *ms, int64_t now_ms)
{
	if (!json_is_integer(ms)) {
		html_lit(h, "—");
		return;
	}
	int64_t t = json_integer_value(ms);
	char iso[LOAM_ISO8601_LEN], human[96];
	loam_time_iso8601(t, iso);
	loam_time_human(t, now_ms, human, sizeof(human));
	html_printf(h, "<time datetime=\"%s\">%s</time>", iso, human);
}

static void bar(struct html *h, const char *what, double used, double total, const char *unit,
		const char *level, double pct)
{
	html_printf(h,
		    "<span class=\"meter\"><svg class=\"bar\" viewBox=\"0 0 100 8\" "
		    "preserveAspectRatio=\"none\" role=\"img\" aria-label=\"%s: %g of %g %s\">"
		    "<rect class=\"total\" width=\"100\" height=\"8\"/><rect class=\"used %s\" "
		    "width=\"%.1f\" height=\"8\"/></svg><span class=\"num\">%g / %g %s</span>"
		    "</span>",
		    what, used, total, unit, level, pct, used, total, unit);
}

static double percent(double used, double total)
{
	return total > 0 ? fmin(100.0, 100.0 * used / total) : 0;
}

void html_bar(struct html *h, const char *what, double used, double total, const char *unit)
{
	double pct = percent(used, total);
	bar(h, what, used, total, unit, pct >= 90 ? "full" : pct >= 70 ? "high" : "ok", pct);
}

void html_count_bar(struct html *h, const char *what, double part, double all, const char *unit)
{
	bar(h, what, part, all, unit, "count", percent(part, all));
}
