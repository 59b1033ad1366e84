/*
 * The in-process API fixture (api_fixture.h): a real loam_api on a real
 * SQLite file, driven through loam_api_handle() without HTTP.
 */
#include "api_fixture.h"

#include <ftw.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc/alloc.h"
#include "db/db.h"
#include "db/records.h"
#include "lib/cleanup.h"
#include "lib/xalloc.h"
#include "progs/progs.h"

static const char *const digest_tables[] = {"host",	 "host_emulation", "vm",
					    "strand",	 "strand_signal",  "project",
					    "api_token", "project_quota",  NULL};

static int seed(struct api_fixture *f, loam_err *err)
{
	static const char host[] = "{\"address\":\"10.0.0.1\",\"name\":\"h1\"}";
	cleanup_free char *resp = NULL;
	int status = api_fixture_call(f, "POST", "/v1/hosts", host, strlen(host), &resp);
	if (status != 201)
		return loam_fail(err, LOAM_E_INTERNAL, "fixture: adding host h1: %d %s", status,
				 resp);
	struct loam_vm_spec vm = {
	    .name = "v1", .arch = "x64", .size = "standard-2", .location = "default"};
	return loam_vm_insert(f->db, &vm, NULL, err);
}

/* "@" → the fixture's dir, into out (at most 8 roots). */
static const char *const *with_dir(const struct api_fixture *f, const char *const *roots,
				   char (*buf)[300], const char **out)
{
	if (!roots)
		return NULL;
	size_t i = 0;
	for (; i < 8 && roots[i]; i++) {
		snprintf(buf[i], sizeof(buf[i]), "%s", strcmp(roots[i], "@") ? roots[i] : f->dir);
		out[i] = buf[i];
	}
	out[i] = NULL;
	return out;
}

static int open_parts(struct api_fixture *f, const char *const *key_roots,
		      const char *const *state_roots, loam_err *err)
{
	/* Hosts get their cloudify strand recorded; no engine runs it here. */
	static bool registered;
	if (!registered)
		loam_progs_register_all();
	registered = true;
	if (loam_db_open(f->db_url, &f->db, err) < 0 || loam_db_migrate(f->db, err) < 0 ||
	    loam_db_sync_sizes(f->db, err) < 0 || loam_alloc_new(f->db, &f->alloc, err) < 0)
		return -1;
	char kbuf[8][300], sbuf[8][300];
	const char *kv[9], *sv[9];
	struct loam_api_config cfg = {.state_dir = f->dir,
				      .db_url = f->db_url,
				      .token = API_FIXTURE_TOKEN,
				      .alloc = f->alloc,
				      .ssh_key_roots = with_dir(f, key_roots, kbuf, kv),
				      .host_state_roots = with_dir(f, state_roots, sbuf, sv),
				      .create_burst = 100000};
	if (loam_api_new(&cfg, &f->api, err) < 0)
		return -1;
	return seed(f, err);
}

int api_fixture_open(struct api_fixture *f, const char *tmp_root)
{
	return api_fixture_open_roots(f, tmp_root, NULL, NULL);
}

int api_fixture_open_roots(struct api_fixture *f, const char *tmp_root,
			   const char *const *ssh_key_roots, const char *const *host_state_roots)
{
	memset(f, 0, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "%s/loam-apifx-XXXXXX",
		 access(tmp_root, W_OK) == 0 ? tmp_root : "/tmp");
	if (!mkdtemp(f->dir)) {
		perror("mkdtemp");
		return -1;
	}
	snprintf(f->db_url, sizeof(f->db_url), "sqlite:%s/loam.db", f->dir);
	cleanup_err loam_err err = NULL;
	if (open_parts(f, ssh_key_roots, host_state_roots, &err) < 0) {
		fprintf(stderr, "api fixture: %s\n", loam_err_msg(err));
		api_fixture_close(f);
		return -1;
	}
	return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	remove(path);
	return 0;
}

void api_fixture_close(struct api_fixture *f)
{
	loam_api_free(f->api);
	if (f->alloc)
		loam_alloc_free(f->alloc);
	loam_db_close(f->db);
	if (f->dir[0])
		nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	memset(f, 0, sizeof(*f));
}

int api_fixture_call_as(struct api_fixture *f, const char *auth, const char *method,
			const char *path, const char *body, char **resp_body)
{
	struct loam_api_response resp = {0};
	loam_api_handle(f->api, method, path, auth, body, body ? strlen(body) : 0, &resp);
	if (resp_body)
		*resp_body = resp.body;
	else
		free(resp.body);
	return resp.status;
}

int api_fixture_call(struct api_fixture *f, const char *method, const char *path, const char *body,
		     size_t len, char **resp_body)
{
	struct loam_api_response resp = {0};
	loam_api_handle(f->api, method, path, "Bearer " API_FIXTURE_TOKEN, body, len, &resp);
	if (resp_body)
		*resp_body = resp.body;
	else
		free(resp.body);
	return resp.status;
}

static void append(char **s, size_t *len, const char *add)
{
	size_t n = strlen(add);
	char *p = xrealloc(*s, *len + n + 2);
	memcpy(p + *len, add, n);
	p[*len + n] = '|';
	p[*len + n + 1] = '\0';
	*len += n + 1;
	*s = p;
}

char *api_fixture_digest(struct api_fixture *f)
{
	char *out = NULL;
	size_t len = 0;
	append(&out, &len, "");
	for (const char *const *t = digest_tables; *t; t++) {
		char sql[128];
		snprintf(sql, sizeof(sql), "SELECT * FROM %s ORDER BY 1", *t);
		cleanup_rows struct loam_db_rows *rows = NULL;
		cleanup_err loam_err err = NULL;
		append(&out, &len, *t);
		if (loam_db_query(f->db, sql, DB_NOARGS, &rows, &err) < 0) {
			append(&out, &len, loam_err_msg(err)); /* shows in any comparison */
			continue;
		}
		for (size_t r = 0; r < loam_db_rows_count(rows); r++)
			for (size_t c = 0; c < loam_db_rows_cols(rows); c++)
				append(&out, &len,
				       loam_db_rows_null(rows, r, c)
					   ? "(null)"
					   : loam_db_rows_text(rows, r, c));
	}
	return out;
}
