/*
 * The VM prog's test bench (vm_prog_t.h).
 */
#include "vm_prog_t.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc/alloc.h"
#include "db/records.h"
#include "db/vm_sim.h"
#include "engine/engine.h"
#include "lib/cleanup.h"
#include "lib/fs.h"
#include "lib/json.h"
#include "lib/spawn.h"
#include "progs/watch.h"
#include "transport/transport.h"

static void die(const char *what, loam_err err)
{
	fprintf(stderr, "vm_prog_t: %s: %s\n", what, err ? loam_err_msg(err) : "failed");
	abort();
}

static void exec_sql(struct fx *f, const char *sql, const struct loam_db_val *args, size_t n)
{
	cleanup_err loam_err err = NULL;
	if (loam_db_exec(f->db, sql, args, n, NULL, &err) < 0)
		die(sql, err);
}

void fx_open(struct fx *f, const char *tag, bool with_watch)
{
	*f = (struct fx){0};
	snprintf(f->dir, sizeof(f->dir), "/tmp/loam-vmprog-%s.XXXXXX", tag);
	if (!mkdtemp(f->dir))
		die("mkdtemp", NULL);
	cleanup_err loam_err err = NULL;
	cleanup_free char *base = NULL;
	if (asprintf(&base, "sqlite:%s/db", f->dir) < 0)
		abort();
	if (loam_db_scratch_create(base, "t", &f->url, &err) < 0 ||
	    loam_db_open(f->url, &f->db, &err) < 0 || loam_db_migrate(f->db, &err) < 0 ||
	    loam_alloc_new(f->db, &f->app.alloc, &err) < 0)
		die("database", err);
	f->app.pool = loam_transport_pool_new();
	f->app.agent_timeout_ms = 10000;
	if (with_watch && loam_watch_new(&f->app, f->url, &f->app.watch, &err) < 0)
		die("watcher", err);
}

void fx_close(struct fx *f)
{
	loam_watch_free(f->app.watch);
	loam_transport_pool_free(f->app.pool);
	loam_alloc_free(f->app.alloc);
	loam_db_close(f->db);
	free(f->url);
	const char *argv[] = {"rm", "-rf", f->dir, NULL};
	struct loam_spawn_opts o = {.argv = argv};
	struct loam_spawn_result r;
	cleanup_err loam_err err = NULL;
	if (loam_spawn(&o, &r, &err) == 0)
		loam_spawn_result_free(&r);
}

static char *host_dir(struct fx *f, const char *host)
{
	char *d = NULL;
	if (asprintf(&d, "%s/host-%s", f->dir, host) < 0)
		abort();
	return d;
}

void fx_script(struct fx *f, const char *host, const char *script)
{
	cleanup_free char *dir = host_dir(f, host), *path = NULL;
	if (asprintf(&path, "%s/script.json", dir) < 0)
		abort();
	cleanup_err loam_err err = NULL;
	if (loam_write_file_atomic(path, script, strlen(script), 0600, &err) < 0)
		die("script", err);
}

void fx_host(struct fx *f, const char *name, const char *script)
{
	cleanup_free char *dir = host_dir(f, name), *agent = NULL;
	const char *bin = getenv("LOAM_BIN_DIR");
	if (mkdir(dir, 0700) < 0 ||
	    asprintf(&agent, "%s/loam-host-scripted", bin && *bin ? bin : "build/bin") < 0)
		die("host dir", NULL);
	struct loam_vm_sim_host h = {
	    .name = name, .state_dir = dir, .agent_path = agent, .cores = 8, .memory_gib = 64};
	cleanup_err loam_err err = NULL;
	if (loam_vm_sim_host_add(f->db, &h, &err) < 0)
		die("host", err);
	loam_alloc_host_changed(f->app.alloc, name);
	fx_script(f, name, script ? script : "{}");
}

void fx_host_set(struct fx *f, const char *host, const char *col, const char *value)
{
	char sql[160];
	snprintf(sql, sizeof(sql), "UPDATE host SET %s = ? WHERE id = ?", col);
	exec_sql(f, sql, DB_ARGS(value ? DB_TEXT(value) : DB_NULL, DB_TEXT(host)));
	loam_alloc_host_changed(f->app.alloc, host);
}

char *fx_vm(struct fx *f, const char *name, const char *arch, const char *boot)
{
	char id[27];
	cleanup_err loam_err err = NULL;
	struct loam_vm_spec spec = {
	    .name = name, .arch = arch, .size = "standard-2", .boot_image = "loam-tiny"};
	cleanup_json json_t *frame = json_pack("{s:s}", "boot", boot ? boot : "firmware");
	if (loam_vm_insert(f->db, &spec, id, &err) < 0 ||
	    loam_strand_create(f->db, LOAM_PROG_VM, NULL, frame, id, NULL, &err) < 0)
		die("create VM", err);
	return strdup(id);
}

void fx_signal(struct fx *f, const char *id, const char *signal)
{
	cleanup_err loam_err err = NULL;
	if (loam_strand_signal(f->db, id, signal, &err) < 0)
		die("signal", err);
}

void fx_due(struct fx *f, const char *id)
{
	exec_sql(f, "UPDATE strand SET schedule = 0 WHERE id = ?", DB_ARGS(DB_TEXT(id)));
}

bool fx_step(struct fx *f)
{
	cleanup_err loam_err err = NULL;
	int rc = loam_engine_run_one(f->db, "test", 30000, &f->app, &err);
	if (rc < 0)
		fprintf(stderr, "step: %s\n", loam_err_msg(err));
	return rc == 1;
}

bool fx_until_label(struct fx *f, const char *id, const char *label, int max)
{
	for (int i = 0; i < max; i++) {
		cleanup_free char *now = fx_label(f, id);
		if (strcmp(now, label) == 0)
			return true;
		if (!fx_step(f))
			fx_due(f, id);
	}
	cleanup_free char *now = fx_label(f, id), *why = fx_reason(f, id);
	cleanup_free char *last = fx_last_error(f, id);
	fprintf(stderr, "strand %s sits at %s, not %s (reason: %s; last error: %s)\n", id, now,
		label, why, last);
	return false;
}

bool fx_until_state(struct fx *f, const char *id, const char *state, int ms)
{
	for (int64_t until = loam_db_now_ms() + ms; loam_db_now_ms() < until;) {
		cleanup_free char *now = fx_state(f, id);
		if (strcmp(now, state) == 0)
			return true;
		if (!fx_step(f))
			usleep(10 * 1000);
	}
	cleanup_free char *now = fx_state(f, id);
	cleanup_free char *why = fx_last_error(f, id);
	fprintf(stderr, "VM %s is %s, not %s (last error: %s)\n", id, now, state, why);
	return false;
}

static char *text(struct fx *f, const char *sql, const char *arg)
{
	cleanup_rows struct loam_db_rows *rows = NULL;
	cleanup_err loam_err err = NULL;
	if (loam_db_query(f->db, sql, DB_ARGS(DB_TEXT(arg)), &rows, &err) < 0 ||
	    loam_db_rows_count(rows) == 0)
		return strdup("(none)");
	return strdup(loam_db_rows_null(rows, 0, 0) ? "(null)" : loam_db_rows_text(rows, 0, 0));
}

long long fx_int(struct fx *f, const char *sql, const char *arg)
{
	cleanup_rows struct loam_db_rows *rows = NULL;
	cleanup_err loam_err err = NULL;
	int rc = arg ? loam_db_query(f->db, sql, DB_ARGS(DB_TEXT(arg)), &rows, &err)
		     : loam_db_query(f->db, sql, DB_NOARGS, &rows, &err);
	return rc < 0 || loam_db_rows_count(rows) == 0 ? -999 : loam_db_rows_int(rows, 0, 0);
}

char *fx_state(struct fx *f, const char *id)
{
	return text(f, "SELECT state FROM vm WHERE id = ?", id);
}

char *fx_reason(struct fx *f, const char *id)
{
	return text(f, "SELECT state_reason FROM vm WHERE id = ?", id);
}

char *fx_label(struct fx *f, const char *id)
{
	return text(f, "SELECT label FROM strand WHERE id = ?", id);
}

char *fx_last_error(struct fx *f, const char *id)
{
	return text(f, "SELECT last_error FROM strand WHERE id = ?", id);
}

char *fx_frame(struct fx *f, const char *id, const char *key)
{
	cleanup_free char *stack = text(f, "SELECT stack FROM strand WHERE id = ?", id);
	cleanup_json json_t *j = json_loads(stack, 0, NULL);
	json_t *top = json_array_get(j, json_array_size(j) - 1);
	const char *v = json_string_value(json_object_get(json_object_get(top, "state"), key));
	return strdup(v ? v : "(none)");
}

int fx_tries(struct fx *f, const char *id)
{
	return (int)fx_int(f, "SELECT tries FROM strand WHERE id = ?", id);
}

bool fx_done(struct fx *f, const char *id)
{
	return fx_int(f, "SELECT done FROM strand WHERE id = ?", id) == 1;
}

int fx_calls(struct fx *f, const char *host, const char *verb, const char *arg)
{
	cleanup_free char *dir = host_dir(f, host), *path = NULL, *log = NULL, *want = NULL;
	if (asprintf(&path, "%s/calls.log", dir) < 0 ||
	    asprintf(&want, "%s%s%s\n", verb, arg ? " " : "", arg ? arg : "") < 0)
		abort();
	cleanup_err loam_err err = NULL;
	if (loam_read_file(path, 0, &log, NULL, &err) < 0)
		return 0;
	int n = 0;
	for (const char *p = log; (p = strstr(p, want)); p += strlen(want))
		n += p == log || p[-1] == '\n';
	return n;
}

char *fx_spec(struct fx *f, const char *host, const char *id)
{
	cleanup_free char *dir = host_dir(f, host), *path = NULL;
	if (asprintf(&path, "%s/sim/spec-%s.json", dir, id) < 0)
		abort();
	char *text_out = NULL;
	cleanup_err loam_err err = NULL;
	return loam_read_file(path, 0, &text_out, NULL, &err) < 0 ? strdup("{}") : text_out;
}
