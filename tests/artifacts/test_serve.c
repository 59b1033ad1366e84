/*
 * The store's HTTP handler under a real libmicrohttpd daemon on a free
 * port, fetched with curl: files come back byte for byte; traversal (plain
 * or percent-encoded), dot files, symlinks leaving the store and missing
 * files are refused with 400/403/404.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <microhttpd.h>

#include "artifact/serve.h"
#include "lib/cleanup.h"
#include "lib/fs.h"
#include "lib/spawn.h"
#include "t.h"

static char tmp[] = "/tmp/loam-serve-XXXXXX";
static char store[256];
static int port;

static enum MHD_Result handler(void *cls, struct MHD_Connection *conn, const char *url,
			       const char *method, const char *version, const char *data,
			       size_t *data_size, void **state)
{
	(void)cls, (void)method, (void)version, (void)data, (void)data_size, (void)state;
	const char *prefix = "/artifacts/";
	if (strncmp(url, prefix, strlen(prefix)) != 0)
		return MHD_NO;
	return (enum MHD_Result)loam_artifact_serve(conn, store, url + strlen(prefix));
}

/* GETs path; returns the HTTP status and the body in *body. */
static int get(const char *path, char **body)
{
	char url[512];
	snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
	const char *argv[] = {"curl", "-s", "--path-as-is", "-w", "\n%{http_code}", url, NULL};
	struct loam_spawn_opts o = {.argv = argv, .timeout_ms = 20000};
	struct loam_spawn_result r = {0};
	cleanup_err loam_err err = NULL;
	CHECK_INT(loam_spawn(&o, &r, &err), 0);
	char *nl = r.out ? strrchr(r.out, '\n') : NULL;
	int status = nl ? atoi(nl + 1) : -1;
	if (nl)
		*nl = '\0';
	*body = r.out ? strdup(r.out) : strdup("");
	loam_spawn_result_free(&r);
	return status;
}

static void test_serves_and_refuses(void)
{
	cleanup_free char *body = NULL;
	CHECK_INT(get("/artifacts/firmware/edk2/1.0/x64/edk2.tar.gz", &body), 200);
	CHECK_STR(body, "firmware bytes");
	free(body);
	CHECK_INT(get("/artifacts/manifest.json", &body), 200);
	CHECK_STR(body, "{\"entries\":[]}");
	free(body);
	CHECK_INT(get("/artifacts/../secret", &body), 400);
	free(body);
	CHECK_INT(get("/artifacts/firmware/../../secret", &body), 400);
	free(body);
	CHECK_INT(get("/artifacts/%2e%2e/secret", &body), 400);
	free(body);
	CHECK_INT(get("/artifacts/.hidden", &body), 400);
	free(body);
	CHECK_INT(get("/artifacts/firmware//edk2", &body), 400);
	free(body);
	CHECK_INT(get("/artifacts/escape", &body), 403); /* symlink out of the store */
	CHECK(strstr(body, "secret") == NULL);
	free(body);
	CHECK_INT(get("/artifacts/firmware/edk2", &body), 404); /* a directory */
	free(body);
	CHECK_INT(get("/artifacts/nothing/here", &body), 404);
	free(body);
	body = NULL;
	CHECK(!loam_artifact_rel_path_ok(""));
	CHECK(!loam_artifact_rel_path_ok("/abs"));
	CHECK(loam_artifact_rel_path_ok("image/loam-tiny/6.1.192-2+loam1/x64/loam-tiny.tar.gz"));
}

static int write_file(const char *rel, const char *text)
{
	char p[512];
	snprintf(p, sizeof p, "%s/%s", tmp, rel);
	cleanup_err loam_err err = NULL;
	return loam_write_file_atomic(p, text, strlen(text), 0644, &err);
}

int main(void)
{
	if (!mkdtemp(tmp))
		return 1;
	snprintf(store, sizeof store, "%s/store", tmp);
	char dir[512], link[512], secret[512];
	snprintf(dir, sizeof dir, "%s/firmware/edk2/1.0/x64", store);
	cleanup_err loam_err err = NULL;
	CHECK_INT(loam_mkdir_p(dir, 0755, &err), 0);
	CHECK_INT(write_file("store/firmware/edk2/1.0/x64/edk2.tar.gz", "firmware bytes"), 0);
	CHECK_INT(write_file("store/manifest.json", "{\"entries\":[]}"), 0);
	CHECK_INT(write_file("store/.hidden", "hidden"), 0);
	CHECK_INT(write_file("secret", "secret"), 0);
	snprintf(link, sizeof link, "%s/escape", store);
	snprintf(secret, sizeof secret, "%s/secret", tmp);
	CHECK_INT(symlink(secret, link), 0);

	struct MHD_Daemon *d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL,
						handler, NULL, MHD_OPTION_END);
	CHECK(d != NULL);
	if (d) {
		const union MHD_DaemonInfo *info =
		    MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
		port = info ? info->port : 0;
		RUN(test_serves_and_refuses);
		MHD_stop_daemon(d);
	}
	const char *rm[] = {"rm", "-rf", tmp, NULL};
	struct loam_spawn_opts o = {.argv = rm};
	struct loam_spawn_result r = {0};
	loam_spawn(&o, &r, NULL);
	loam_spawn_result_free(&r);
	return t_summary();
}
