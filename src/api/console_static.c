/*
 * /static/NAME: the console's stylesheet, script and icon, embedded into
 * loamd at build time (src/console/). Public, as the log-in page needs
 * them; they hold nothing secret.
 */
#include "api/console_internal.h"

#include <string.h>

#include "console/assets.h"

int console_static(struct console_ctx *c)
{
	for (const struct loam_console_asset *a = loam_console_assets; a->name; a++) {
		if (strcmp(a->name, c->seg[1]) != 0)
			continue;
		c->resp->status = 200;
		c->resp->content_type = a->content_type;
		c->resp->static_body = a->data;
		c->resp->body_len = a->len;
		c->resp->cacheable = true;
		return 0;
	}
	struct html h;
	html_init(&h);
	html_lit(&h, "not found\n");
	c->resp->status = 404;
	c->resp->content_type = "text/plain; charset=utf-8";
	c->resp->body = html_finish(&h, &c->resp->body_len);
	return 0;
}
