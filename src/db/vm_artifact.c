/*
 * The artifact versions a VM runs with (vm_artifact) and where they are
 * installed on its host (db/vm.h). A pin is written once and kept, so a
 * running VM keeps its versions across host upgrades; `loam vm upgrade`
 * records the version it moves to beside it, and the VM's next start makes
 * that its pin.
 */
#include <stdlib.h>
#include <string.h>

#include "db/vm.h"
#include "lib/cleanup.h"
#include "lib/xalloc.h"

struct pin_tx {
	const char *vm_id;
	const struct loam_vm_pin *pins;
	size_t n;
};

static int pin_tx(struct loam_db *db, void *ctx, loam_err *err)
{
	const struct pin_tx *t = ctx;
	for (size_t i = 0; i < t->n; i++) {
		const struct loam_vm_pin *p = &t->pins[i];
		if (loam_db_exec(db,
				 "INSERT INTO vm_artifact (vm_id, component, name, version, arch) "
				 "VALUES (?, ?, ?, ?, ?) ON CONFLICT (vm_id, component) DO NOTHING",
				 DB_ARGS(DB_TEXT(t->vm_id), DB_TEXT(p->component), DB_TEXT(p->name),
					 DB_TEXT(p->version), DB_TEXT(p->arch)),
				 NULL, err) < 0)
			return -1;
	}
	return 0;
}

int loam_vm_pin(struct loam_db *db, const char *vm_id, const struct loam_vm_pin *pins, size_t n,
		loam_err *err)
{
	struct pin_tx t = {vm_id, pins, n};
	return n ? loam_db_tx(db, pin_tx, &t, err) : 0;
}

int loam_vm_pins(struct loam_db *db, const char *vm_id, struct loam_vm_pin **pins, size_t *n,
		 loam_err *err)
{
	cleanup_rows struct loam_db_rows *r = NULL;
	*pins = NULL;
	*n = 0;
	if (loam_db_query(db,
			  "SELECT component, name, version, arch, next_name, next_version, "
			  "next_arch FROM vm_artifact WHERE vm_id = ? ORDER BY component",
			  DB_ARGS(DB_TEXT(vm_id)), &r, err) < 0)
		return -1;
	size_t count = loam_db_rows_count(r);
	struct loam_vm_pin *list = xcalloc(count ? count : 1, sizeof(*list));
	for (size_t i = 0; i < count; i++)
		list[i] = (struct loam_vm_pin){loam_db_rows_dup(r, i, 0), loam_db_rows_dup(r, i, 1),
					       loam_db_rows_dup(r, i, 2), loam_db_rows_dup(r, i, 3),
					       loam_db_rows_dup(r, i, 4), loam_db_rows_dup(r, i, 5),
					       loam_db_rows_dup(r, i, 6)};
	*pins = list;
	*n = count;
	return 0;
}

void loam_vm_pins_free(struct loam_vm_pin *pins, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char *strings[] = {pins[i].component, pins[i].name,	 pins[i].version,
				   pins[i].arch,      pins[i].next_name, pins[i].next_version,
				   pins[i].next_arch};
		for (size_t k = 0; k < sizeof(strings) / sizeof(*strings); k++)
			free(strings[k]);
	}
	free(pins);
}

int loam_vm_pinned_path(struct loam_db *db, const char *vm_id, const char *host_id,
			const char *component, char **path, bool *is_file, loam_err *err)
{
	cleanup_rows struct loam_db_rows *r = NULL;
	*path = NULL;
	if (loam_db_query(db,
			  "SELECT h.path, h.kind FROM vm_artifact a JOIN host_artifact h ON "
			  "h.host_id = ? AND h.component = a.component AND h.name = a.name AND "
			  "h.version = a.version AND h.arch = a.arch AND "
			  "h.state IN ('installed', 'unavailable') "
			  "WHERE a.vm_id = ? AND a.component = ?",
			  DB_ARGS(DB_TEXT(host_id), DB_TEXT(vm_id), DB_TEXT(component)), &r,
			  err) < 0)
		return -1;
	if (loam_db_rows_count(r) == 0 || loam_db_rows_null(r, 0, 0))
		return 0;
	*path = xstrdup(loam_db_rows_text(r, 0, 0));
	if (is_file)
		*is_file = strcmp(loam_db_rows_text(r, 0, 1), "file") == 0;
	return 1;
}

int loam_vm_pin_set_next(struct loam_db *db, const char *vm_id, const char *component,
			 const char *name, const char *version, const char *arch, loam_err *err)
{
	return loam_db_exec(
	    db,
	    "UPDATE vm_artifact SET next_name = ?, next_version = ?, next_arch = ? "
	    "WHERE vm_id = ? AND component = ?",
	    DB_ARGS(loam_db_text_or_null(name), loam_db_text_or_null(name ? version : NULL),
		    loam_db_text_or_null(name ? arch : NULL), DB_TEXT(vm_id), DB_TEXT(component)),
	    NULL, err);
}

int loam_vm_pins_take_next(struct loam_db *db, const char *vm_id, loam_err *err)
{
	return loam_db_exec(db,
			    "UPDATE vm_artifact SET name = next_name, version = next_version, "
			    "arch = next_arch, next_name = NULL, next_version = NULL, "
			    "next_arch = NULL WHERE vm_id = ? AND next_version IS NOT NULL",
			    DB_ARGS(DB_TEXT(vm_id)), NULL, err);
}
