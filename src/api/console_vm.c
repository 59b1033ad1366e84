/*
 * One VM's page: its state with the progress of the last action taken from
 * here (?did=create|stop|start|reboot|destroy, until the VM reaches what
 * that action leads to), where it runs, how to reach it, the versions it
 * is pinned to and the last lines of its serial console; and the forms
 * that stop, start, reboot and destroy it.
 */
#include "api/console_internal.h"

#include <stdio.h>
#include <string.h>

#include "lib/cleanup.h"
#include "lib/json.h"
#include "lib/xalloc.h"

/* What each action leads to, and how its progress reads. */
static const struct action {
	const char *did, *target, *busy, *done;
} actions[] = {
    {"create", "running", "Creating: the VM is placed, prepared and booted", "Running."},
    {"start", "running", "Starting", "Running."},
    {"reboot", "running", "Rebooting", "Running."},
    {"stop", "stopped", "Stopping", "Stopped."},
    {"destroy", NULL, "Destroying", "Destroyed."},
};

static const struct action *action_named(const char *did)
{
	for (size_t i = 0; did && i < sizeof(actions) / sizeof(actions[0]); i++)
		if (strcmp(actions[i].did, did) == 0)
			return &actions[i];
	return NULL;
}

static void progress(struct html *h, const struct action *a, const json_t *vm)
{
	const char *state = jstr(vm, "state");
	if (!a || !state)
		return;
	if (strcmp(state, "failed") == 0)
		html_printf(
		    h, "<p class=\"msg bad\" id=\"progress\" data-done=\"failed\">Failed: %s</p>",
		    jstr(vm, "state_reason") ? jstr(vm, "state_reason") : "see below");
	else if (a->target && strcmp(state, a->target) == 0)
		html_printf(h, "<p class=\"msg ok\" id=\"progress\" data-done=\"%s\">%s</p>", state,
			    a->done);
	else
		html_printf(h,
			    "<p class=\"msg busy\" id=\"progress\" aria-busy=\"true\">"
			    "<span class=\"spinner\"></span>%s… now %s.</p>",
			    a->busy, state);
}

static void action_button(struct console_ctx *c, struct html *h, const char *name,
			  const char *action, const char *label, const char *busy)
{
	html_printf(h, "<form method=\"post\" action=\"/vms/%s/%s\">", name, action);
	page_csrf(c, h);
	html_printf(h,
		    "<button type=\"submit\" class=\"%s\" data-action=\"%s\" "
		    "data-busy=\"%s…\">%s</button></form>",
		    strcmp(action, "destroy") == 0 ? "danger" : "", action, busy, label);
}

static void buttons(struct console_ctx *c, struct html *h, const json_t *vm)
{
	const char *name = jstr(vm, "name"), *state = jstr(vm, "state");
	bool stopped = state && strcmp(state, "stopped") == 0;
	bool failed = state && strcmp(state, "failed") == 0;
	html_lit(h, "<div class=\"actions\">");
	if (!stopped)
		action_button(c, h, name, "stop", "Stop", "Stopping");
	if (stopped || failed)
		action_button(c, h, name, "start", "Start", "Starting");
	if (!stopped)
		action_button(c, h, name, "reboot", "Reboot", "Rebooting");
	action_button(c, h, name, "destroy", "Destroy", "Destroying");
	html_lit(h, "</div>");
}

/* The guest's SSH host keys: a fingerprint and its type per line, what
 * ssh's first connection shows (loam vm ssh pins them). */
static void host_keys(struct html *h, const json_t *vm)
{
	const json_t *keys = json_object_get(vm, "host_keys");
	html_lit(h, "<dt>SSH host keys</dt><dd id=\"host-keys\">");
	if (json_array_size(keys) == 0)
		html_lit(h, "<span class=\"empty\">not read from the guest's console yet</span>");
	size_t i;
	const json_t *k;
	json_array_foreach(keys, i, k)
	{
		html_printf(h, "<code class=\"fingerprint\">%s</code> %s<br>",
			    jstr(k, "fingerprint"), jstr(k, "type"));
	}
	html_lit(h, "</dd>");
}

/* Addresses, the login and the SSH command, when the API gives them. */
static void access_fields(struct html *h, const json_t *vm)
{
	static const char *const keys[] = {"ipv4", "ipv6", "mac", "open_ports", "login_user"};
	html_lit(h, "<dl class=\"fields\">");
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const json_t *v = json_object_get(vm, keys[i]);
		if (!v)
			continue;
		html_printf(h, "<dt>%s</dt><dd id=\"%s\">", keys[i], keys[i]);
		html_json(h, v);
		html_lit(h, "</dd>");
	}
	host_keys(h, vm);
	html_lit(h, "<dt>SSH</dt><dd>");
	if (jstr(vm, "ssh"))
		html_printf(h, "<code class=\"ssh\">%s</code>", jstr(vm, "ssh"));
	else
		html_printf(h, "<code class=\"ssh\">loam vm ssh %s</code>", jstr(vm, "name"));
	html_lit(h, "</dd></dl>");
}

static const char *const summary_keys[] = {
    "name",	  "state",	   "state_reason", "artifacts",	 "ipv4", "ipv6", "mac",
    "open_ports", "ssh_host_keys", "host_keys",	   "login_user", "ssh",	 NULL};

static void vm_summary(struct console_ctx *c, struct html *h, const json_t *vm)
{
	const char *state = jstr(vm, "state");
	html_printf(h, "<h1>%s <span class=\"state %s\" id=\"vm-state\">%s</span></h1>",
		    jstr(vm, "name"), vm_state_class(state), state);
	progress(h, action_named(console_query(c, "did")), vm);
	if (jstr(vm, "state_reason"))
		html_printf(h, "<pre class=\"reason\">%s</pre>", jstr(vm, "state_reason"));
	buttons(c, h, vm);
	html_lit(h, "<div class=\"cols\"><section><h2>VM</h2>");
	page_other_fields(h, vm, summary_keys, c->now_ms);
	html_lit(h, "</section><section><h2>Access</h2>");
	access_fields(h, vm);
	html_lit(h, "<h2>Pinned versions</h2>");
	const json_t *pins = json_object_get(vm, "artifacts");
	if (json_array_size(pins) == 0)
		html_lit(h, "<p class=\"empty\">None yet: pinned when it is prepared.</p>");
	else
		page_object_table(
		    h, pins, (const char *const[]){"component", "name", "version", "arch", NULL},
		    NULL, c->now_ms);
	html_lit(h, "</section></div>");
}

static void serial_console(struct console_ctx *c, struct html *h, const char *name)
{
	cleanup_free char *path = xasprintf("/v1/vms/%s/console", name);
	cleanup_json json_t *doc = NULL;
	int st = console_api(c, "GET", path, NULL, &doc);
	html_lit(h, "<section id=\"console\" data-live><h2>Serial console</h2>");
	if (st != 200) {
		html_printf(h, "<p class=\"empty\">%s</p>",
			    jstr(doc, "detail") ? jstr(doc, "detail") : "no console");
	} else {
		html_lit(h, "<pre class=\"serial\">");
		size_t i;
		const json_t *line;
		json_array_foreach(json_object_get(doc, "lines"), i, line)
		{
			const char *text = json_string_value(line);
			html_printf(h, "%s\n", text ? text : "");
		}
		html_lit(h, "</pre>");
	}
	html_lit(h, "</section>");
}

/* A VM gone after ?did=destroy is the good end of it, not a 404. */
static int gone_page(struct console_ctx *c, const char *name, int status, const json_t *doc)
{
	const struct action *a = action_named(console_query(c, "did"));
	bool destroyed = status == 404 && a && !a->target;
	struct html h;
	html_init(&h);
	page_begin(c, &h, name, "VMs", 0);
	html_printf(&h, "<div id=\"vm\" data-live><h1>%s</h1>", name);
	if (destroyed)
		html_printf(&h,
			    "<p class=\"msg ok\" id=\"progress\" data-done=\"destroyed\">VM %s "
			    "was destroyed.</p>",
			    name);
	else
		page_error(&h, doc);
	html_lit(&h, "<p><a href=\"/vms\">All VMs</a></p></div>");
	page_end(c, &h);
	console_send_html(c, destroyed ? 200 : status, &h);
	return 0;
}

static int vm_page(struct console_ctx *c, int status, const json_t *error)
{
	const char *name = c->seg[1];
	cleanup_free char *path = xasprintf("/v1/vms/%s", name);
	cleanup_json json_t *vm = NULL;
	int st = console_api(c, "GET", path, NULL, &vm);
	if (st != 200)
		return gone_page(c, name, st, vm);
	struct html h;
	html_init(&h);
	/* keep polling after a destroy: the page turns into "destroyed" */
	page_begin(c, &h, name, "VMs", 2000);
	if (error)
		page_error(&h, error);
	html_lit(&h, "<div id=\"vm\" data-live>");
	vm_summary(c, &h, vm);
	html_lit(&h, "</div>");
	serial_console(c, &h, name);
	html_lit(&h, "<p><a href=\"/vms\">All VMs</a></p>");
	page_end(c, &h);
	console_send_html(c, status, &h);
	return 0;
}

int console_vm_page(struct console_ctx *c)
{
	return vm_page(c, 200, NULL);
}

int console_vm_action_post(struct console_ctx *c)
{
	const char *name = c->seg[1], *action = c->seg[2];
	bool destroy = strcmp(action, "destroy") == 0;
	cleanup_free char *path =
	    destroy ? xasprintf("/v1/vms/%s", name) : xasprintf("/v1/vms/%s/%s", name, action);
	cleanup_json json_t *doc = NULL;
	int st = console_api(c, destroy ? "DELETE" : "POST", path, NULL, &doc);
	if (st == 200 || st == 202) {
		cleanup_free char *to = xasprintf("/vms/%s?did=%s", name, action);
		console_redirect(c, to);
		return 0;
	}
	return vm_page(c, st, doc);
}
