/*
 * Unit tests of the API's request pipeline that need no database: the
 * constant-time token check (401 for every wrong shape), routing errors,
 * the --listen parser, and loamd's token file (0600, reused, refused when
 * others can read it). One test takes a real SQLite file: the change hook
 * that wakes loamd's engine runs after state-changing requests only.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/api.h"
#include "db/db.h"
#include "lib/cleanup.h"
#include "lib/fs.h"
#include "lib/spawn.h"
#include "loamd/loamd.h"
#include "progs/progs.h"
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
	/* The query is checked before any database is needed. */
	const char *bad_queries[] = {
	    "/v1/vms?limit=0",	   "/v1/vms?limit=1001",  "/v1/vms?limit=x",
	    "/v1/vms?colour=blue", "/v1/vms?after=a%00b", "/v1/vms?after=a;b",
	    "/v1/vms?project=A;B", "/v1/vms?limit",	  "/v1/vms?after=%zz"};
	for (size_t i = 0; i < sizeof(bad_queries) / sizeof(*bad_queries); i++)
		CHECK_INT(status_of(api, "GET", bad_queries[i], auth), 400);
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

static int parse_opts(const char *a, const char *b, struct loamd_opts *o, loam_err *err)
{
	char *argv[] = {"loamd", (char *)a, (char *)b, NULL};
	return loamd_parse_opts(a ? 3 : 1, argv, o, err);
}

static void test_loamd_lease_and_workers_options(void)
{
	struct loamd_opts o;
	cleanup_err loam_err err = NULL;
	CHECK(parse_opts(NULL, NULL, &o, &err) == 0);
	CHECK_INT(o.workers, 4);
	CHECK_INT(o.lease_s, 30);
	loamd_free_opts(&o);
	CHECK(parse_opts("--lease-s", "10", &o, &err) == 0);
	CHECK_INT(o.lease_s, 10);
	loamd_free_opts(&o);
	const char *bad[] = {"4", "3601", "10s", ""};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK(parse_opts("--lease-s", bad[i], &o, &err) < 0);
		CHECK_CONTAINS(loam_err_msg(err), "--lease-s must be a number from 5 to 3600");
		loam_err_free(&err);
		loamd_free_opts(&o);
	}
}

static int parse_argv(int argc, char **argv, struct loamd_opts *o, loam_err *err)
{
	return loamd_parse_opts(argc, argv, o, err);
}

static void test_loamd_guard_options(void)
{
	struct loamd_opts o;
	cleanup_err loam_err err = NULL;
	char *good[] = {"loamd",
			"--tls-cert",
			"/c.pem",
			"--tls-key",
			"/k.pem",
			"--insecure-listen",
			"--artifact-listen",
			"127.0.0.1:0",
			"--host-state-root",
			"/srv/loam",
			"--host-state-root",
			"/var/lib/loam",
			"--ssh-key-root",
			"/etc/loam/keys",
			"--create-rate",
			"0.5",
			"--create-burst",
			"3",
			"--max-conns-per-ip",
			"8",
			NULL};
	CHECK_INT(parse_argv((int)(sizeof(good) / sizeof(*good)) - 1, good, &o, &err), 0);
	CHECK_STR(o.tls_cert, "/c.pem");
	CHECK(o.insecure_listen);
	CHECK_INT(o.host_state_roots.n, 2);
	CHECK_STR(o.ssh_key_roots.v[0], "/etc/loam/keys");
	CHECK(o.create_per_s > 0.49 && o.create_per_s < 0.51);
	CHECK_INT(o.create_burst, 3);
	CHECK_INT(o.per_ip_connections, 8);
	loamd_free_opts(&o);
	const char *bad[][2] = {{"--create-rate", "0"},	   {"--create-rate", "x"},
				{"--create-burst", "0"},   {"--max-conns-per-ip", "0"},
				{"--ssh-key-root", "rel"}, {"--host-state-root", "/a;b"}};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		char *argv[] = {"loamd", (char *)bad[i][0], (char *)bad[i][1], NULL};
		CHECK(parse_argv(3, argv, &o, &err) < 0);
		loam_err_free(&err);
		loamd_free_opts(&o);
	}
}

/* The token never crosses the network in clear text unless asked. */
static void test_listen_policy(void)
{
	struct {
		const char *listen;
		bool tls, insecure, ok;
	} cases[] = {
	    {"127.0.0.1:7070", false, false, true}, {"127.9.9.9:1", false, false, true},
	    {"[::1]:7070", false, false, true},	    {"0.0.0.0:7070", false, false, false},
	    {"10.1.2.3:7070", false, false, false}, {"[::]:7070", false, false, false},
	    {"0.0.0.0:7070", true, false, true},    {"0.0.0.0:7070", false, true, true},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		struct loamd_opts o = {.listen = (char *)cases[i].listen,
				       .tls_cert = cases[i].tls ? "/c" : NULL,
				       .tls_key = cases[i].tls ? "/k" : NULL,
				       .insecure_listen = cases[i].insecure};
		cleanup_err loam_err err = NULL;
		CHECK_INT(loamd_check_listen(&o, &err) == 0, cases[i].ok);
		if (!cases[i].ok) {
			CHECK_CONTAINS(loam_err_msg(err), "clear text");
			CHECK_CONTAINS(loam_err_msg(err), "--insecure-listen");
			CHECK_CONTAINS(loam_err_msg(err), "--tls-cert");
		}
	}
	struct loamd_opts half = {.listen = "127.0.0.1:1", .tls_cert = "/c"};
	cleanup_err loam_err err = NULL;
	CHECK(loamd_check_listen(&half, &err) < 0);
}

static int call(struct loam_api *api, const char *method, const char *path, const char *body)
{
	char auth[80];
	snprintf(auth, sizeof(auth), "Bearer %s", token);
	struct loam_api_response resp = {0};
	loam_api_handle(api, method, path, auth, body, body ? strlen(body) : 0, &resp);
	if (resp.status >= 400)
		fprintf(stderr, "%s %s -> %d %s\n", method, path, resp.status, resp.body);
	free(resp.body);
	return resp.status;
}

static void count_change(void *arg)
{
	(*(int *)arg)++;
}

static void test_change_hook_runs_after_writes_only(void)
{
	char dir[] = "/tmp/loam-api-hook-XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	cleanup_free char *url = NULL;
	CHECK(asprintf(&url, "sqlite:%s/loam.db", dir) > 0);
	cleanup_err loam_err err = NULL;
	struct loam_db *db = NULL;
	CHECK(loam_db_open(url, &db, &err) == 0 && loam_db_migrate(db, &err) == 0);
	loam_db_close(db);
	loam_progs_register_all(); /* the strands are created, never run */
	struct loam_api_config cfg = {.state_dir = dir, .db_url = url, .token = token};
	struct loam_api *api = NULL;
	CHECK(loam_api_new(&cfg, &api, &err) == 0);
	int changes = 0;
	loam_api_on_change(api, count_change, &changes);
	CHECK_INT(call(api, "GET", "/v1/hosts", NULL), 200);
	CHECK_INT(call(api, "POST", "/v1/hosts", "{\"local\": 7}"), 400);
	CHECK_INT(changes, 0);
	CHECK_INT(call(api, "POST", "/v1/hosts", "{\"local\": true, \"name\": \"h1\"}"), 201);
	CHECK_INT(changes, 1);
	CHECK_INT(call(api, "GET", "/v1/hosts/h1", NULL), 200);
	CHECK_INT(changes, 1);
	loam_api_on_change(api, NULL, NULL);
	CHECK_INT(call(api, "PATCH", "/v1/hosts/h1", "{\"allow_tcg\": true}"), 200);
	CHECK_INT(changes, 1);
	loam_api_free(api);
	const char *rm[] = {"rm", "-rf", dir, NULL};
	struct loam_spawn_opts o = {.argv = rm, .timeout_ms = 30000};
	struct loam_spawn_result r;
	CHECK(loam_spawn_ok(&o, &r, &err) == 0);
	loam_spawn_result_free(&r);
}

int main(void)
{
	RUN(test_auth_refuses_wrong_tokens);
	RUN(test_routing_errors_need_no_database);
	RUN(test_parse_listen);
	RUN(test_token_file);
	RUN(test_change_hook_runs_after_writes_only);
	RUN(test_loamd_lease_and_workers_options);
	RUN(test_loamd_guard_options);
	RUN(test_listen_policy);
	return t_summary();
}
