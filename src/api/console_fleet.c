/*
 * The fleet page: capacity by location and arch as bars of used against
 * total (cores, memory, VMs), the hosts and VMs by state, and the VMs
 * waiting for room with the allocator's explanation of why. An arch a
 * location only serves by emulation shows the emulating hosts' capacity,
 * marked as shared, since its VMs take the same cores.
 */
#include "api/console_internal.h"

#include <stdlib.h>
#include <string.h>

#include "lib/cleanup.h"
#include "lib/json.h"
#include "lib/xalloc.h"

#define MAX_GROUPS 64

struct group {
	const char *location, *arch;
	int native, emulating;
	double cores_used, cores_total, mem_used, mem_total;
	int vms, vms_running;
};

struct fleet {
	struct group g[MAX_GROUPS];
	size_t n;
};

static struct group *group_of(struct fleet *f, const char *location, const char *arch)
{
	for (size_t i = 0; i < f->n; i++)
		if (strcmp(f->g[i].location, location) == 0 && strcmp(f->g[i].arch, arch) == 0)
			return &f->g[i];
	if (f->n == MAX_GROUPS)
		return NULL;
	f->g[f->n] = (struct group){.location = location, .arch = arch};
	return &f->g[f->n++];
}

/* Natives come first (gather), so an emulating host lends its capacity
 * only to a group that has no native host. */
static void add_host(struct group *g, const json_t *h, bool native)
{
	if (native)
		g->native++;
	else
		g->emulating++;
	if (!native && g->native > 0)
		return;
	g->cores_used += jnum(h, "used_cores");
	g->cores_total += jnum(h, "total_cores");
	g->mem_used += jnum(h, "used_memory_gib");
	g->mem_total += jnum(h, "memory_gib");
}

static int by_place(const void *a, const void *b)
{
	const struct group *x = a, *y = b;
	int c = strcmp(x->location, y->location);
	return c ? c : strcmp(x->arch, y->arch);
}

static void gather(struct fleet *f, const json_t *hosts, const json_t *vms)
{
	size_t i;
	const json_t *h, *v;
	json_array_foreach(hosts, i, h)
	{
		const char *loc = jstr(h, "location"), *arch = jstr(h, "arch");
		struct group *g = arch && loc ? group_of(f, loc, arch) : NULL;
		if (g)
			add_host(g, h, true);
	}
	json_array_foreach(hosts, i, h)
	{
		size_t j;
		const json_t *a;
		json_array_foreach(json_object_get(h, "emulate"), j, a)
		{
			struct group *g =
			    jstr(h, "location") && json_string_value(a)
				? group_of(f, jstr(h, "location"), json_string_value(a))
				: NULL;
			if (g && !(jstr(h, "arch") && strcmp(jstr(h, "arch"), g->arch) == 0))
				add_host(g, h, false);
		}
	}
	json_array_foreach(vms, i, v)
	{
		struct group *g = jstr(v, "location") && jstr(v, "arch")
				      ? group_of(f, jstr(v, "location"), jstr(v, "arch"))
				      : NULL;
		if (!g)
			continue;
		g->vms++;
		g->vms_running += jstr(v, "state") && strcmp(jstr(v, "state"), "running") == 0;
	}
	qsort(f->g, f->n, sizeof(f->g[0]), by_place);
}

static void capacity_row(struct html *h, const struct group *g)
{
	html_printf(h,
		    "<tr data-arch=\"%s\" data-location=\"%s\"><th scope=\"row\">%s</th>"
		    "<td class=\"arch\">%s</td><td>",
		    g->arch, g->location, g->location, g->arch);
	if (g->native)
		html_printf(h, "%d", g->native);
	else
		html_lit(h, "0");
	if (g->emulating)
		html_printf(h, " <span class=\"note\">+ %d emulating%s</span>", g->emulating,
			    g->native ? "" : " (TCG, shared cores)");
	html_lit(h, "</td><td>");
	html_bar(h, "cores", g->cores_used, g->cores_total, "cores");
	html_lit(h, "</td><td>");
	html_bar(h, "memory", g->mem_used, g->mem_total, "GiB");
	html_lit(h, "</td><td>");
	html_count_bar(h, "VMs running", g->vms_running, g->vms, "running");
	html_lit(h, "</td></tr>");
}

static void capacity(struct html *h, const json_t *hosts, const json_t *vms)
{
	struct fleet *f = xcalloc(1, sizeof(*f));
	gather(f, hosts, vms);
	html_lit(h, "<section id=\"capacity\" data-live><h2>Capacity by location and arch</h2>");
	if (f->n == 0)
		html_lit(h, "<p class=\"empty\">No hosts yet. Add one with "
			    "<code>loam host add ADDRESS</code>.</p>");
	else
		html_lit(h, "<div class=\"scroll\"><table class=\"capacity\"><thead><tr>"
			    "<th>Location</th><th>Arch</th><th>Hosts</th><th>Cores</th>"
			    "<th>Memory</th><th>VMs</th></tr></thead><tbody>");
	for (size_t i = 0; i < f->n; i++)
		capacity_row(h, &f->g[i]);
	if (f->n)
		html_lit(h, "</tbody></table></div>");
	html_lit(h, "</section>");
	free(f);
}

static const char *key_of(const json_t *o, const char *key)
{
	const char *v = jstr(o, key);
	return v ? v : "-";
}

/* How many of list have the value v at key. */
static size_t count_of(const json_t *list, const char *key, const char *v)
{
	size_t i, n = 0;
	const json_t *x;
	json_array_foreach(list, i, x)
	{
		if (strcmp(key_of(x, key), v) == 0)
			n++;
	}
	return n;
}

/* A tile: how many there are, then how many have each value of key. */
static void counts(struct html *h, const char *title, const json_t *list, const char *key)
{
	html_printf(h, "<div class=\"tile\"><h3>%s</h3><p class=\"big\">%zu</p><ul>", title,
		    json_array_size(list));
	size_t i, j;
	const json_t *x;
	json_array_foreach(list, i, x)
	{
		const char *v = key_of(x, key);
		bool seen = false;
		for (j = 0; j < i && !seen; j++)
			seen = strcmp(key_of(json_array_get(list, j), key), v) == 0;
		if (!seen)
			html_printf(h, "<li><span class=\"state %s\">%s</span> %zu</li>",
				    vm_state_class(v), v, count_of(list, key, v));
	}
	html_lit(h, "</ul></div>");
}

static void waiting(struct console_ctx *c, struct html *h, const json_t *vms)
{
	html_lit(h, "<section id=\"waiting\" data-live><h2>Waiting for room</h2>");
	size_t i, n = 0;
	const json_t *v;
	json_array_foreach(vms, i, v)
	{
		if (!jstr(v, "state") || strcmp(jstr(v, "state"), "waiting") != 0)
			continue;
		if (n++ == 0)
			html_lit(h, "<div class=\"scroll\"><table><thead><tr><th>VM</th>"
				    "<th>Arch</th><th>Size</th><th>Location</th><th>Since</th>"
				    "<th>Why it waits</th></tr></thead><tbody>");
		html_printf(h,
			    "<tr><td><a href=\"/vms/%s\">%s</a></td><td>%s</td><td>%s</td>"
			    "<td>%s</td><td>",
			    jstr(v, "name"), jstr(v, "name"), jstr(v, "arch"), jstr(v, "size"),
			    jstr(v, "location"));
		html_time(h, json_object_get(v, "created_at"), c->now_ms);
		html_printf(h, "</td><td class=\"reason\">%s</td></tr>", jstr(v, "state_reason"));
	}
	if (n)
		html_lit(h, "</tbody></table></div>");
	else
		html_lit(h, "<p class=\"empty\">No VM is waiting: every one has a host.</p>");
	html_lit(h, "</section>");
}

/* A project's session: its own VMs' tallies and queue, no hosts. */
static void project_fleet(struct console_ctx *c, struct html *h, const json_t *vms)
{
	html_lit(h, "<section id=\"tallies\" class=\"tiles\" data-live>");
	counts(h, "VMs", vms, "state");
	html_lit(h, "</section>");
	waiting(c, h, vms);
}

int console_fleet_page(struct console_ctx *c)
{
	cleanup_json json_t *hosts = NULL, *vms = NULL;
	bool operator= console_is_operator(c);
	int hs = operator? console_api(c, "GET", "/v1/hosts", NULL, &hosts) : 200;
	int vs = console_api(c, "GET", "/v1/vms", NULL, &vms);
	struct html h;
	html_init(&h);
	page_begin(c, &h, "Fleet", "Fleet", 3000);
	html_lit(&h, "<h1>Fleet</h1>");
	if (hs != 200 || vs != 200) {
		page_error(&h, hs != 200 ? hosts : vms);
	} else if (!operator) {
		project_fleet(c, &h, vms);
	} else {
		capacity(&h, hosts, vms);
		html_lit(&h, "<section id=\"tallies\" class=\"tiles\" data-live>");
		counts(&h, "Hosts", hosts, "state");
		counts(&h, "VMs", vms, "state");
		html_lit(&h, "</section>");
		waiting(c, &h, vms);
	}
	page_end(c, &h);
	console_send_html(c, 200, &h);
	return 0;
}
