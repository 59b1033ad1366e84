/*
 * Projects and their tokens attacked in process (issue 16, items 1 and
 * 2), on a real SQLite database through loam_api_handle (api_fixture.h):
 *   - a project token lists, shows, stops, starts, reboots and destroys
 *     only its project's VMs; another project's VM gets exactly the answer
 *     a VM that does not exist gets (404), names are per project, and the
 *     operator's routes look like unknown paths;
 *   - the operator sees every project's VMs and may act on them;
 *   - a revoked token gets 401 at its very next request; a metrics token
 *     reaches no /v1 route;
 *   - with a quota of 4 arm64 vCPUs a second arm64 standard-4 VM is refused
 *     with the used, asked and limit figures, writing nothing, while an x64
 *     VM is still accepted; project show reports the usage.
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

struct token {
	char auth[128];
	char id[32];
};

static json_t *call_json(const char *auth, const char *method, const char *path, const char *body,
			 int *status)
{
	cleanup_free char *resp = NULL;
	*status = api_fixture_call_as(&fx, auth, method, path, body, &resp);
	return json_loads(resp ? resp : "null", JSON_DECODE_ANY, NULL);
}

static int status_of(const char *auth, const char *method, const char *path, const char *body)
{
	int status = 0;
	json_decref(call_json(auth, method, path, body, &status));
	return status;
}

static const char *operator(void)
{
	return "Bearer " API_FIXTURE_TOKEN;
}

static void make_project(const char *name, struct token *t)
{
	char body[128];
	snprintf(body, sizeof(body), "{\"name\":\"%s\"}", name);
	CHECK_INT(status_of(operator(), "POST", "/v1/projects", body), 201);
	snprintf(body, sizeof(body), "{\"project\":\"%s\"}", name);
	int status = 0;
	cleanup_json json_t *doc = call_json(operator(), "POST", "/v1/tokens", body, &status);
	CHECK_INT(status, 201);
	snprintf(t->auth, sizeof(t->auth), "Bearer %s",
		 json_string_value(json_object_get(doc, "token")));
	snprintf(t->id, sizeof(t->id), "%s", json_string_value(json_object_get(doc, "id")));
	CHECK_INT(strlen(t->auth), 7 + 69);
}

static int create_vm(const char *auth, const char *name, const char *arch, const char *size,
		     char **detail)
{
	char body[256];
	snprintf(body, sizeof(body), "{\"name\":\"%s\",\"arch\":\"%s\",\"size\":\"%s\"}", name,
		 arch, size);
	int status = 0;
	cleanup_json json_t *doc = call_json(auth, "POST", "/v1/vms", body, &status);
	if (detail) {
		const char *d = json_string_value(json_object_get(doc, "detail"));
		*detail = strdup(d ? d : "");
	}
	return status;
}

/* pattern with its "%s" replaced by name. */
static void fill(char *out, size_t size, const char *pattern, const char *name)
{
	const char *at = strstr(pattern, "%s");
	snprintf(out, size, "%.*s%s%s", (int)(at - pattern), pattern, name, at + 2);
}

/* The same status and body for path and for its twin that names nothing. */
static void same_as_missing(const char *auth, const char *method, const char *pattern,
			    const char *name, const char *missing)
{
	char path[256], ghost[256];
	fill(path, sizeof(path), pattern, name);
	fill(ghost, sizeof(ghost), pattern, missing);
	cleanup_free char *a = NULL, *b = NULL;
	int sa = api_fixture_call_as(&fx, auth, method, path, NULL, &a);
	int sb = api_fixture_call_as(&fx, auth, method, ghost, NULL, &b);
	CHECK_INT(sa, 404);
	CHECK_INT(sb, 404);
	/* the names differ; everything else must not */
	char *at = a ? strstr(a, name) : NULL;
	char *bt = b ? strstr(b, missing) : NULL;
	if (at && bt) {
		memmove(at, at + strlen(name), strlen(at + strlen(name)) + 1);
		memmove(bt, bt + strlen(missing), strlen(bt + strlen(missing)) + 1);
	}
	CHECK_STR(a, b);
}

static struct token ta, tb;

static void test_isolation(void)
{
	make_project("a", &ta);
	make_project("b", &tb);
	CHECK_INT(create_vm(ta.auth, "web", "x64", "standard-2", NULL), 201);
	CHECK_INT(create_vm(tb.auth, "web", "x64", "standard-2", NULL), 201);
	CHECK_INT(create_vm(tb.auth, "only-b", "x64", "standard-2", NULL), 201);
	CHECK_INT(create_vm(tb.auth, "only-b", "x64", "standard-2", NULL), 409);
	int status = 0;
	cleanup_json json_t *list = call_json(ta.auth, "GET", "/v1/vms", NULL, &status);
	CHECK_INT(status, 200);
	CHECK_INT(json_array_size(list), 1);
	CHECK_STR(json_string_value(json_object_get(json_array_get(list, 0), "project")), "a");
	static const char *const verbs[][2] = {
	    {"GET", "/v1/vms/%s"},	  {"POST", "/v1/vms/%s/stop"},
	    {"POST", "/v1/vms/%s/start"}, {"POST", "/v1/vms/%s/reboot"},
	    {"DELETE", "/v1/vms/%s"},	  {"GET", "/v1/vms/%s?project=b"}};
	for (size_t i = 0; i < sizeof(verbs) / sizeof(*verbs); i++) {
		same_as_missing(ta.auth, verbs[i][0], verbs[i][1], "only-b", "no-such-vm");
		same_as_missing(ta.auth, verbs[i][0], verbs[i][1], "v1", "no-such-vm");
	}
	same_as_missing(ta.auth, "GET", "/v1/projects/%s", "b", "zz");
	same_as_missing(ta.auth, "GET", "/v1/projects/%s", "default", "zz");
	CHECK_INT(status_of(ta.auth, "GET", "/v1/projects/a", NULL), 200);
	/* b's VMs are all still there */
	cleanup_json json_t *blist = call_json(tb.auth, "GET", "/v1/vms", NULL, &status);
	CHECK_INT(json_array_size(blist), 2);
}

static void test_operator_routes_look_unknown(void)
{
	cleanup_free char *unknown = NULL;
	CHECK_INT(api_fixture_call_as(&fx, ta.auth, "GET", "/v1/nothing", NULL, &unknown), 404);
	static const char *const routes[][2] = {
	    {"GET", "/v1/hosts"},
	    {"GET", "/v1/hosts/h1"},
	    {"POST", "/v1/hosts"},
	    {"DELETE", "/v1/hosts/h1"},
	    {"GET", "/v1/strands"},
	    {"GET", "/v1/artifacts"},
	    {"POST", "/v1/artifacts/gc"},
	    {"GET", "/v1/projects"},
	    {"POST", "/v1/projects"},
	    {"PATCH", "/v1/projects/a"},
	    {"DELETE", "/v1/projects/a"},
	    {"GET", "/v1/tokens"},
	    {"POST", "/v1/tokens"},
	    {"DELETE", "/v1/tokens/x"},
	    {"POST", "/v1/hosts/h1/upgrade"},
	};
	for (size_t i = 0; i < sizeof(routes) / sizeof(*routes); i++) {
		cleanup_free char *resp = NULL;
		CHECK_INT(
		    api_fixture_call_as(&fx, ta.auth, routes[i][0], routes[i][1], "{}", &resp),
		    404);
		CHECK_STR(resp, unknown);
	}
}

static void test_operator_sees_all(void)
{
	int status = 0;
	cleanup_json json_t *list = call_json(operator(), "GET", "/v1/vms", NULL, &status);
	CHECK_INT(json_array_size(list), 4); /* v1, web (a), web (b), only-b */
	CHECK_INT(status_of(operator(), "GET", "/v1/vms/web", NULL), 409);
	CHECK_INT(status_of(operator(), "GET", "/v1/vms/web?project=b", NULL), 200);
	CHECK_INT(status_of(operator(), "GET", "/v1/vms/only-b", NULL), 200);
	cleanup_json json_t *one = call_json(operator(), "GET", "/v1/vms?limit=1", NULL, &status);
	CHECK_INT(json_array_size(one), 1);
	int code = status_of(operator(), "DELETE", "/v1/vms/only-b", NULL);
	CHECK(code == 200 || code == 202);
	CHECK_INT(status_of(operator(), "DELETE", "/v1/projects/b", NULL), 409);
	CHECK_INT(status_of(operator(), "DELETE", "/v1/projects/default", NULL), 409);
}

static void test_revoked_token_is_refused_at_once(void)
{
	CHECK_INT(status_of(ta.auth, "GET", "/v1/vms", NULL), 200);
	char path[64];
	snprintf(path, sizeof(path), "/v1/tokens/%s", ta.id);
	CHECK_INT(status_of(operator(), "DELETE", path, NULL), 200);
	cleanup_free char *revoked = NULL, *wrong = NULL;
	CHECK_INT(api_fixture_call_as(&fx, ta.auth, "GET", "/v1/vms", NULL, &revoked), 401);
	char bogus[128];
	snprintf(bogus, sizeof(bogus), "%s", ta.auth);
	bogus[strlen(bogus) - 1] = bogus[strlen(bogus) - 1] == '0' ? '1' : '0';
	CHECK_INT(api_fixture_call_as(&fx, bogus, "GET", "/v1/vms", NULL, &wrong), 401);
	CHECK_STR(revoked, wrong);
	CHECK_INT(status_of(operator(), "DELETE", path, NULL), 404);
	CHECK_INT(status_of(tb.auth, "GET", "/v1/vms", NULL), 200);
}

static void test_metrics_token_reaches_no_route(void)
{
	int status = 0;
	cleanup_json json_t *doc =
	    call_json(operator(), "POST", "/v1/tokens", "{\"metrics\":true}", &status);
	CHECK_INT(status, 201);
	char auth[128];
	snprintf(auth, sizeof(auth), "Bearer %s", json_string_value(json_object_get(doc, "token")));
	CHECK_INT(status_of(auth, "GET", "/v1/vms", NULL), 404);
	CHECK_INT(status_of(auth, "GET", "/v1/sizes", NULL), 404);
	CHECK_INT(status_of(auth, "GET", "/v1/hosts", NULL), 404);
}

static void test_quota_per_arch(void)
{
	struct token tq = {0};
	make_project("q", &tq);
	CHECK_INT(
	    status_of(operator(), "PATCH", "/v1/projects/q", "{\"quotas\":{\"arm64.vcpus\":4}}"),
	    200);
	CHECK_INT(create_vm(tq.auth, "q1", "arm64", "standard-4", NULL), 201);
	cleanup_free char *before = api_fixture_digest(&fx);
	cleanup_free char *detail = NULL;
	CHECK_INT(create_vm(tq.auth, "q2", "aarch64", "standard-4", &detail), 403);
	cleanup_free char *after = api_fixture_digest(&fx);
	CHECK_STR(after, before);
	CHECK_CONTAINS(detail, "arm64 vcpus quota");
	CHECK_CONTAINS(detail, "used 4, asked 4, limit 4");
	CHECK_INT(create_vm(tq.auth, "q3", "x64", "standard-4", NULL), 201);
	int status = 0;
	cleanup_json json_t *p = call_json(tq.auth, "GET", "/v1/projects/q", NULL, &status);
	CHECK_INT(status, 200);
	size_t i;
	json_t *row;
	int seen = 0;
	json_array_foreach(json_object_get(p, "quotas"), i, row)
	{
		const char *arch = json_string_value(json_object_get(row, "arch"));
		const char *res = json_string_value(json_object_get(row, "resource"));
		if (strcmp(arch, "arm64") == 0 && strcmp(res, "vcpus") == 0) {
			CHECK_INT(json_integer_value(json_object_get(row, "used")), 4);
			CHECK_INT(json_integer_value(json_object_get(row, "limit")), 4);
			seen++;
		}
		if (strcmp(arch, "x64") == 0 && strcmp(res, "vcpus") == 0) {
			CHECK_INT(json_integer_value(json_object_get(row, "used")), 4);
			CHECK(json_is_null(json_object_get(row, "limit")));
			seen++;
		}
	}
	CHECK_INT(seen, 2);
	/* the operator lifts the limit: the create goes through */
	CHECK_INT(
	    status_of(operator(), "PATCH", "/v1/projects/q", "{\"quotas\":{\"arm64.vcpus\":null}}"),
	    200);
	CHECK_INT(create_vm(tq.auth, "q2", "arm64", "standard-4", NULL), 201);
}

int main(void)
{
	if (api_fixture_open(&fx, "/dev/shm") < 0)
		return 1;
	RUN(test_isolation);
	RUN(test_operator_routes_look_unknown);
	RUN(test_operator_sees_all);
	RUN(test_revoked_token_is_refused_at_once);
	RUN(test_metrics_token_reaches_no_route);
	RUN(test_quota_per_arch);
	api_fixture_close(&fx);
	return t_summary();
}
