/*
 * The CLI's HTTP client over libcurl (see client.h). A missing token is
 * not an error here: the more useful hint that loamd is not running comes
 * first, and a 401 then says where a token is looked for.
 */
#include "cli/client.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli/profile.h"
#include "lib/cleanup.h"
#include "lib/fs.h"
#include "lib/json.h"
#include "lib/paths.h"
#include "lib/xalloc.h"

#define RESPONSE_MAX ((size_t)64 * 1024 * 1024)

struct loam_client {
	char *url;
	char *token;	    /* NULL when none was found */
	char *token_source; /* "$LOAM_TOKEN" or the file it came from */
	char *cacert;	    /* NULL: the system store */
	char *next;	    /* the last answer's Link rel="next", or NULL */
	CURL *curl;
};

struct buffer {
	char *data;
	size_t len;
};

static void load_token(struct loam_client *c, const struct loam_profile *p)
{
	const char *env = getenv("LOAM_TOKEN");
	if (env && *env) {
		c->token = xstrdup(env);
		c->token_source = xstrdup("$LOAM_TOKEN");
		return;
	}
	if (p->token) {
		c->token = xstrdup(p->token);
		c->token_source = xstrdup(p->path);
		return;
	}
	cleanup_free char *dir = loam_default_state_dir(1);
	c->token_source = xasprintf("%s/token", dir);
	char *buf = NULL;
	size_t len = 0;
	cleanup_err loam_err err = NULL;
	if (loam_read_file(c->token_source, 4096, &buf, &len, &err) < 0)
		return;
	while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' '))
		buf[--len] = '\0';
	c->token = buf;
}

/* The first of: the environment, the profile, the default. */
static char *pick(const char *env_name, const char *profile, const char *fallback)
{
	const char *env = getenv(env_name);
	const char *v = env && *env ? env : profile ? profile : fallback;
	return v ? xstrdup(v) : NULL;
}

int loam_client_open(struct loam_client **out, loam_err *err)
{
	struct loam_profile p;
	if (loam_profile_load(&p, err) < 0)
		return -1;
	struct loam_client *c = xcalloc(1, sizeof(*c));
	c->url = pick("LOAM_URL", p.url, "http://127.0.0.1:7070");
	c->cacert = pick("LOAM_CACERT", p.cacert, NULL);
	size_t n = strlen(c->url);
	while (n > 0 && c->url[n - 1] == '/')
		c->url[--n] = '\0';
	load_token(c, &p);
	loam_profile_free(&p);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	c->curl = curl_easy_init();
	if (!c->curl) {
		loam_client_close(c);
		return loam_fail(err, LOAM_E_INTERNAL, "curl_easy_init failed");
	}
	*out = c;
	return 0;
}

void loam_client_close(struct loam_client *c)
{
	if (!c)
		return;
	if (c->curl)
		curl_easy_cleanup(c->curl);
	free(c->url);
	free(c->token);
	free(c->token_source);
	free(c->cacert);
	free(c->next);
	free(c);
}

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct buffer *b = userdata;
	size_t n = size * nmemb;
	if (b->len + n > RESPONSE_MAX)
		return 0;
	char *p = realloc(b->data, b->len + n + 1);
	if (!p)
		return 0;
	memcpy(p + b->len, ptr, n);
	b->data = p;
	b->len += n;
	b->data[b->len] = '\0';
	return n;
}

static enum loam_err_kind kind_from_name(const char *name)
{
	for (int k = LOAM_E_INTERNAL; k <= LOAM_E_LAST; k++)
		if (strcmp(loam_err_kind_name((enum loam_err_kind)k), name) == 0)
			return (enum loam_err_kind)k;
	return LOAM_E_INTERNAL;
}

static int api_error(struct loam_client *c, long status, const struct buffer *b, loam_err *err)
{
	cleanup_err loam_err perr = NULL;
	cleanup_json json_t *doc =
	    b->len ? loam_json_parse(b->data, b->len, "response", &perr) : NULL;
	const char *kind = NULL, *detail = NULL;
	if (doc) {
		loam_json_opt_str(doc, "error", &kind, &perr);
		loam_json_opt_str(doc, "detail", &detail, &perr);
	}
	if (status == 401 && c->token)
		return loam_fail(
		    err, LOAM_E_AUTH,
		    "loamd at %s refused the API token from %s (wrong, or revoked); "
		    "use the operator's token in loamd's state dir (set LOAM_STATE_DIR "
		    "to that dir, or LOAM_TOKEN to the content of DIR/token) or a "
		    "token from: loam token create",
		    c->url, c->token_source);
	if (status == 401)
		return loam_fail(err, LOAM_E_AUTH,
				 "loamd at %s needs an API token and none was found (no "
				 "$LOAM_TOKEN, no token in ~/.config/loam/config, no %s); set "
				 "LOAM_STATE_DIR to loamd's state dir, or LOAM_TOKEN to a token",
				 c->url, c->token_source);
	if (!kind || !detail)
		return loam_fail(err, LOAM_E_IO,
				 "loamd at %s answered HTTP %ld without a JSON "
				 "error; is it loamd?",
				 c->url, status);
	cleanup_free char *clean = loam_cli_clean(detail, true);
	return loam_fail(err, kind_from_name(kind), "%s", clean);
}

/* Keeps the Link header's rel="next" target (a path on loamd). */
static size_t on_header(char *buf, size_t size, size_t nitems, void *userdata)
{
	struct loam_client *c = userdata;
	size_t n = size * nitems;
	static const char name[] = "link:";
	if (n > sizeof(name) && strncasecmp(buf, name, sizeof(name) - 1) == 0 &&
	    memmem(buf, n, "rel=\"next\"", 10)) {
		const char *lt = memchr(buf, '<', n),
			   *gt = lt ? memchr(lt, '>', n - (size_t)(lt - buf)) : NULL;
		if (lt && gt && gt > lt + 1 && lt[1] == '/') {
			free(c->next);
			c->next = xstrndup(lt + 1, (size_t)(gt - lt - 1));
		}
	}
	return n;
}

static int unreachable(struct loam_client *c, CURLcode rc, loam_err *err)
{
	if (rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE ||
	    rc == CURLE_SSL_CERTPROBLEM)
		return loam_fail(err, LOAM_E_UNAVAILABLE,
				 "loamd at %s: %s; give the CA that signed its certificate with "
				 "loam --cacert FILE (or $LOAM_CACERT, or cacert in "
				 "~/.config/loam/config)",
				 c->url, curl_easy_strerror(rc));
	return loam_fail(err, LOAM_E_UNAVAILABLE,
			 "cannot reach loamd at %s: %s; start it with: loamd (or set "
			 "LOAM_URL to where it listens)",
			 c->url, curl_easy_strerror(rc));
}

static struct curl_slist *headers_for(struct loam_client *c, bool has_body)
{
	struct curl_slist *h = NULL;
	if (c->token) {
		cleanup_free char *auth = xasprintf("Authorization: Bearer %s", c->token);
		h = curl_slist_append(h, auth);
	}
	if (has_body)
		h = curl_slist_append(h, "Content-Type: application/json");
	return h;
}

static int perform(struct loam_client *c, const char *method, const char *url, const char *body,
		   struct buffer *b, long *status, loam_err *err)
{
	struct curl_slist *h = headers_for(c, body != NULL);
	CURL *k = c->curl;
	curl_easy_reset(k);
	curl_easy_setopt(k, CURLOPT_URL, url);
	curl_easy_setopt(k, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(k, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(k, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(k, CURLOPT_WRITEDATA, b);
	curl_easy_setopt(k, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(k, CURLOPT_TIMEOUT, 300L);
	curl_easy_setopt(k, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(k, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(k, CURLOPT_HEADERDATA, c);
	if (c->cacert)
		curl_easy_setopt(k, CURLOPT_CAINFO, c->cacert);
	if (body)
		curl_easy_setopt(k, CURLOPT_POSTFIELDS, body);
	free(c->next);
	c->next = NULL;
	CURLcode rc = curl_easy_perform(k);
	curl_slist_free_all(h);
	if (rc != CURLE_OK)
		return unreachable(c, rc, err);
	curl_easy_getinfo(k, CURLINFO_RESPONSE_CODE, status);
	return 0;
}

int loam_client_call(struct loam_client *c, const char *method, const char *path,
		     const json_t *body, json_t **out, loam_err *err)
{
	cleanup_free char *url = xasprintf("%s%s", c->url, path);
	cleanup_free char *payload = body ? loam_json_dump(body) : NULL;
	struct buffer b = {0};
	long status = 0;
	int rc = perform(c, method, url, payload, &b, &status, err);
	if (rc == 0 && (status < 200 || status > 299))
		rc = api_error(c, status, &b, err);
	if (rc == 0 && out) {
		*out = loam_json_parse(b.data ? b.data : "", b.len, "loamd's response", err);
		rc = *out ? 0 : -1;
		if (*out)
			loam_cli_strip_controls(*out);
	}
	free(b.data);
	return rc;
}

/* Pages of at most this many items are followed; a server that never
 * ends its pages is cut off there. */
#define ITEMS_MAX 1000000

int loam_client_get_all(struct loam_client *c, const char *path, json_t **out, loam_err *err)
{
	json_t *all = NULL;
	if (loam_client_call(c, "GET", path, NULL, &all, err) < 0)
		return -1;
	while (c->next && json_is_array(all) && json_array_size(all) < ITEMS_MAX) {
		cleanup_free char *next = loam_steal(&c->next);
		cleanup_json json_t *page = NULL;
		if (loam_client_call(c, "GET", next, NULL, &page, err) < 0) {
			json_decref(all);
			return -1;
		}
		if (!json_is_array(page) || json_array_size(page) == 0)
			break;
		json_array_extend(all, page);
	}
	*out = all;
	return 0;
}

int loam_cli_error(const loam_err err)
{
	fprintf(stderr, "loam: %s\n", loam_err_msg(err));
	return loam_err_exit_status(err);
}

int loam_cli_usage(const char *usage)
{
	fprintf(stderr, "usage: %s\n", usage);
	return 2;
}

void loam_cli_print_json(const json_t *doc)
{
	cleanup_json json_t *copy = json_deep_copy(doc);
	loam_cli_iso_times(copy);
	cleanup_free char *s = loam_json_dump_pretty(copy);
	printf("%s\n", s);
}
