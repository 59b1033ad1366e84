/*
 * Artifact versions per host and per VM (versions.h). Plain SQL that runs
 * unchanged on SQLite and PostgreSQL.
 */
#include <string.h>

#include "artifact/versions.h"
#include "lib/cleanup.h"

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
