/*
 * Every field of every POST/PATCH route of the API is length- and
 * charset-checked (issue 7, security): for each field of each route, a
 * valid body with that one field replaced by an over-long value, a shell
 * metacharacter, a control character, a path trick or a wrong type gets
 * 400 "invalid", and every table is exactly as before (nothing written).
 * Names in the path and unknown fields are refused the same way. Each
 * route's valid base body is sent too, as the control that shows the bad
 * value, not the rest of the body, is what is refused. Runs in process on
 * a real SQLite database (api_fixture.h).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_fixture.h"
#include "lib/cleanup.h"
#include "lib/json.h"
#include "t.h"

static struct api_fixture fx;

enum kind { STR, PATH, INT, BOOL, NUM, ARCHES, QUOTAS };

struct field {
	const char *name;
	enum kind kind;
};

struct route {
	const char *method, *path, *base; /* base: a valid body */
	const char *undo;		  /* DELETE path after the control, or NULL */
	struct field fields[10];
};

static const struct route routes[] = {
    {"POST",
     "/v1/hosts",
     "{\"address\":\"10.0.0.9\",\"ssh_port\":22,\"ssh_user\":\"root\",\"location\":\"hel1\","
     "\"name\":\"h9\",\"state_dir\":\"/var/lib/loam\"}",
     "/v1/hosts/h9",
     {{"address", STR},
      {"ssh_port", INT},
      {"ssh_user", STR},
      {"ssh_key", PATH},
      {"location", STR},
      {"name", STR},
      {"state_dir", PATH},
      {"local", BOOL},
      {"host_key", STR}}},
    {"POST",
     "/v1/hosts",
     "{\"local\":true,\"name\":\"here\",\"location\":\"hel1\",\"state_dir\":"
     "\"/var/lib/loam/here\"}",
     "/v1/hosts/here",
     {{"name", STR}, {"location", STR}, {"state_dir", PATH}, {"local", BOOL}}},
    {"PATCH",
     "/v1/hosts/h1",
     "{\"location\":\"default\",\"emulate\":[\"arm64\"],\"allow_tcg\":true,\"cpu_overcommit\":2}",
     NULL,
     {{"allocation_state", STR},
      {"location", STR},
      {"emulate", ARCHES},
      {"allow_tcg", BOOL},
      {"cpu_overcommit", NUM}}},
    {"POST",
     "/v1/hosts/h1/set",
     "{\"location\":\"default\"}",
     NULL,
     {{"allocation_state", STR},
      {"location", STR},
      {"emulate", ARCHES},
      {"allow_tcg", BOOL},
      {"cpu_overcommit", NUM}}},
    {"POST",
     "/v1/vms",
     "{\"name\":\"v9\",\"arch\":\"x64\",\"size\":\"standard-2\",\"location\":\"default\","
     "\"image\":\"debian-12\"}",
     NULL,
     {{"name", STR},
      {"arch", STR},
      {"size", STR},
      {"location", STR},
      {"image", STR},
      {"project", STR}}},
    {"POST", "/v1/projects", "{\"name\":\"p9\"}", "/v1/projects/p9", {{"name", STR}}},
    {"PATCH",
     "/v1/projects/default",
     "{\"quotas\":{\"x64.vcpus\":64,\"arm64.vms\":null}}",
     NULL,
     {{"quotas", QUOTAS}}},
    {"POST",
     "/v1/tokens",
     "{\"project\":\"default\"}",
     NULL,
     {{"project", STR}, {"metrics", BOOL}}},
    {"POST", "/v1/vms/v1/stop", NULL, NULL, {{NULL, STR}}},
    {"POST", "/v1/vms/v1/start", NULL, NULL, {{NULL, STR}}},
    {"POST", "/v1/vms/v1/reboot", NULL, NULL, {{NULL, STR}}},
};

/* Bad values per kind, as JSON. */
static const char *const bad_strings[] = {
    "\"a;reboot\"",
    "\"$(id)\"",
    "\"`id`\"",
    "\"a|b\"",
    "\"a&b\"",
    "\"a b\"",
    "\"a\\nb\"",
    "\"a\\u0000b\"",
    "\"a\\u001bb\"",
    "\"../../etc\"",
    "\"-oProxyCommand=x\"",
    "\"\\u00e9\"",
    "\"'\"",
    "\"\\\"\"",
    "\"\\\\\"",
    "\"a>b\"",
    "\"*\"",
    "\"\"",
    "123",
    "true",
    "[]",
    "{}",
};
static const char *const bad_paths[] = {
    "\"relative/x\"",
    "\"/tmp/a;b\"",
    "\"/tmp/$(id)\"",
    "\"/tmp/`id`\"",
    "\"/tmp/a\\nb\"",
    "\"/tmp/a\\u0000b\"",
    "\"/etc/../etc/x\"",
    "\"/tmp/a|b\"",
    "\"/tmp/a'b\"",
    "\"\"",
    "1",
    "[]",
};
static const char *const bad_ints[] = {"0", "-1", "65536", "\"22\"", "22.5", "true", "[]", "1e20"};
static const char *const bad_bools[] = {"\"true\"", "1", "0", "[]", "{}", "\"yes\""};
static const char *const bad_nums[] = {"0.5", "0", "-1", "65", "1e308", "\"2\"", "true", "[]"};
static const char *const bad_arches[] = {
    "\"x64\"", "[\"x64;id\"]", "[\"riscv64\"]", "[1]",	"[\"\"]", "[\"$(id)\"]",
    "[[]]",    "{}",	       "[\"x64\\n\"]",	"true",
};

static const char *const bad_quotas[] = {
    "\"x\"",
    "[]",
    "{\"x64\":1}",
    "{\"x64.cpus\":1}",
    "{\"riscv64.vcpus\":1}",
    "{\"x64.vcpus\":-1}",
    "{\"x64.vcpus\":\"1\"}",
    "{\"x64.vcpus\":1.5}",
    "{\"i686.vcpus\":1}",
    "{\"$(id).vcpus\":1}",
    "{\"x64.vcpus\":1e12}",
    "{\"x64.vcpus\":1, \"x64.vms;id\":2}",
};

static char *long_value(enum kind k, size_t n)
{
	char *s = malloc(n + 8);
	size_t i = 0;
	s[i++] = '"';
	if (k == PATH)
		s[i++] = '/';
	while (i < n + 1)
		s[i++] = 'a';
	s[i++] = '"';
	s[i] = '\0';
	return s;
}

/* The base body (or {}) with field set to the raw JSON value. */
static char *body_with(const struct route *rt, const char *field, const char *value)
{
	cleanup_json json_t *doc = json_loads(rt->base ? rt->base : "{}", 0, NULL);
	json_t *v = json_loads(value, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
	if (!doc || !v) {
		fprintf(stderr, "test bug: bad JSON %s\n", value);
		abort();
	}
	json_object_set_new(doc, field, v);
	return json_dumps(doc, JSON_COMPACT);
}

static void expect_refused(const struct route *rt, const char *path, const char *body,
			   const char *what)
{
	cleanup_free char *before = api_fixture_digest(&fx);
	cleanup_free char *resp = NULL;
	int status = api_fixture_call(&fx, rt->method, path, body, body ? strlen(body) : 0, &resp);
	cleanup_free char *after = api_fixture_digest(&fx);
	cleanup_json json_t *doc = json_loads(resp, 0, NULL);
	const char *error = json_string_value(json_object_get(doc, "error"));
	if (status != 400 || !error || strcmp(error, "invalid") != 0 ||
	    strcmp(before, after) != 0) {
		fprintf(stderr, "  %s %s %s: %d %s%s\n", rt->method, path, what, status, resp,
			strcmp(before, after) ? " (and the database changed)" : "");
		t_failed_checks++;
	}
}

static void check_field(const struct route *rt, const struct field *f)
{
	const char *const *bad = bad_strings;
	size_t n = sizeof(bad_strings) / sizeof(*bad_strings);
	if (f->kind == PATH)
		bad = bad_paths, n = sizeof(bad_paths) / sizeof(*bad_paths);
	else if (f->kind == INT)
		bad = bad_ints, n = sizeof(bad_ints) / sizeof(*bad_ints);
	else if (f->kind == BOOL)
		bad = bad_bools, n = sizeof(bad_bools) / sizeof(*bad_bools);
	else if (f->kind == NUM)
		bad = bad_nums, n = sizeof(bad_nums) / sizeof(*bad_nums);
	else if (f->kind == ARCHES)
		bad = bad_arches, n = sizeof(bad_arches) / sizeof(*bad_arches);
	else if (f->kind == QUOTAS)
		bad = bad_quotas, n = sizeof(bad_quotas) / sizeof(*bad_quotas);
	for (size_t i = 0; i < n; i++) {
		cleanup_free char *body = body_with(rt, f->name, bad[i]);
		char what[128];
		snprintf(what, sizeof(what), "%s = %s", f->name, bad[i]);
		expect_refused(rt, rt->path, body, what);
	}
	if (f->kind == STR || f->kind == PATH) {
		/* Over every name/address limit (253), and over the path limit (1024). */
		size_t lengths[] = {1100, 4000, 60000, 256};
		for (size_t i = 0; i < sizeof(lengths) / sizeof(*lengths) - (f->kind == PATH);
		     i++) {
			cleanup_free char *value = long_value(f->kind, lengths[i]);
			cleanup_free char *body = body_with(rt, f->name, value);
			char what[128];
			snprintf(what, sizeof(what), "%s of %zu characters", f->name, lengths[i]);
			expect_refused(rt, rt->path, body, what);
		}
	}
}

/* The valid base body is not refused: what the checks refuse is the value. */
static void check_control(const struct route *rt)
{
	cleanup_free char *resp = NULL;
	int status = api_fixture_call(&fx, rt->method, rt->path, rt->base,
				      rt->base ? strlen(rt->base) : 0, &resp);
	if (status == 400 || (status >= 500 && status != 503)) { /* 503: no capacity */
		fprintf(stderr, "  control %s %s: %d %s\n", rt->method, rt->path, status, resp);
		t_failed_checks++;
	}
	if (rt->undo && status == 201)
		CHECK_INT(api_fixture_call(&fx, "DELETE", rt->undo, NULL, 0, NULL), 200);
}

static void test_every_field_is_checked(void)
{
	for (size_t r = 0; r < sizeof(routes) / sizeof(*routes); r++) {
		const struct route *rt = &routes[r];
		check_control(rt);
		for (const struct field *f = rt->fields; f->name; f++)
			check_field(rt, f);
	}
}

static void test_unknown_fields_are_refused(void)
{
	for (size_t r = 0; r < sizeof(routes) / sizeof(*routes); r++) {
		cleanup_free char *body = body_with(&routes[r], "colour", "\"blue\"");
		expect_refused(&routes[r], routes[r].path, body, "unknown field");
		cleanup_free char *evil = body_with(&routes[r], "$(id)", "1");
		expect_refused(&routes[r], routes[r].path, evil, "metacharacter field name");
	}
}

static void test_names_in_paths_are_checked(void)
{
	static const char *const names[] = {
	    "a;b",
	    "$(id)",
	    "a%20b",
	    "UPPER",
	    "-x",
	    "..",
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"};
	static const struct route named[] = {
	    {"PATCH", "/v1/hosts/%s", "{\"location\":\"hel2\"}", NULL, {{NULL, STR}}},
	    {"POST", "/v1/hosts/%s/set", "{\"location\":\"hel2\"}", NULL, {{NULL, STR}}},
	    {"POST", "/v1/vms/%s/stop", NULL, NULL, {{NULL, STR}}},
	    {"POST", "/v1/vms/%s/start", NULL, NULL, {{NULL, STR}}},
	    {"POST", "/v1/vms/%s/reboot", NULL, NULL, {{NULL, STR}}},
	    {"DELETE", "/v1/hosts/%s", NULL, NULL, {{NULL, STR}}},
	    {"DELETE", "/v1/vms/%s", NULL, NULL, {{NULL, STR}}},
	    {"PATCH", "/v1/projects/%s", "{\"quotas\":{\"x64.vms\":1}}", NULL, {{NULL, STR}}},
	    {"DELETE", "/v1/projects/%s", NULL, NULL, {{NULL, STR}}},
	    {"DELETE", "/v1/tokens/%s", NULL, NULL, {{NULL, STR}}},
	};
	for (size_t r = 0; r < sizeof(named) / sizeof(*named); r++)
		for (size_t i = 0; i < sizeof(names) / sizeof(*names); i++) {
			char path[256];
			const char *at = strstr(named[r].path, "%s");
			snprintf(path, sizeof(path), "%.*s%s%s", (int)(at - named[r].path),
				 named[r].path, names[i], at + 2);
			expect_refused(&named[r], path, named[r].base, "bad name in the path");
		}
}

static void test_malformed_bodies(void)
{
	static const char *const bodies[] = {"{", "[1]", "\"x\"", "null", "{\"a\":1,}", "\xff\xfe"};
	for (size_t r = 0; r < sizeof(routes) / sizeof(*routes); r++)
		for (size_t i = 0; i < sizeof(bodies) / sizeof(*bodies); i++)
			expect_refused(&routes[r], routes[r].path, bodies[i], bodies[i]);
}

int main(void)
{
	if (api_fixture_open(&fx, "/dev/shm") < 0)
		return 1;
	RUN(test_every_field_is_checked);
	RUN(test_unknown_fields_are_refused);
	RUN(test_names_in_paths_are_checked);
	RUN(test_malformed_bodies);
	api_fixture_close(&fx);
	return t_summary();
}
