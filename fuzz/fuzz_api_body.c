/*
 * Fuzzes every API request body: the first input byte picks a POST/PATCH
 * route, the rest is the body, and the request runs through
 * loam_api_handle() on a real SQLite database (tests/security/api_fixture).
 * Whatever the body, the answer is a JSON document with a 2xx or 4xx
 * status (never 500 or a crash), an error carries "error" and "detail",
 * and a refused request leaves every table exactly as it was. What a
 * request creates is removed again so that the state stays small.
 */
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_fixture.h"
#include "lib/cleanup.h"
#include "lib/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct api_fixture fx;
static bool fx_open;

struct route {
	const char *method, *path, *undo_prefix; /* undo: DELETE prefix/<name> on 201 */
};

static const struct route routes[] = {
    {"POST", "/v1/hosts", "/v1/hosts/"}, {"PATCH", "/v1/hosts/h1", NULL},
    {"POST", "/v1/hosts/h1/set", NULL},	 {"POST", "/v1/vms", "/v1/vms/"},
    {"POST", "/v1/vms/v1/stop", NULL},	 {"POST", "/v1/vms/v1/start", NULL},
    {"POST", "/v1/vms/v1/reboot", NULL}, {"PATCH", "/v1/hosts/nohost", NULL},
};

static void close_fixture(void)
{
	if (fx_open)
		api_fixture_close(&fx);
}

static void check_response(int status, const char *body)
{
	json_error_t jerr;
	cleanup_json json_t *doc = json_loads(body, JSON_DECODE_ANY, &jerr);
	if (!doc || status < 200 || status >= 500) {
		fprintf(stderr, "status %d body %s\n", status, body);
		abort();
	}
	if (status >= 400 && (!json_is_string(json_object_get(doc, "error")) ||
			      !json_is_string(json_object_get(doc, "detail"))))
		abort();
}

/* Removes what a successful create made, so each input starts alike. */
static void undo(const struct route *rt, const char *body)
{
	cleanup_json json_t *doc = json_loads(body, 0, NULL);
	const char *name = json_string_value(json_object_get(doc, "name"));
	if (!name)
		abort();
	char path[256];
	snprintf(path, sizeof(path), "%s%s", rt->undo_prefix, name);
	int status = api_fixture_call(&fx, "DELETE", path, NULL, 0, NULL);
	if (status != 200 && status != 202)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!fx_open) {
		if (api_fixture_open(&fx, "/dev/shm") < 0)
			abort();
		fx_open = true;
		atexit(close_fixture);
	}
	if (size == 0)
		return 0;
	const struct route *rt = &routes[data[0] % (sizeof(routes) / sizeof(routes[0]))];
	cleanup_free char *before = api_fixture_digest(&fx);
	cleanup_free char *body = NULL;
	int status =
	    api_fixture_call(&fx, rt->method, rt->path, (const char *)data + 1, size - 1, &body);
	check_response(status, body);
	if (status >= 400) {
		cleanup_free char *after = api_fixture_digest(&fx);
		if (strcmp(before, after) != 0) {
			fprintf(stderr, "refused %s %s (%d) changed the database\n", rt->method,
				rt->path, status);
			abort();
		}
	} else if (status == 201 && rt->undo_prefix) {
		undo(rt, body);
	}
	return 0;
}
