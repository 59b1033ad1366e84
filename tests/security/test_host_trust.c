/*
 * What a client may make loamd trust about a host (issue 16, items 5 and
 * 6), attacked in process on a real SQLite database (api_fixture.h):
 *   - ssh_key and state_dir must sit under the operator's roots: a path
 *     outside them ("/etc/shadow", "/etc"), a symlink out of them, a
 *     directory and a missing file under them are refused with one and
 *     the same message, which names the roots, so the answer never tells
 *     whether a file exists; nothing is written;
 *   - --host-key: a valid key line is pinned before first contact (stored
 *     without its comment); a wrong type word, bad base64 or shell text is
 *     refused;
 *   - the pin at first contact changes exactly one row: a second
 *     connection that saw another key fails (LOAM_E_AUTH) and leaves the
 *     first key pinned; one that saw the same key goes on.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api_fixture.h"
#include "db/host.h"
#include "lib/cleanup.h"
#include "lib/json.h"
#include "t.h"

static struct api_fixture fx;

#define KEY_A "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDPaFECw+/jlEhDW3NeTe5FMBlDWHdVNmFyGyZl8BFxw"
#define KEY_B "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINEorOivLHljzqM5Z663Gv5/Z0/iFocA1H8231mhoe/5"

static char *detail_of(const char *resp)
{
	cleanup_json json_t *doc = json_loads(resp, 0, NULL);
	const char *d = json_string_value(json_object_get(doc, "detail"));
	return strdup(d ? d : "");
}

/* POST /v1/hosts with field = value (JSON); the status, *detail. */
static int add_host(const char *name, const char *field, const char *value, char **detail)
{
	char body[2048];
	snprintf(body, sizeof(body), "{\"address\":\"10.0.0.7\",\"name\":\"%s\",\"%s\":%s}", name,
		 field, value);
	cleanup_free char *resp = NULL;
	int status = api_fixture_call(&fx, "POST", "/v1/hosts", body, strlen(body), &resp);
	if (detail)
		*detail = detail_of(resp);
	return status;
}

static void expect_same_refusal(const char *field, const char *const *values, size_t n)
{
	cleanup_free char *first = NULL;
	for (size_t i = 0; i < n; i++) {
		cleanup_free char *before = api_fixture_digest(&fx);
		cleanup_free char *detail = NULL;
		char value[512];
		snprintf(value, sizeof(value), "\"%s\"", values[i]);
		int status = add_host("t1", field, value, &detail);
		cleanup_free char *after = api_fixture_digest(&fx);
		if (status != 400)
			fprintf(stderr, "  %s %s: %d %s\n", field, values[i], status, detail);
		CHECK_INT(status, 400);
		CHECK_STR(after, before);
		if (!first)
			first = strdup(detail);
		CHECK_STR(detail, first);
	}
	CHECK_CONTAINS(first, fx.dir);
	CHECK(!strstr(first, "No such file"));
}

static void test_ssh_key_under_roots(void)
{
	char key[400], link[400], missing[400];
	snprintf(key, sizeof(key), "%s/keys/id", fx.dir);
	snprintf(link, sizeof(link), "%s/keys/shadow", fx.dir);
	snprintf(missing, sizeof(missing), "%s/keys/missing", fx.dir);
	char dir[400];
	snprintf(dir, sizeof(dir), "%s/keys", fx.dir);
	CHECK(mkdir(dir, 0700) == 0);
	FILE *f = fopen(key, "w");
	CHECK(f != NULL);
	if (f) {
		fputs("-----BEGIN OPENSSH PRIVATE KEY-----\n", f);
		fclose(f);
	}
	CHECK(symlink("/etc/shadow", link) == 0);
	const char *const refused[] = {"/etc/shadow", missing, "/nonexistent/id_ed25519",
				       link,	      dir,     "/etc/passwd"};
	expect_same_refusal("ssh_key", refused, sizeof(refused) / sizeof(*refused));
	char value[512];
	snprintf(value, sizeof(value), "\"%s\"", key);
	CHECK_INT(add_host("t2", "ssh_key", value, NULL), 201);
}

static void test_state_dir_under_roots(void)
{
	const char *const refused[] = {"/etc", "/", "/var/lib/loam2", "/nonexistent/dir", "/root"};
	expect_same_refusal("state_dir", refused, sizeof(refused) / sizeof(*refused));
	char value[512];
	snprintf(value, sizeof(value), "\"%s/hosts/t3\"", fx.dir);
	CHECK_INT(add_host("t3", "state_dir", value, NULL), 201);
	CHECK_INT(add_host("t4", "state_dir", "\"/var/lib/loam\"", NULL), 201);
}

static void test_host_key_is_pinned_before_first_contact(void)
{
	CHECK_INT(add_host("k1", "host_key", "\"" KEY_A " root@example\"", NULL), 201);
	cleanup_free char *resp = NULL;
	CHECK_INT(api_fixture_call(&fx, "GET", "/v1/hosts/k1", NULL, 0, &resp), 200);
	cleanup_json json_t *doc = json_loads(resp, 0, NULL);
	CHECK_STR(json_string_value(json_object_get(doc, "host_key")), KEY_A);
	static const char *const bad[] = {
	    "\"ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIDPaFECw+/jlEhDW3NeTe5FMBlDWHdVNmFyGyZl8BFxw\"",
	    "\"ssh-ed25519 not*base64\"",
	    "\"ssh-ed25519\"",
	    "\"ssh-dss AAAAB3NzaC1kc3MAAACBAP\"",
	    "\"ssh-ed25519 AAAA;reboot\"",
	    "\"\"",
	    "42",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		cleanup_free char *before = api_fixture_digest(&fx);
		cleanup_free char *detail = NULL;
		CHECK_INT(add_host("k2", "host_key", bad[i], &detail), 400);
		cleanup_free char *after = api_fixture_digest(&fx);
		CHECK_STR(after, before);
	}
}

/* Two first contacts that loaded the host unpinned: the one whose update
 * changes the row wins; the other fails unless it saw the same key. */
static void test_pin_changes_exactly_one_row(void)
{
	CHECK_INT(add_host("race", "ssh_port", "22", NULL), 201);
	cleanup_host struct loam_host h = {0};
	cleanup_err loam_err err = NULL;
	CHECK_INT(loam_host_get_by_name(fx.db, "race", &h, &err), 1);
	CHECK(h.host_key == NULL);
	struct loam_db *other = NULL;
	CHECK_INT(loam_db_open(fx.db_url, &other, &err), 0);
	CHECK_INT(loam_host_pin_key(fx.db, h.id, KEY_A, &err), 0);
	CHECK_INT(loam_host_pin_key(other, h.id, KEY_B, &err), -1);
	CHECK_INT(loam_err_kind_of(err), LOAM_E_AUTH);
	CHECK_CONTAINS(loam_err_msg(err), "changed during first contact");
	loam_err_free(&err);
	CHECK_INT(loam_host_pin_key(other, h.id, KEY_A, &err), 0);
	cleanup_host struct loam_host after = {0};
	CHECK_INT(loam_host_get_by_name(fx.db, "race", &after, &err), 1);
	CHECK_STR(after.host_key, KEY_A);
	loam_db_close(other);
}

int main(void)
{
	const char *const key_roots[] = {"@", NULL};
	const char *const state_roots[] = {"/var/lib/loam", "@", NULL};
	if (api_fixture_open_roots(&fx, "/dev/shm", key_roots, state_roots) < 0)
		return 1;
	RUN(test_ssh_key_under_roots);
	RUN(test_state_dir_under_roots);
	RUN(test_host_key_is_pinned_before_first_contact);
	RUN(test_pin_changes_exactly_one_row);
	api_fixture_close(&fx);
	return t_summary();
}
