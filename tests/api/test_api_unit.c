/*
 * Unit tests of the API's request pipeline that need no database: the
 * constant-time token check (401 for every wrong shape), routing errors,
 * the --listen parser, and loamd's token file (0600, reused, refused when
 * others can read it).
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/api.h"
#include "lib/cleanup.h"
#include "lib/fs.h"
#include "loamd/loamd.h"
#include "t.h"

static const char token[] = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

static int status_of(struct loam_api *api, const char *method, const char *path, const char *auth)
{
	struct loam_api_response resp = {0};
	loam_api_handle(api, method, path, auth, NULL, 0, &resp);
	CHECK(resp.body && resp.body[0] == '{');
	free(resp.body);
	return resp.status;
}

static struct loam_api *new_api(void)
{
	struct loam_api_config cfg = {
	    .state_dir = "/nonexistent", .db_url = "sqlite:/nonexistent/loam.db", .token = token};
	struct loam_api *api = NULL;
	cleanup_err loam_err err = NULL;
	CHECK(loam_api_new(&cfg, &api, &err) == 0);
	return api;
}

static void test_auth_refuses_wrong_tokens(void)
{
	struct loam_api *api = new_api();
	char wrong[80], longer[80];
	snprintf(wrong, sizeof(wrong), "Bearer %s", token);
	wrong[7] = '9';
	snprintf(longer, sizeof(longer), "Bearer %s0", token);
	const char *cases[] = {NULL,   "",	  "Bearer ", "Bearer 0011",    wrong,
			       longer, "Basic x", token,     "bearer 00112233"};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		CHECK_INT(status_of(api, "GET", "/v1/hosts", cases[i]), 401);
	loam_api_free(api);
}

static void test_routing_errors_need_no_database(void)
{
	struct loam_api *api = new_api();
	char auth[80];
	snprintf(auth, sizeof(auth), "Bearer %s", token);
	CHECK_INT(status_of(api, "GET", "/v2/hosts", auth), 404);
	CHECK_INT(status_of(api, "GET", "/v1/nothing", auth), 404);
	CHECK_INT(status_of(api, "PUT", "/v1/hosts", auth), 400);
	CHECK_INT(status_of(api, "GET", "/v1/hosts/a;b", auth), 400);
	CHECK_INT(status_of(api, "GET", "/v1/hosts/a/b/c/d/e", auth), 404);
	loam_api_free(api);
}

static void test_parse_listen(void)
{
	char addr[64];
	uint16_t port = 0;
	cleanup_err loam_err err = NULL;
	CHECK(loam_api_parse_listen("127.0.0.1:7070", addr, sizeof(addr), &port, &err) == 0);
	CHECK_STR(addr, "127.0.0.1");
	CHECK_INT(port, 7070);
	CHECK(loam_api_parse_listen("[::1]:0", addr, sizeof(addr), &port, &err) == 0);
	CHECK_STR(addr, "::1");
	CHECK_INT(port, 0);
	const char *bad[] = {"7070", "127.0.0.1:", ":7070", "127.0.0.1:70000", "1.2.3.4:x"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK(loam_api_parse_listen(bad[i], addr, sizeof(addr), &port, &err) < 0);
		CHECK_INT(loam_err_kind_of(err), LOAM_E_INVALID);
	}
}

static void test_token_file(void)
{
	char dir[] = "/tmp/loam-token-XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	cleanup_free char *path = NULL;
	CHECK(asprintf(&path, "%s/token", dir) > 0);
	cleanup_err loam_err err = NULL;
	cleanup_free char *first = NULL, *second = NULL;
	CHECK(loamd_token_load_or_create(dir, &first, &err) == 0);
	CHECK_INT(strlen(first), 64);
	struct stat st;
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
	CHECK(loamd_token_load_or_create(dir, &second, &err) == 0);
	CHECK_STR(second, first);
	chmod(path, 0644);
	char *third = NULL;
	CHECK(loamd_token_load_or_create(dir, &third, &err) < 0);
	CHECK_CONTAINS(loam_err_msg(err), "chmod 600");
	free(third);
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	RUN(test_auth_refuses_wrong_tokens);
	RUN(test_routing_errors_need_no_database);
	RUN(test_parse_listen);
	RUN(test_token_file);
	return t_summary();
}
