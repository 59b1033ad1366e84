/*
 * Unit tests of the console's parts that need no database: the HTML
 * builder (every string escaped, with markup that tries to break out of
 * text and attributes), form decoding, the session table (ids, CSRF
 * tokens, expiry, log-out), the Secure flag under TLS, the metrics
 * registry's text format, and the time formats the CLI and pages share.
 */
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "api/api.h"
#include "api/console.h"
#include "api/console_internal.h"
#include "lib/cleanup.h"
#include "lib/json.h"
#include "lib/metrics.h"
#include "lib/timefmt.h"
#include "t.h"

static const char token[] = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

static char *render(void (*fn)(struct html *h))
{
	struct html h;
	html_init(&h);
	fn(&h);
	size_t len = 0;
	return html_finish(&h, &len);
}

static void evil_text(struct html *h)
{
	html_printf(h, "<p title=\"%s\">%s</p>%d %lld %zu %.1f", "\"><script>x</script>",
		    "<img src=x onerror='a'>&amp;", -3, 1LL << 40, (size_t)7, 2.25);
}

static void test_html_escapes_every_string(void)
{
	cleanup_free char *s = render(evil_text);
	CHECK_STR(s, "<p title=\"&quot;&gt;&lt;script&gt;x&lt;/script&gt;\">&lt;img src=x "
		     "onerror=&#39;a&#39;&gt;&amp;amp;</p>-3 1099511627776 7 2.2");
	CHECK(!strstr(s, "<script>"));
}

static void json_values(struct html *h)
{
	cleanup_json json_t *v =
	    json_pack("[n, b, i, s, [s, s], {s:s}]", 0, 7, "<b>", "a", "b", "k", "<v>");
	for (size_t i = 0; i < json_array_size(v); i++) {
		html_json(h, json_array_get(v, i));
		html_lit(h, "|");
	}
	html_json(h, NULL);
}

static void test_html_json_values(void)
{
	cleanup_free char *s = render(json_values);
	CHECK_STR(s, "—|no|7|&lt;b&gt;|a, b|<code>{&quot;k&quot;:&quot;&lt;v&gt;&quot;}</code>|—");
}

static void test_form_decoding(void)
{
	struct form f;
	cleanup_err loam_err err = NULL;
	const char body[] = "name=web-1&ssh_key=ssh-ed25519+AAAA%2B%2F%3D+me%40x&empty=&flag";
	CHECK(form_parse(body, strlen(body), &f, &err) == 0);
	CHECK_STR(form_get(&f, "name"), "web-1");
	CHECK_STR(form_get(&f, "ssh_key"), "ssh-ed25519 AAAA+/= me@x");
	CHECK_STR(form_get(&f, "empty"), "");
	CHECK_STR(form_get(&f, "flag"), "");
	CHECK(form_get(&f, "nope") == NULL);
	form_free(&f);
	const char twice[] = "csrf=a&csrf=b";
	CHECK(form_parse(twice, strlen(twice), &f, &err) < 0);
	CHECK_CONTAINS(loam_err_msg(err), "given twice");
	form_free(&f);
	const char nul[] = "a=1\0b=2";
	CHECK(form_parse(nul, sizeof(nul) - 1, &f, &err) < 0);
	form_free(&f);
}

static void test_sessions(void)
{
	struct console_sessions *s = console_sessions_new();
	char a[CONSOLE_HEX_LEN + 1], b[CONSOLE_HEX_LEN + 1];
	cleanup_err loam_err err = NULL;
	int64_t t0 = 1000000;
	const struct loam_principal op = {.kind = LOAM_PRINCIPAL_OPERATOR};
	struct loam_principal alice = {.kind = LOAM_PRINCIPAL_PROJECT};
	snprintf(alice.project, sizeof(alice.project), "alice");
	CHECK(console_session_create(s, &op, t0, a, &err) == 0);
	CHECK(console_session_create(s, &alice, t0, b, &err) == 0);
	CHECK(strcmp(a, b) != 0 && strlen(a) == CONSOLE_HEX_LEN);
	struct console_session_view va, vb;
	CHECK_INT(console_session_find(s, a, t0 + 1, &va), 1);
	CHECK_INT(console_session_find(s, b, t0 + 1, &vb), 1);
	CHECK_STR(va.principal, "operator");
	CHECK_STR(vb.principal, "project alice");
	CHECK(vb.who.kind == LOAM_PRINCIPAL_PROJECT && strcmp(vb.who.project, "alice") == 0);
	CHECK(strcmp(va.csrf, vb.csrf) != 0 && strcmp(va.csrf, a) != 0);
	char forged[CONSOLE_HEX_LEN + 1];
	memcpy(forged, a, sizeof(forged));
	forged[0] = forged[0] == '0' ? '1' : '0';
	CHECK_INT(console_session_find(s, forged, t0 + 1, &va), 0);
	CHECK_INT(console_session_find(s, "short", t0, &va), 0);
	CHECK_INT(console_session_find(s, NULL, t0, &va), 0);
	/* idle for 3 h: gone; b, used an hour in, lives on to 2 h after that */
	CHECK_INT(console_session_find(s, b, t0 + 3600 * 1000, &vb), 1);
	CHECK_INT(console_session_find(s, a, t0 + 3 * 3600 * 1000, &va), 0);
	CHECK_INT(console_session_find(s, b, t0 + 2 * 3600 * 1000, &vb), 1);
	/* 12 h after log-in, even a busy session ends */
	for (int64_t t = t0; t < t0 + (int64_t)12 * 3600 * 1000; t += 3600 * 1000)
		console_session_find(s, b, t, &vb);
	CHECK_INT(console_session_find(s, b, t0 + (int64_t)12 * 3600 * 1000 + 1, &vb), 0);
	char c[CONSOLE_HEX_LEN + 1];
	CHECK(console_session_create(s, &op, t0, c, &err) == 0);
	console_session_end(s, c);
	CHECK_INT(console_session_find(s, c, t0, &va), 0);
	console_sessions_free(s);
}

/* The POST /login of a browser that fetched the form over TLS. */
static void test_secure_cookies_under_tls(void)
{
	struct loam_api_config cfg = {
	    .state_dir = "/nonexistent", .db_url = "sqlite:/nonexistent/loam.db", .token = token};
	struct loam_api *api = NULL;
	cleanup_err loam_err err = NULL;
	CHECK(loam_api_new(&cfg, &api, &err) == 0);
	struct console_request req = {.method = "GET", .path = "/login", .tls = true};
	struct console_response resp;
	loam_console_handle(api, &req, &resp);
	CHECK_INT(resp.status, 200);
	CHECK_CONTAINS(resp.set_cookie[0], "; Secure");
	char nonce[CONSOLE_HEX_LEN + 1] = "";
	const char *eq = resp.set_cookie[0] ? strchr(resp.set_cookie[0], '=') : NULL;
	if (eq)
		snprintf(nonce, sizeof(nonce), "%.64s", eq + 1);
	loam_console_response_free(&resp);
	cleanup_free char *body = NULL;
	CHECK(asprintf(&body, "csrf=%s&token=%s", nonce, token) > 0);
	req = (struct console_request){.method = "POST",
				       .path = "/login",
				       .login_nonce = nonce,
				       .body = body,
				       .body_len = strlen(body),
				       .tls = true};
	loam_console_handle(api, &req, &resp);
	CHECK_INT(resp.status, 303);
	CHECK_STR(resp.location, "/fleet");
	CHECK_CONTAINS(resp.set_cookie[0], "loam_session=");
	CHECK_CONTAINS(resp.set_cookie[0], "HttpOnly; SameSite=Strict; Secure");
	loam_console_response_free(&resp);
	loam_api_free(api);
}

static char *metrics_text(void)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	loam_metrics_write(f);
	fclose(f);
	return text;
}

static void test_metrics_text(void)
{
	loam_metrics_reset();
	LOAM_METRIC_INC(LOAM_METRIC_STRAND_RETRIES, "vm", "pr\"ep\\\n");
	LOAM_METRIC_INC(LOAM_METRIC_STRAND_RETRIES, "vm", "pr\"ep\\\n");
	LOAM_METRIC_OBSERVE(LOAM_METRIC_PLACEMENT_SECONDS, 0.003, "placed");
	LOAM_METRIC_OBSERVE(LOAM_METRIC_PLACEMENT_SECONDS, 7.0, "placed");
	cleanup_free char *t = metrics_text();
	CHECK_CONTAINS(t, "# TYPE loam_strand_retries_total counter\n");
	CHECK_CONTAINS(t, "loam_strand_retries_total{prog=\"vm\",label=\"pr\\\"ep\\\\\\n\"} 2\n");
	CHECK_CONTAINS(
	    t, "loam_placement_duration_seconds_bucket{result=\"placed\",le=\"0.0025\"} 0\n");
	CHECK_CONTAINS(
	    t, "loam_placement_duration_seconds_bucket{result=\"placed\",le=\"0.005\"} 1\n");
	CHECK_CONTAINS(t,
		       "loam_placement_duration_seconds_bucket{result=\"placed\",le=\"2.5\"} 1\n");
	CHECK_CONTAINS(t,
		       "loam_placement_duration_seconds_bucket{result=\"placed\",le=\"+Inf\"} 2\n");
	CHECK_CONTAINS(t, "loam_placement_duration_seconds_count{result=\"placed\"} 2\n");
	CHECK_CONTAINS(t, "loam_placement_duration_seconds_sum{result=\"placed\"} 7.003000\n");
	CHECK_CONTAINS(t, "# TYPE loam_heartbeat_misses_total counter\n");
	loam_metrics_reset();
}

static void test_times(void)
{
	char iso[LOAM_ISO8601_LEN], human[96], ago[32];
	loam_time_iso8601(1764670503123LL, iso);
	CHECK_STR(iso, "2025-12-02T10:15:03.123Z");
	loam_time_human(1764670503123LL, 1764670503123LL + 3 * 60000 + 5000, human, sizeof(human));
	CHECK_STR(human, "2025-12-02 10:15:03 UTC (3 min ago)");
	loam_time_ago(10000, 5000, ago, sizeof(ago));
	CHECK_STR(ago, "in 5 s");
	loam_time_ago(5000, 5400, ago, sizeof(ago));
	CHECK_STR(ago, "just now");
	loam_time_ago(0, 2LL * 86400 * 1000 + 5, ago, sizeof(ago));
	CHECK_STR(ago, "2 d ago");
}

int main(void)
{
	RUN(test_html_escapes_every_string);
	RUN(test_html_json_values);
	RUN(test_form_decoding);
	RUN(test_sessions);
	RUN(test_secure_cookies_under_tls);
	RUN(test_metrics_text);
	RUN(test_times);
	return t_summary();
}
