/*
 * The hosts pages: a table of every host with its load and heartbeat, and
 * one host's page with what loam learned of it, how it runs guests (KVM or
 * TCG, the arches it emulates), the component versions installed there,
 * its heartbeat and the VMs placed on it.
 */
#include "api/console_internal.h"

#include <stdio.h>
#include <string.h>

#include "lib/cleanup.h"
#include "lib/json.h"
#include "lib/xalloc.h"

static void host_row(struct console_ctx *c, struct html *h, const json_t *x)
{
	const char *state = jstr(x, "state");
	html_printf(h,
		    "<tr><td><a href=\"/hosts/%s\">%s</a></td><td>%s</td>"
		    "<td><span class=\"state %s\">%s</span></td><td>%s</td><td>",
		    jstr(x, "name"), jstr(x, "name"), jstr(x, "arch") ? jstr(x, "arch") : "?",
		    vm_state_class(state), state, jstr(x, "accel"));
	html_json(h, json_object_get(x, "emulate"));
	html_printf(h, "</td><td>%s</td><td>", jstr(x, "location"));
	html_bar(h, "cores", jnum(x, "used_cores"), jnum(x, "total_cores"), "cores");
	html_lit(h, "</td><td>");
	html_bar(h, "memory", jnum(x, "used_memory_gib"), jnum(x, "memory_gib"), "GiB");
	html_lit(h, "</td><td>");
	html_json(h, json_object_get(x, "vms"));
	html_lit(h, "</td><td>");
	html_time(h, json_object_get(x, "last_seen_at"), c->now_ms);
	html_lit(h, "</td></tr>");
}

/* Hosts are the operator's: a project's session is told so, as the API
 * would (404), without asking. */
static int operator_only(struct console_ctx *c)
{
	message_page(c, 404, "Not found",
		     "Hosts are shown to the operator only; this session is a project's.");
	return 0;
}

int console_hosts_page(struct console_ctx *c)
{
	if (!console_is_operator(c))
		return operator_only(c);
	cleanup_json json_t *hosts = NULL;
	int st = console_api(c, "GET", "/v1/hosts", NULL, &hosts);
	struct html h;
	html_init(&h);
	page_begin(c, &h, "Hosts", "Hosts", 3000);
	html_lit(&h, "<h1>Hosts</h1><section id=\"hosts\" data-live>");
	if (st != 200) {
		page_error(&h, hosts);
	} else if (json_array_size(hosts) == 0) {
		html_lit(&h, "<p class=\"empty\">No hosts yet. Add one with "
			     "<code>loam host add ADDRESS</code>.</p>");
	} else {
		html_lit(&h, "<div class=\"scroll\"><table><thead><tr><th>Name</th><th>Arch</th>"
			     "<th>State</th><th>Accel</th><th>Emulates</th><th>Location</th>"
			     "<th>Cores</th><th>Memory</th><th>VMs</th><th>Heartbeat</th></tr>"
			     "</thead><tbody>");
		size_t i;
		const json_t *x;
		json_array_foreach(hosts, i, x)
		{
			host_row(c, &h, x);
		}
		html_lit(&h, "</tbody></table></div>");
	}
	html_lit(&h, "</section>");
	page_end(c, &h);
	console_send_html(c, 200, &h);
	return 0;
}

static void host_load(struct html *h, const json_t *x)
{
	html_lit(h, "<section><h2>Load</h2><dl class=\"fields\"><dt>cores</dt><dd>");
	html_bar(h, "cores", jnum(x, "used_cores"), jnum(x, "total_cores"), "cores");
	html_lit(h, "</dd><dt>memory</dt><dd>");
	html_bar(h, "memory", jnum(x, "used_memory_gib"), jnum(x, "memory_gib"), "GiB");
	html_lit(h, "</dd><dt>1 GiB hugepages</dt><dd>");
	html_bar(h, "hugepages", jnum(x, "hugepages_1g_used"), jnum(x, "hugepages_1g_total"),
		 "pages");
	html_lit(h, "</dd><dt>storage</dt><dd>");
	html_bar(h, "storage", jnum(x, "storage_gib") - jnum(x, "available_storage_gib"),
		 jnum(x, "storage_gib"), "GiB");
	html_lit(h, "</dd></dl></section>");
}

static void host_heartbeat(struct console_ctx *c, struct html *h, const json_t *x)
{
	const json_t *strand = json_object_get(x, "strand");
	html_lit(h, "<section><h2>Heartbeat</h2><dl class=\"fields\"><dt>last answer</dt><dd>");
	html_time(h, json_object_get(x, "last_seen_at"), c->now_ms);
	html_lit(h, "</dd><dt>cloudify step</dt><dd>");
	html_json(h, json_object_get(x, "label"));
	html_lit(h, "</dd><dt>failed tries</dt><dd>");
	html_json(h, json_object_get(strand, "tries"));
	html_lit(h, "</dd><dt>last error</dt><dd class=\"reason\">");
	html_json(h, json_object_get(x, "last_error"));
	html_lit(h, "</dd></dl></section>");
}

static void host_vms(struct console_ctx *c, struct html *h, const char *name)
{
	cleanup_json json_t *vms = NULL;
	html_lit(h, "<section><h2>VMs on this host</h2>");
	if (console_api(c, "GET", "/v1/vms", NULL, &vms) != 200) {
		page_error(h, vms);
	} else {
		json_t *mine = json_array();
		size_t i;
		json_t *v;
		json_array_foreach(vms, i, v)
		{
			if (jstr(v, "host") && strcmp(jstr(v, "host"), name) == 0)
				json_array_append(mine, v);
		}
		if (json_array_size(mine) == 0)
			html_lit(h, "<p class=\"empty\">None.</p>");
		else
			page_object_table(
			    h, mine,
			    (const char *const[]){"name", "arch", "size", "state", "vcpus",
						  "memory_gib", NULL},
			    (const char *const[]){"host", "id", "location", "state_reason", NULL},
			    c->now_ms);
		json_decref(mine);
	}
	html_lit(h, "</section>");
}

static const char *const shown[] = {"name",
				    "state",
				    "state_reason",
				    "facts",
				    "artifacts",
				    "strand",
				    "label",
				    "last_error",
				    "last_seen_at",
				    "used_cores",
				    "total_cores",
				    "used_memory_gib",
				    "hugepages_1g_used",
				    "hugepages_1g_total",
				    "available_storage_gib",
				    NULL};

static void host_body(struct console_ctx *c, struct html *h, const json_t *x)
{
	const char *state = jstr(x, "state");
	html_printf(h, "<h1>%s <span class=\"state %s\">%s</span></h1>", jstr(x, "name"),
		    vm_state_class(state), state);
	if (jstr(x, "state_reason"))
		html_printf(h, "<p class=\"msg bad\">%s</p>", jstr(x, "state_reason"));
	html_lit(h, "<div class=\"cols\">");
	host_load(h, x);
	host_heartbeat(c, h, x);
	html_lit(h, "</div><section><h2>Host</h2>");
	page_other_fields(h, x, shown, c->now_ms);
	html_lit(h, "</section><section><h2>Installed versions</h2>");
	const json_t *arts = json_object_get(x, "artifacts");
	if (json_array_size(arts) == 0)
		html_lit(h, "<p class=\"empty\">None recorded yet.</p>");
	else
		page_object_table(
		    h, arts,
		    (const char *const[]){"component", "name", "version", "arch", "state", NULL},
		    (const char *const[]){"path", "sha256", "kind", NULL}, c->now_ms);
	html_lit(h, "</section><section><h2>Learned facts</h2>");
	page_other_fields(h, json_object_get(x, "facts"), NULL, c->now_ms);
	html_lit(h, "</section>");
}

int console_host_page(struct console_ctx *c)
{
	if (!console_is_operator(c))
		return operator_only(c);
	cleanup_free char *path = xasprintf("/v1/hosts/%s", c->seg[1]);
	cleanup_json json_t *x = NULL;
	int st = console_api(c, "GET", path, NULL, &x);
	struct html h;
	html_init(&h);
	page_begin(c, &h, c->seg[1], "Hosts", st == 200 ? 3000 : 0);
	html_lit(&h, "<div id=\"host\" data-live>");
	if (st != 200) {
		page_error(&h, x);
	} else {
		host_body(c, &h, x);
		host_vms(c, &h, c->seg[1]);
	}
	html_lit(&h, "</div>");
	page_end(c, &h);
	console_send_html(c, st == 404 ? 404 : 200, &h);
	return 0;
}
