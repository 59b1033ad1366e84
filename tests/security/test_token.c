/*
 * The API token (issue 7, security), by behaviour:
 *   - the token file is written with mode 0600 (even under umask 0), holds
 *     64 hex characters, is reused on the next start, and a token file that
 *     others can read is refused;
 *   - requests without the token, with a wrong one of the same length
 *     (first, middle or last character off), a prefix, a longer one, other
 *     schemes or an empty one get 401 with one and the same error body;
 *   - the comparison is constant time in the token's content: CRYPTO_memcmp
 *     (wrapped here with -Wl,--wrap) runs exactly once over all 64 bytes for
 *     every same-length candidate, right or wrong, and never for a
 *     candidate of another length (the length check comes first and leaks
 *     only the length, which is public).
 * tests/security/token_source.sh checks the same at the source level.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api_fixture.h"
#include "lib/cleanup.h"
#include "loamd/loamd.h"
#include "t.h"

int __wrap_CRYPTO_memcmp(const void *a, const void *b, size_t len);
int __real_CRYPTO_memcmp(const void *a, const void *b, size_t len);

static int memcmp_calls;
static size_t memcmp_len;

int __wrap_CRYPTO_memcmp(const void *a, const void *b, size_t len)
{
	memcmp_calls++;
	memcmp_len = len;
	return __real_CRYPTO_memcmp(a, b, len);
}

static struct api_fixture fx;

static int call(const char *auth, char **body)
{
	struct loam_api_response resp = {0};
	loam_api_handle(fx.api, "GET", "/v1/hosts", auth, NULL, 0, &resp);
	*body = resp.body;
	return resp.status;
}

static void test_right_token(void)
{
	memcmp_calls = 0;
	cleanup_free char *body = NULL;
	CHECK_INT(call("Bearer " API_FIXTURE_TOKEN, &body), 200);
	CHECK_INT(memcmp_calls, 1);
	CHECK_INT(memcmp_len, 64);
}

static char *with_char(size_t at)
{
	char *t = strdup("Bearer " API_FIXTURE_TOKEN);
	char *c = t + 7 + at;
	*c = *c == 'f' ? '0' : 'f';
	return t;
}

static void test_wrong_same_length(void)
{
	size_t positions[] = {0, 1, 31, 32, 62, 63};
	cleanup_free char *first_body = NULL;
	for (size_t i = 0; i < sizeof(positions) / sizeof(*positions); i++) {
		cleanup_free char *auth = with_char(positions[i]);
		cleanup_free char *body = NULL;
		memcmp_calls = 0;
		CHECK_INT(call(auth, &body), 401);
		CHECK_INT(memcmp_calls, 1);
		CHECK_INT(memcmp_len, 64);
		CHECK_CONTAINS(body, "unauthorized");
		if (!first_body)
			first_body = strdup(body);
		CHECK_STR(body, first_body);
	}
	static const char all_wrong[] =
	    "Bearer ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff";
	cleanup_free char *body = NULL;
	memcmp_calls = 0;
	CHECK_INT(call(all_wrong, &body), 401);
	CHECK_INT(memcmp_calls, 1);
	CHECK_STR(body, first_body);
}

static void test_other_lengths_and_schemes(void)
{
	static const char *const cases[] = {
	    NULL,
	    "",
	    "Bearer ",
	    "Bearer 0",
	    "Bearer 0123456789abcdef0123456789abcdef",
	    "Bearer " API_FIXTURE_TOKEN "0",
	    "Bearer " API_FIXTURE_TOKEN " ",
	    "Bearer  " API_FIXTURE_TOKEN,
	    "bearer " API_FIXTURE_TOKEN,
	    "Basic " API_FIXTURE_TOKEN,
	    API_FIXTURE_TOKEN,
	    "Bearer 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdeF",
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		cleanup_free char *body = NULL;
		memcmp_calls = 0;
		int status = call(cases[i], &body);
		if (status != 401)
			fprintf(stderr, "  auth '%s': %d\n", cases[i] ? cases[i] : "(none)",
				status);
		CHECK_INT(status, 401);
		CHECK_CONTAINS(body, "unauthorized");
		/* Only the last case has the token's length. */
		CHECK_INT(memcmp_calls, i + 1 == sizeof(cases) / sizeof(*cases) ? 1 : 0);
	}
}

static void test_every_route_needs_the_token(void)
{
	static const char *const routes[][2] = {
	    {"GET", "/v1/hosts"},	 {"POST", "/v1/hosts"},	       {"GET", "/v1/hosts/h1"},
	    {"PATCH", "/v1/hosts/h1"},	 {"DELETE", "/v1/hosts/h1"},   {"GET", "/v1/vms"},
	    {"POST", "/v1/vms"},	 {"GET", "/v1/vms/v1"},	       {"DELETE", "/v1/vms/v1"},
	    {"POST", "/v1/vms/v1/stop"}, {"GET", "/v1/sizes"},	       {"GET", "/v1/strands"},
	    {"GET", "/v1/nothing"},	 {"POST", "/v1/hosts/h1/set"},
	};
	cleanup_free char *before = api_fixture_digest(&fx);
	cleanup_free char *wrong = with_char(10);
	for (size_t i = 0; i < sizeof(routes) / sizeof(*routes); i++) {
		struct loam_api_response resp = {0};
		static const char body[] = "{\"local\":true}";
		loam_api_handle(fx.api, routes[i][0], routes[i][1], wrong, body, strlen(body),
				&resp);
		if (resp.status != 401)
			fprintf(stderr, "  %s %s: %d\n", routes[i][0], routes[i][1], resp.status);
		CHECK_INT(resp.status, 401);
		free(resp.body);
	}
	cleanup_free char *after = api_fixture_digest(&fx);
	CHECK_STR(after, before);
}

static void test_token_file(void)
{
	char dir[] = "/tmp/loam-token-XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	mode_t old = umask(0);
	cleanup_free char *tok = NULL;
	cleanup_err loam_err err = NULL;
	CHECK_INT(loamd_token_load_or_create(dir, &tok, &err), 0);
	umask(old);
	char path[128];
	snprintf(path, sizeof(path), "%s/token", dir);
	struct stat st;
	CHECK_INT(stat(path, &st), 0);
	CHECK_INT(st.st_mode & 0777, 0600);
	CHECK(tok && strlen(tok) == 64 && strspn(tok, "0123456789abcdef") == 64);
	cleanup_free char *again = NULL;
	CHECK_INT(loamd_token_load_or_create(dir, &again, &err), 0);
	CHECK_STR(again, tok);
	CHECK_INT(chmod(path, 0644), 0);
	cleanup_free char *refused = NULL;
	CHECK_INT(loamd_token_load_or_create(dir, &refused, &err), -1);
	CHECK(err && strstr(loam_err_msg(err), "chmod 600"));
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	if (api_fixture_open(&fx, "/dev/shm") < 0)
		return 1;
	RUN(test_right_token);
	RUN(test_wrong_same_length);
	RUN(test_other_lengths_and_schemes);
	RUN(test_every_route_needs_the_token);
	RUN(test_token_file);
	api_fixture_close(&fx);
	return t_summary();
}
