/*
 * The VMs page: every VM with its state, host and addresses, and the form
 * that creates one (arch, size, image, location, SSH key). The form posts
 * to /vms, which asks POST /v1/vms; a created VM's page then shows it
 * coming up, and a refused one comes back here with the API's reason and
 * the values as they were typed.
 */
#include "api/console_internal.h"

#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "db/vm_guest.h"
#include "lib/cleanup.h"
#include "lib/json.h"
#include "lib/xalloc.h"

const char *vm_state_class(const char *state)
{
	static const struct {
		const char *state, *cls;
	} map[] = {
	    {"running", "ok"},	    {"accepting", "ok"},    {"stopped", "idle"},
	    {"waiting", "warn"},    {"draining", "warn"},   {"failed", "bad"},
	    {"unavailable", "bad"}, {"unreachable", "bad"}, {"unprepared", "busy"},
	};
	for (size_t i = 0; state && i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(state, map[i].state) == 0)
			return map[i].cls;
	return "busy";
}

/* Whether any VM of the list has key (a field another part adds). */
static bool any_has(const json_t *list, const char *key)
{
	size_t i;
	const json_t *v;
	json_array_foreach(list, i, v)
	{
		const json_t *x = json_object_get(v, key);
		if (x && !json_is_null(x))
			return true;
	}
	return false;
}

static void vm_row(struct console_ctx *c, struct html *h, const json_t *v, bool addrs, bool proj)
{
	const char *state = jstr(v, "state");
	html_printf(h,
		    "<tr data-vm=\"%s\"><td><a href=\"/vms/%s\">%s</a></td><td>%s</td><td>%s</td>"
		    "<td><span class=\"state %s\">%s</span></td><td>",
		    jstr(v, "name"), jstr(v, "name"), jstr(v, "name"), jstr(v, "arch"),
		    jstr(v, "size"), vm_state_class(state), state);
	if (jstr(v, "host"))
		html_printf(h, "<a href=\"/hosts/%s\">%s</a>", jstr(v, "host"), jstr(v, "host"));
	else
		html_lit(h, "—");
	if (addrs) {
		html_lit(h, "</td><td>");
		html_json(h, json_object_get(v, "ipv4"));
	}
	if (proj) {
		html_lit(h, "</td><td>");
		html_json(h, json_object_get(v, "project"));
	}
	html_lit(h, "</td><td>");
	html_json(h, json_object_get(v, "image"));
	html_lit(h, "</td><td>");
	html_time(h, json_object_get(v, "created_at"), c->now_ms);
	html_lit(h, "</td></tr>");
}

static void vm_table(struct console_ctx *c, struct html *h, const json_t *vms)
{
	if (json_array_size(vms) == 0) {
		html_lit(h, "<p class=\"empty\">No VMs yet. Create one below.</p>");
		return;
	}
	bool addrs = any_has(vms, "ipv4"), proj = any_has(vms, "project");
	html_lit(h, "<div class=\"scroll\"><table><thead><tr><th>Name</th><th>Arch</th>"
		    "<th>Size</th><th>State</th><th>Host</th>");
	if (addrs)
		html_lit(h, "<th>IPv4</th>");
	if (proj)
		html_lit(h, "<th>Project</th>");
	html_lit(h, "<th>Image</th><th>Created</th></tr></thead><tbody>");
	size_t i;
	const json_t *v;
	json_array_foreach(vms, i, v)
	{
		vm_row(c, h, v, addrs, proj);
	}
	html_lit(h, "</tbody></table></div>");
}

/* ---- the create form ---- */

/* The distinct values of key in list, as <option>s, `chosen` selected. */
static void options(struct html *h, const json_t *list, const char *key, const char *chosen)
{
	size_t i, j;
	const json_t *x;
	json_array_foreach(list, i, x)
	{
		const char *v = jstr(x, key);
		bool seen = !v;
		for (j = 0; j < i && !seen; j++)
			seen = jstr(json_array_get(list, j), key) &&
			       strcmp(jstr(json_array_get(list, j), key), v) == 0;
		if (!seen)
			html_printf(h, "<option%s>%s</option>",
				    chosen && strcmp(chosen, v) == 0 ? " selected" : "", v);
	}
}

/* "arm64 x64": the image's arches, space-separated (the caller frees). */
static char *image_arches(const json_t *image)
{
	char *out = xstrdup("");
	size_t i;
	const json_t *a;
	json_array_foreach(json_object_get(image, "arches"), i, a)
	{
		char *more = xasprintf("%s%s%s", out, *out ? " " : "", json_string_value(a));
		free(out);
		out = more;
	}
	return out;
}

/*
 * The image select: the API's default first, then every image with its
 * arches (GET /v1/images), the arches also in data-arches so that
 * console.js offers only the images of the arch chosen (without script the
 * labels say it, and the API refuses a mismatch naming the arch's images).
 */
static void image_options(struct console_ctx *c, struct html *h, const char *chosen)
{
	cleanup_json json_t *images = NULL;
	if (console_api(c, "GET", "/v1/images", NULL, &images) != 200 || !json_is_array(images))
		json_decref(loam_steal(&images));
	size_t i;
	const json_t *img;
	cleanup_free char *default_arches = NULL;
	json_array_foreach(images, i, img)
	{
		if (strcmp(jstr(img, "name"), LOAM_DEFAULT_BOOT_IMAGE) == 0)
			default_arches = image_arches(img);
	}
	if (!default_arches && json_array_size(images) > 0)
		default_arches = xstrdup(""); /* a store without it: the API refuses it */
	if (default_arches)
		html_printf(h, "<option value=\"\" data-arches=\"%s\">default (%s)</option>",
			    default_arches, LOAM_DEFAULT_BOOT_IMAGE);
	else
		html_printf(h, "<option value=\"\">default (%s)</option>", LOAM_DEFAULT_BOOT_IMAGE);
	json_array_foreach(images, i, img)
	{
		const char *name = jstr(img, "name");
		cleanup_free char *arches = image_arches(img);
		cleanup_free char *label = xstrdup(arches);
		for (char *p = label; *p; p++)
			*p = *p == ' ' ? ',' : *p;
		html_printf(h, "<option value=\"%s\" data-arches=\"%s\"%s>%s (%s)</option>", name,
			    arches, chosen && strcmp(chosen, name) == 0 ? " selected" : "", name,
			    label);
	}
}

static const char *field(const struct form *f, const char *key)
{
	return f ? form_get(f, key) : NULL;
}

static void create_form(struct console_ctx *c, struct html *h, const struct form *typed)
{
	cleanup_json json_t *sizes = NULL, *hosts = NULL;
	console_api(c, "GET", "/v1/sizes", NULL, &sizes);
	console_api(c, "GET", "/v1/hosts", NULL, &hosts);
	const char *name = field(typed, "name");
	html_lit(h, "<section id=\"create\"><h2>Create a VM</h2>"
		    "<form class=\"create\" method=\"post\" action=\"/vms\">");
	page_csrf(c, h);
	html_printf(h,
		    "<label>Name <input name=\"name\" required maxlength=\"63\" "
		    "pattern=\"[a-z0-9]([a-z0-9\\-]*[a-z0-9])?\" value=\"%s\" "
		    "autocomplete=\"off\"></label><label>Arch <select name=\"arch\">",
		    name ? name : "");
	options(h, json_is_array(sizes) ? sizes : NULL, "arch", field(typed, "arch"));
	html_lit(h, "</select></label><label>Size <select name=\"size\">");
	options(h, json_is_array(sizes) ? sizes : NULL, "name", field(typed, "size"));
	html_lit(h, "</select></label><label>Image <select name=\"image\">");
	image_options(c, h, field(typed, "image"));
	html_lit(h, "</select></label><label>Location <select name=\"location\">");
	options(h, json_is_array(hosts) ? hosts : NULL, "location", field(typed, "location"));
	const char *key = field(typed, "ssh_key");
	html_printf(h,
		    "</select></label><label class=\"wide\">SSH public key "
		    "<textarea name=\"ssh_key\" rows=\"2\" spellcheck=\"false\" "
		    "placeholder=\"ssh-ed25519 AAAA… you@laptop\">%s</textarea>"
		    "<span class=\"hint\">One key per line, as in ~/.ssh/id_ed25519.pub; it "
		    "logs in as the user %s. Optional, but a VM without a key cannot be "
		    "logged in to.</span></label><button type=\"submit\" "
		    "data-busy=\"Creating…\">Create</button>"
		    "</form></section>",
		    key ? key : "", LOAM_VM_DEFAULT_LOGIN_USER);
}

static void vms_page(struct console_ctx *c, int status, const json_t *error,
		     const struct form *typed)
{
	cleanup_json json_t *vms = NULL;
	int st = console_api(c, "GET", "/v1/vms", NULL, &vms);
	struct html h;
	html_init(&h);
	page_begin(c, &h, "VMs", "VMs", 3000);
	html_lit(&h, "<h1>VMs</h1>");
	if (error)
		page_error(&h, error);
	html_lit(&h, "<section id=\"vms\" data-live>");
	if (st != 200)
		page_error(&h, vms);
	else
		vm_table(c, &h, vms);
	html_lit(&h, "</section>");
	create_form(c, &h, typed);
	page_end(c, &h);
	console_send_html(c, status, &h);
}

int console_vms_page(struct console_ctx *c)
{
	vms_page(c, 200, NULL, NULL);
	return 0;
}

/* The POST /v1/vms body from the form: empty fields are left out, so the
 * API's defaults apply; the key goes in only when one was given. */
static json_t *create_body(const struct form *f)
{
	json_t *body = json_object();
	static const char *const keys[] = {"name", "arch", "size", "image", "location"};
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const char *v = form_get(f, keys[i]);
		if (v && *v)
			json_object_set_new(body, keys[i], json_string(v));
	}
	const char *key = form_get(f, "ssh_key");
	if (key && key[strspn(key, " \t\r\n")]) {
		json_t *keys_json = json_array();
		cleanup_free char *copy = xstrdup(key);
		char *save = NULL;
		for (char *line = strtok_r(copy, "\r\n", &save); line;
		     line = strtok_r(NULL, "\r\n", &save))
			if (line[strspn(line, " \t")])
				json_array_append_new(keys_json, json_string(line));
		json_object_set_new(body, "ssh_keys", keys_json);
	}
	return body;
}

int console_vm_create_post(struct console_ctx *c)
{
	cleanup_json json_t *body = create_body(&c->form);
	cleanup_json json_t *doc = NULL;
	int st = console_api(c, "POST", "/v1/vms", body, &doc);
	if (st == 201 || st == 202) {
		cleanup_free char *to = xasprintf("/vms/%s?did=create", jstr(doc, "name"));
		console_redirect(c, to);
		return 0;
	}
	vms_page(c, st, doc, &c->form);
	return 0;
}
