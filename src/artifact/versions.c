/*
 * Artifact versions per host and per VM (versions.h). Plain SQL that runs
 * unchanged on SQLite and PostgreSQL.
 */
#include <string.h>

#include "artifact/versions.h"
#include "lib/cleanup.h"
#include "lib/json.h"
#include "transport/transport.h"

/* An installed file/tarball version no VM on its host uses, with a newer
 * installed version of the same component/name/arch beside it. */
#define UNUSED_VERSION                                                                             \
	"h.host_id = ? AND h.kind <> 'debian-package' AND h.state = 'installed' "                  \
	"AND NOT EXISTS (SELECT 1 FROM vm_artifact va JOIN vm ON vm.id = va.vm_id "                \
	"WHERE vm.host_id = h.host_id AND va.component = h.component AND va.name = h.name "        \
	"AND va.version = h.version AND va.arch = h.arch) "                                        \
	"AND EXISTS (SELECT 1 FROM host_artifact n WHERE n.host_id = h.host_id "                   \
	"AND n.component = h.component AND n.name = h.name AND n.arch = h.arch "                   \
	"AND n.state = 'installed' AND n.installed_at > h.installed_at)"

struct gc_ctx {
	const char *host_id;
	json_t *entries;
};

static int gc_pick(struct loam_db *db, void *arg, loam_err *err)
{
	struct gc_ctx *ctx = arg;
	json_array_clear(ctx->entries); /* the transaction may run again */
	cleanup_rows struct loam_db_rows *rows = NULL;
	if (loam_db_query(db,
			  "SELECT h.component, h.name, h.version, h.arch FROM host_artifact h "
			  "WHERE " UNUSED_VERSION,
			  DB_ARGS(DB_TEXT(ctx->host_id)), &rows, err) < 0)
		return -1;
	for (size_t r = 0; r < loam_db_rows_count(rows); r++) {
		const char *c = loam_db_rows_text(rows, r, 0), *n = loam_db_rows_text(rows, r, 1),
			   *v = loam_db_rows_text(rows, r, 2), *a = loam_db_rows_text(rows, r, 3);
		if (loam_db_exec(db,
				 "DELETE FROM host_artifact WHERE host_id = ? AND component = ? "
				 "AND name = ? AND version = ? AND arch = ?",
				 DB_ARGS(DB_TEXT(ctx->host_id), DB_TEXT(c), DB_TEXT(n), DB_TEXT(v),
					 DB_TEXT(a)),
				 NULL, err) < 0)
			return -1;
		json_array_append_new(ctx->entries,
				      json_pack("{s:s, s:s, s:s, s:s}", "component", c, "name", n,
						"version", v, "arch", a));
	}
	return 0;
}

int loam_artifact_gc_host(struct loam_db *db, struct loam_transport *t, const char *host_id,
			  const char *agent_path, const char *prefix, json_t **removed,
			  loam_err *err)
{
	struct gc_ctx ctx = {.host_id = host_id, .entries = json_array()};
	cleanup_json json_t *req =
	    json_pack("{s:s, s:o}", "prefix", prefix, "entries", ctx.entries);
	if (loam_db_tx(db, gc_pick, &ctx, err) < 0)
		return -1;
	if (json_array_size(ctx.entries) > 0) {
		cleanup_free char *text = loam_json_dump(req);
		const char *argv[] = {agent_path, "uninstall", NULL};
		struct loam_spawn_result res = {0};
		int rc =
		    loam_transport_run_ok(t, argv, text, strlen(text), 10 * 60 * 1000, &res, err);
		loam_spawn_result_free(&res);
		if (rc < 0)
			return loam_err_wrap(err, "remove unused artifacts on %s",
					     loam_transport_name(t));
	}
	if (removed)
		*removed = json_incref(ctx.entries);
	return 0;
}

int loam_artifact_host_json(struct loam_db *db, const char *host_id, json_t **out, loam_err *err)
{
	cleanup_rows struct loam_db_rows *rows = NULL;
	if (loam_db_query(
		db,
		"SELECT component, name, version, arch, kind, state, path, sha256, error, "
		"installed_at FROM host_artifact WHERE host_id = ? "
		"ORDER BY component, arch, name, version",
		DB_ARGS(DB_TEXT(host_id)), &rows, err) < 0)
		return -1;
	json_t *list = json_array();
	for (size_t r = 0; r < loam_db_rows_count(rows); r++) {
		json_t *o = json_object();
		for (size_t c = 0; c < loam_db_rows_cols(rows); c++) {
			const char *name = loam_db_rows_name(rows, c);
			json_t *v = loam_db_rows_null(rows, r, c) ? json_null()
				    : strcmp(name, "installed_at") == 0
					? json_integer(loam_db_rows_int(rows, r, c))
					: json_string(loam_db_rows_text(rows, r, c));
			json_object_set_new(o, name, v);
		}
		json_array_append_new(list, o);
	}
	*out = list;
	return 0;
}

int loam_artifact_ls_json(struct loam_db *db, json_t **out, loam_err *err)
{
	cleanup_rows struct loam_db_rows *rows = NULL;
	if (loam_db_query(db,
			  "SELECT host.name, h.component, h.name, h.version, h.arch, h.state, "
			  "(SELECT count(*) FROM vm_artifact va JOIN vm ON vm.id = va.vm_id "
			  "WHERE vm.host_id = h.host_id AND va.component = h.component AND "
			  "va.name = h.name AND va.version = h.version AND va.arch = h.arch) "
			  "FROM host_artifact h JOIN host ON host.id = h.host_id "
			  "ORDER BY host.name, h.component, h.arch, h.name, h.version",
			  DB_NOARGS, &rows, err) < 0)
		return -1;
	json_t *list = json_array();
	for (size_t r = 0; r < loam_db_rows_count(rows); r++)
		json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I}", "host",
						      loam_db_rows_text(rows, r, 0), "component",
						      loam_db_rows_text(rows, r, 1), "name",
						      loam_db_rows_text(rows, r, 2), "version",
						      loam_db_rows_text(rows, r, 3), "arch",
						      loam_db_rows_text(rows, r, 4), "state",
						      loam_db_rows_text(rows, r, 5), "vms",
						      (json_int_t)loam_db_rows_int(rows, r, 6)));
	*out = list;
	return 0;
}

static int pin_component(struct loam_db *db, const char *vm_id, const char *host_id,
			 const char *arch, const char *component, loam_err *err)
{
	cleanup_rows struct loam_db_rows *rows = NULL;
	if (loam_db_query(db,
			  "SELECT name, version FROM host_artifact WHERE host_id = ? AND arch = ? "
			  "AND component = ? AND (state = 'installed' OR (state = 'unavailable' "
			  "AND kind = 'debian-package')) "
			  "ORDER BY COALESCE(installed_at, updated_at) DESC, version DESC LIMIT 1",
			  DB_ARGS(DB_TEXT(host_id), DB_TEXT(arch), DB_TEXT(component)), &rows,
			  err) < 0)
		return -1;
	if (loam_db_rows_count(rows) == 0)
		return strcmp(component, "firmware") == 0 || strcmp(component, "image") == 0
			   ? loam_fail(err, LOAM_E_NOTFOUND,
				       "host has no installed %s for %s; run the host's "
				       "artifact install first",
				       component, arch)
			   : 0;
	return loam_db_exec(db,
			    "INSERT INTO vm_artifact (vm_id, component, name, version, arch) "
			    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (vm_id, component) DO NOTHING",
			    DB_ARGS(DB_TEXT(vm_id), DB_TEXT(component),
				    DB_TEXT(loam_db_rows_text(rows, 0, 0)),
				    DB_TEXT(loam_db_rows_text(rows, 0, 1)), DB_TEXT(arch)),
			    NULL, err);
}

int loam_artifact_pin_vm(struct loam_db *db, const char *vm_id, const char *host_id,
			 const char *arch, loam_err *err)
{
	static const char *const components[] = {"vmm", "firmware", "image", "storage"};
	for (size_t i = 0; i < 4; i++)
		if (pin_component(db, vm_id, host_id, arch, components[i], err) < 0)
			return loam_err_wrap(err, "pin the artifacts of VM %s", vm_id);
	return 0;
}

int loam_artifact_vm_json(struct loam_db *db, const char *vm_id, json_t **out, loam_err *err)
{
	cleanup_rows struct loam_db_rows *rows = NULL;
	if (loam_db_query(db,
			  "SELECT component, name, version, arch FROM vm_artifact WHERE vm_id = ? "
			  "ORDER BY component",
			  DB_ARGS(DB_TEXT(vm_id)), &rows, err) < 0)
		return -1;
	json_t *o = json_object();
	for (size_t r = 0; r < loam_db_rows_count(rows); r++)
		json_object_set_new(o, loam_db_rows_text(rows, r, 0),
				    json_pack("{s:s, s:s, s:s}", "name",
					      loam_db_rows_text(rows, r, 1), "version",
					      loam_db_rows_text(rows, r, 2), "arch",
					      loam_db_rows_text(rows, r, 3)));
	*out = o;
	return 0;
}
