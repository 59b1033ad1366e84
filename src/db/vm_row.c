/*
 * Reading VM rows into struct loam_vm (db/vm.h), and the names of the VM
 * states. One SELECT serves the API's list and show and the VM prog.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/vm.h"
#include "lib/cleanup.h"
#include "lib/xalloc.h"

static const char *const state_names[LOAM_VM_STATE_COUNT] = {
    [LOAM_VM_CREATING] = "creating",	 [LOAM_VM_WAITING] = "waiting",
    [LOAM_VM_ALLOCATED] = "allocated",	 [LOAM_VM_PREPARING] = "preparing",
    [LOAM_VM_BOOTING] = "booting",	 [LOAM_VM_RUNNING] = "running",
    [LOAM_VM_STOPPED] = "stopped",	 [LOAM_VM_STARTING] = "starting",
    [LOAM_VM_REBOOTING] = "rebooting",	 [LOAM_VM_FAILED] = "failed",
    [LOAM_VM_DESTROYING] = "destroying", [LOAM_VM_UNAVAILABLE] = "unavailable",
};

const char *loam_vm_state_name(enum loam_vm_state s)
{
	return s < LOAM_VM_STATE_COUNT ? state_names[s] : "unknown";
}

int loam_vm_state_parse(const char *name, enum loam_vm_state *out, loam_err *err)
{
	for (int i = 0; i < LOAM_VM_STATE_COUNT; i++)
		if (name && strcmp(name, state_names[i]) == 0) {
			*out = (enum loam_vm_state)i;
			return 0;
		}
	return loam_fail(err, LOAM_E_INVALID, "'%.32s' is not a VM state", name ? name : "");
}

#define VM_SELECT                                                                                  \
	"SELECT v.id, v.name, v.arch, v.size, v.location, v.boot_image, v.host_id, h.name, "       \
	"v.state_reason, v.guest_machine, v.project_id, p.name, v.state, v.vcpus, v.cores, "       \
	"v.memory_gib, v.storage_gib, v.hugepages, v.created_at, v.allocated_at, "                 \
	"v.provisioned_at FROM vm v LEFT JOIN host h ON h.id = v.host_id "                         \
	"JOIN project p ON p.id = v.project_id "
#define VM_COL_STATE 12

static char *text_or_null(const struct loam_db_rows *r, size_t i, size_t c)
{
	return loam_db_rows_null(r, i, c) ? NULL : xstrdup(loam_db_rows_text(r, i, c));
}

static int64_t time_or_unset(const struct loam_db_rows *r, size_t i, size_t c)
{
	return loam_db_rows_null(r, i, c) ? -1 : loam_db_rows_int(r, i, c);
}

static int vm_from_row(const struct loam_db_rows *r, size_t i, struct loam_vm *vm, loam_err *err)
{
	*vm = (struct loam_vm){0};
	snprintf(vm->id, sizeof(vm->id), "%s", loam_db_rows_text(r, i, 0));
	char **texts[] = {&vm->name,	      &vm->arch,       &vm->size,      &vm->location,
			  &vm->boot_image,    &vm->host_id,    &vm->host_name, &vm->state_reason,
			  &vm->guest_machine, &vm->project_id, &vm->project};
	for (size_t c = 0; c < sizeof(texts) / sizeof(*texts); c++)
		*texts[c] = text_or_null(r, i, c + 1);
	size_t c = VM_COL_STATE + 1;
	vm->vcpus = loam_db_rows_int(r, i, c++);
	vm->cores = loam_db_rows_int(r, i, c++);
	vm->memory_gib = loam_db_rows_int(r, i, c++);
	vm->storage_gib = loam_db_rows_int(r, i, c++);
	vm->hugepages = loam_db_rows_int(r, i, c++) != 0;
	vm->created_at = loam_db_rows_int(r, i, c++);
	vm->allocated_at = time_or_unset(r, i, c++);
	vm->provisioned_at = time_or_unset(r, i, c);
	if (loam_vm_state_parse(loam_db_rows_text(r, i, VM_COL_STATE), &vm->state, err) < 0) {
		loam_vm_free(vm);
		return loam_err_wrap(err, "VM %s", loam_db_rows_text(r, i, 0));
	}
	return 0;
}

void loam_vm_free(struct loam_vm *vm)
{
	char *texts[] = {vm->name,	    vm->arch,	    vm->size,	   vm->location,
			 vm->boot_image,    vm->host_id,    vm->host_name, vm->state_reason,
			 vm->guest_machine, vm->project_id, vm->project};
	for (size_t c = 0; c < sizeof(texts) / sizeof(*texts); c++)
		free(texts[c]);
	*vm = (struct loam_vm){0};
}

int loam_vm_load(struct loam_db *db, const char *id, struct loam_vm *vm, loam_err *err)
{
	cleanup_rows struct loam_db_rows *r = NULL;
	if (loam_db_query(db, VM_SELECT "WHERE v.id = ?", DB_ARGS(DB_TEXT(id)), &r, err) < 0)
		return -1;
	if (loam_db_rows_count(r) == 0)
		return 0;
	return vm_from_row(r, 0, vm, err) < 0 ? -1 : 1;
}

static int vms_from_rows(const struct loam_db_rows *r, struct loam_vm **vms, size_t *n,
			 loam_err *err)
{
	size_t count = loam_db_rows_count(r);
	struct loam_vm *list = xcalloc(count ? count : 1, sizeof(*list));
	for (size_t i = 0; i < count; i++)
		if (vm_from_row(r, i, &list[i], err) < 0) {
			loam_vm_list_free(list, i);
			return -1;
		}
	*vms = list;
	*n = count;
	return 0;
}

/* "a, b" from the projects of the rows. */
static char *projects_of(const struct loam_db_rows *r)
{
	char *out = xstrdup("");
	for (size_t i = 0; i < loam_db_rows_count(r); i++) {
		char *next = xasprintf("%s%s%s", out, i ? ", " : "",
				       loam_db_rows_text(r, i, VM_COL_STATE - 1));
		free(out);
		out = next;
	}
	return out;
}

int loam_vm_load_by_name(struct loam_db *db, const char *project_id, const char *name,
			 struct loam_vm *vm, loam_err *err)
{
	cleanup_rows struct loam_db_rows *r = NULL;
	int rc = project_id ? loam_db_query(db, VM_SELECT "WHERE v.project_id = ? AND v.name = ?",
					    DB_ARGS(DB_TEXT(project_id), DB_TEXT(name)), &r, err)
			    : loam_db_query(db, VM_SELECT "WHERE v.name = ? ORDER BY p.name",
					    DB_ARGS(DB_TEXT(name)), &r, err);
	if (rc < 0)
		return -1;
	if (loam_db_rows_count(r) == 0)
		return loam_fail(err, LOAM_E_NOTFOUND, "no VM named '%s'; see: loam vm ls", name);
	if (loam_db_rows_count(r) > 1) {
		cleanup_free char *projects = projects_of(r);
		return loam_fail(err, LOAM_E_CONFLICT,
				 "VMs named '%s' are in several projects (%s); name the project "
				 "(?project=P, or loam vm ... --project P)",
				 name, projects);
	}
	return vm_from_row(r, 0, vm, err);
}

char *loam_vm_page_key(const struct loam_vm *vm)
{
	return xasprintf("%s:%s", vm->name, vm->project ? vm->project : "");
}

int loam_vm_list(struct loam_db *db, const char *project_id, const struct loam_db_page *page,
		 struct loam_vm **vms, size_t *n, loam_err *err)
{
	cleanup_rows struct loam_db_rows *r = NULL;
	*vms = NULL;
	*n = 0;
	/* The key is "NAME:PROJECT"; a bare "NAME" starts after every VM of
	 * that name. */
	cleanup_free char *name = xstrdup(loam_db_page_after(page));
	char *colon = strchr(name, ':');
	const char *after_project = colon ? colon + 1 : NULL;
	if (colon)
		*colon = '\0';
	const struct loam_db_val scope = project_id ? DB_TEXT(project_id) : DB_NULL;
	int rc = after_project
		     ? loam_db_query(
			   db,
			   VM_SELECT
			   "WHERE (CAST(? AS TEXT) IS NULL OR v.project_id = ?) AND (v.name > ? "
			   "OR (v.name = ? AND p.name > ?)) ORDER BY v.name, "
			   "p.name LIMIT ?",
			   DB_ARGS(scope, scope, DB_TEXT(name), DB_TEXT(name),
				   DB_TEXT(after_project), DB_INT(loam_db_page_limit(page))),
			   &r, err)
		     : loam_db_query(
			   db,
			   VM_SELECT
			   "WHERE (CAST(? AS TEXT) IS NULL OR v.project_id = ?) AND v.name > ? "
			   "ORDER BY v.name, p.name LIMIT ?",
			   DB_ARGS(scope, scope, DB_TEXT(name), DB_INT(loam_db_page_limit(page))),
			   &r, err);
	if (rc < 0)
		return -1;
	return vms_from_rows(r, vms, n, err);
}

void loam_vm_list_free(struct loam_vm *vms, size_t n)
{
	for (size_t i = 0; i < n; i++)
		loam_vm_free(&vms[i]);
	free(vms);
}

int loam_vm_name_taken(struct loam_db *db, const char *project_id, const char *name, bool *taken,
		       loam_err *err)
{
	cleanup_rows struct loam_db_rows *r = NULL;
	if (loam_db_query(db, "SELECT 1 FROM vm WHERE project_id = ? AND name = ?",
			  DB_ARGS(DB_TEXT(project_id), DB_TEXT(name)), &r, err) < 0)
		return -1;
	*taken = loam_db_rows_count(r) > 0;
	return 0;
}

int loam_vm_count(struct loam_db *db, enum loam_vm_state state, int64_t *n, loam_err *err)
{
	cleanup_rows struct loam_db_rows *r = NULL;
	if (loam_db_query(db, "SELECT count(*) FROM vm WHERE state = ?",
			  DB_ARGS(DB_TEXT(loam_vm_state_name(state))), &r, err) < 0)
		return -1;
	*n = loam_db_rows_int(r, 0, 0);
	return 0;
}
