/*
 * /v1/vms: create (validate, then record the row and its "vm" strand in
 * one transaction; the strand places, prepares and boots the VM), list,
 * show, stop/start/reboot and destroy. When a VM has a strand (id = VM
 * id), actions are raised as signals on it instead of being recorded
 * directly.
 */
#include "api/internal.h"

#include <stdio.h>
#include <string.h>

#include "alloc/alloc.h"
#include "arch/arch.h"
#include "db/records.h"
#include "engine/engine.h"
#include "lib/cleanup.h"
#include "lib/json.h"
#include "lib/valid.h"
#include "progs/progs.h"

/* The guest image the artifact store builds for every arch. */
#define LOAM_DEFAULT_BOOT_IMAGE "loam-guest"

#define VM_SELECT                                                                                  \
	"SELECT v.id, v.name, v.arch, v.size, v.state, v.state_reason, v.vcpus, v.cores, "         \
	"v.memory_gib, v.storage_gib, v.hugepages, v.location, v.boot_image, v.host_id, "          \
	"h.name AS host_name, v.guest_machine, v.created_at, v.allocated_at, v.provisioned_at "    \
	"FROM vm v LEFT JOIN host h ON h.id = v.host_id "

static json_t *opt_int(const struct loam_db_rows *rows, size_t i, const char *col)
{
	return api_null(rows, i, col) ? json_null() : json_integer(api_int(rows, i, col));
}

/* Component versions the VM runs with, once the artifacts work records them. */
static json_t *vm_artifacts(struct loam_db *db, const char *vm_id)
{
	json_t *list = json_array();
	cleanup_rows struct loam_db_rows *rows = NULL;
	cleanup_err loam_err err = NULL;
	if (loam_db_query(db, "SELECT * FROM vm_artifact WHERE vm_id = ?", DB_ARGS(DB_TEXT(vm_id)),
			  &rows, &err) < 0)
		return list;
	for (size_t i = 0; i < loam_db_rows_count(rows); i++) {
		json_t *o = json_object();
		for (size_t c = 0; c < loam_db_rows_cols(rows); c++)
			if (strcmp(loam_db_rows_name(rows, c), "vm_id") != 0)
				json_object_set_new(
				    o, loam_db_rows_name(rows, c),
				    loam_db_rows_null(rows, i, c)
					? json_null()
					: json_string(loam_db_rows_text(rows, i, c)));
		json_array_append_new(list, o);
	}
	return list;
}

/* docs/design.md §4 keys first: name, arch, size, state, host. */
static json_t *vm_view(struct loam_db *db, const struct loam_db_rows *rows, size_t i)
{
	json_t *v = json_object();
	json_object_set_new(v, "name", api_json_text(rows, i, "name"));
	json_object_set_new(v, "arch", api_json_text(rows, i, "arch"));
	json_object_set_new(v, "size", api_json_text(rows, i, "size"));
	json_object_set_new(v, "state", api_json_text(rows, i, "state"));
	json_object_set_new(v, "host", api_json_text(rows, i, "host_name"));
	json_object_set_new(v, "id", api_json_text(rows, i, "id"));
	json_object_set_new(v, "vcpus", json_integer(api_int(rows, i, "vcpus")));
	json_object_set_new(v, "cores", json_integer(api_int(rows, i, "cores")));
	json_object_set_new(v, "memory_gib", json_integer(api_int(rows, i, "memory_gib")));
	json_object_set_new(v, "storage_gib", json_integer(api_int(rows, i, "storage_gib")));
	json_object_set_new(v, "hugepages", json_boolean(api_int(rows, i, "hugepages")));
	json_object_set_new(v, "location", api_json_text(rows, i, "location"));
	json_object_set_new(v, "image", api_json_text(rows, i, "boot_image"));
	json_object_set_new(v, "state_reason", api_json_text(rows, i, "state_reason"));
	json_object_set_new(v, "guest_machine", api_json_text(rows, i, "guest_machine"));
	json_object_set_new(v, "created_at", json_integer(api_int(rows, i, "created_at")));
	json_object_set_new(v, "allocated_at", opt_int(rows, i, "allocated_at"));
	json_object_set_new(v, "provisioned_at", opt_int(rows, i, "provisioned_at"));
	json_object_set_new(v, "artifacts", vm_artifacts(db, api_text(rows, i, "id")));
	return v;
}

int api_vms_list(struct api_req *r, loam_err *err)
{
	cleanup_rows struct loam_db_rows *rows = NULL;
	if (loam_db_query(r->db, VM_SELECT "ORDER BY v.name", DB_NOARGS, &rows, err) < 0)
		return -1;
	json_t *list = json_array();
	for (size_t i = 0; i < loam_db_rows_count(rows); i++)
		json_array_append_new(list, vm_view(r->db, rows, i));
	r->out = list;
	return 0;
}

static int load_vm(struct loam_db *db, const char *name, struct loam_db_rows **rows, loam_err *err)
{
	if (loam_db_query(db, VM_SELECT "WHERE v.name = ?", DB_ARGS(DB_TEXT(name)), rows, err) < 0)
		return -1;
	if (loam_db_rows_count(*rows) == 0)
		return loam_fail(err, LOAM_E_NOTFOUND, "no VM named '%s'; see: loam vm ls", name);
	return 0;
}

int api_vms_show(struct api_req *r, loam_err *err)
{
	cleanup_rows struct loam_db_rows *rows = NULL;
	if (load_vm(r->db, r->seg[1], &rows, err) < 0)
		return -1;
	r->out = vm_view(r->db, rows, 0);
	return 0;
}

/* ---- create ---- */

struct vm_spec {
	char id[27];
	const char *name, *location, *image, *arch_input, *size_input;
	const char *boot; /* "firmware" (UEFI from the disk) or "kernel" (the image's kernel) */
	const struct loam_arch *arch;
	const struct loam_size *size;
};

static int vm_spec_from_body(struct api_req *r, struct vm_spec *s, loam_err *err)
{
	static const char *const allowed[] = {"name",  "arch", "size", "location",
					      "image", "boot", NULL};
	if (api_body_check(r, allowed, false, err) < 0 ||
	    api_body_str(r, "name", LOAM_NAME_MAX, &s->name, err) < 0 ||
	    api_body_str(r, "arch", 64, &s->arch_input, err) < 0 ||
	    api_body_str(r, "size", 64, &s->size_input, err) < 0 ||
	    api_body_str(r, "location", LOAM_NAME_MAX, &s->location, err) < 0 ||
	    api_body_str(r, "image", LOAM_NAME_MAX, &s->image, err) < 0 ||
	    api_body_str(r, "boot", 16, &s->boot, err) < 0)
		return -1;
	if (s->boot && strcmp(s->boot, "firmware") != 0 && strcmp(s->boot, "kernel") != 0)
		return loam_fail(err, LOAM_E_INVALID,
				 "boot must be 'firmware' (UEFI from the disk) or 'kernel' (the "
				 "image's kernel directly, the fast path)");
	if (loam_valid_name("VM name", s->name, err) < 0 ||
	    loam_valid_name("location", s->location, err) < 0)
		return -1;
	if (s->image && loam_valid_name("image", s->image, err) < 0)
		return -1;
	if (!s->arch_input)
		return loam_fail(err, LOAM_E_INVALID, "a VM needs an arch: one of %s",
				 loam_arch_supported_list());
	if (!s->size_input)
		return loam_fail(err, LOAM_E_INVALID, "a VM needs a size; see: loam sizes");
	s->arch = loam_arch_normalize(s->arch_input, err);
	if (!s->arch)
		return -1;
	return loam_size_find(s->arch, s->size_input, &s->size, err);
}

static int vm_insert_tx(struct loam_db *db, void *ctx, loam_err *err)
{
	struct vm_spec *s = ctx;
	cleanup_rows struct loam_db_rows *rows = NULL;
	if (loam_db_query(db, "SELECT 1 FROM vm WHERE name = ?", DB_ARGS(DB_TEXT(s->name)), &rows,
			  err) < 0)
		return -1;
	if (loam_db_rows_count(rows) > 0)
		return loam_fail(err, LOAM_E_CONFLICT,
				 "a VM named '%s' exists already; pick another name or remove "
				 "it with: loam vm rm %s",
				 s->name, s->name);
	struct loam_vm_spec spec = {.name = s->name,
				    .arch = s->arch->name,
				    .size = s->size->name,
				    .location = s->location,
				    .boot_image = s->image};
	return loam_vm_insert(db, &spec, s->id, err);
}

/* The VM row and its "vm" strand (id = VM id) in one transaction: the
 * strand places, prepares and boots it; nothing is allocated here. */
static int vm_create_tx(struct loam_db *db, void *ctx, loam_err *err)
{
	struct vm_spec *s = ctx;
	if (vm_insert_tx(db, ctx, err) < 0)
		return -1;
	cleanup_json json_t *frame = json_pack("{s:s}", "boot", s->boot ? s->boot : "firmware");
	if (loam_strand_create(db, LOAM_PROG_VM, NULL, frame, s->id, NULL, err) < 0)
		return loam_err_wrap(err, "create the vm strand");
	return 0;
}

static int api_vm_create(struct api_req *r, struct vm_spec *s, loam_err *err)
{
	return loam_db_tx(r->db, vm_create_tx, s, err);
}

int api_vms_create(struct api_req *r, loam_err *err)
{
	struct vm_spec s = {.location = "default", .image = LOAM_DEFAULT_BOOT_IMAGE};
	if (vm_spec_from_body(r, &s, err) < 0 || api_vm_create(r, &s, err) < 0)
		return -1;
	char name[LOAM_NAME_MAX + 1];
	snprintf(name, sizeof(name), "%s", s.name);
	r->seg[1] = name;
	r->status = 201;
	return api_vms_show(r, err);
}

/* ---- actions ---- */

static bool has_strand(struct loam_db *db, const char *id)
{
	cleanup_rows struct loam_db_rows *rows = NULL;
	cleanup_err loam_err err = NULL;
	return loam_db_query(db, "SELECT 1 FROM strand WHERE id = ? AND done = 0",
			     DB_ARGS(DB_TEXT(id)), &rows, &err) == 0 &&
	       loam_db_rows_count(rows) > 0;
}

static int raise_signal(struct loam_db *db, const char *id, const char *signal, loam_err *err)
{
	return loam_strand_signal(db, id, signal, err);
}

/* The state an action leads to, or NULL with *err when it is refused. */
static const char *action_target(const char *action, const char *state, const char *name,
				 loam_err *err)
{
	if (strcmp(state, "unavailable") == 0) {
		loam_fail(err, LOAM_E_CONFLICT,
			  "VM '%s' is unavailable (its host is unreachable); wait for the host "
			  "to return or remove the VM",
			  name);
		return NULL;
	}
	bool stopped = strcmp(state, "stopped") == 0;
	if (strcmp(action, "stop") == 0)
		return "stopped";
	if (strcmp(action, "start") == 0)
		return stopped ? "allocated" : state;
	if (stopped) {
		loam_fail(err, LOAM_E_CONFLICT,
			  "VM '%s' is stopped; start it with: loam vm start %s", name, name);
		return NULL;
	}
	return state;
}

int api_vms_action(struct api_req *r, loam_err *err)
{
	static const char *const no_fields[] = {NULL};
	const char *action = r->seg[2];
	cleanup_rows struct loam_db_rows *rows = NULL;
	if (api_body_check(r, no_fields, true, err) < 0 ||
	    load_vm(r->db, r->seg[1], &rows, err) < 0)
		return -1;
	const char *id = api_text(rows, 0, "id");
	const char *target = action_target(action, api_text(rows, 0, "state"), r->seg[1], err);
	if (!target)
		return -1;
	if (has_strand(r->db, id)) {
		if (raise_signal(r->db, id, action, err) < 0)
			return -1;
		r->status = 202;
	} else if (loam_db_exec(r->db, "UPDATE vm SET state = ? WHERE id = ?",
				DB_ARGS(DB_TEXT(target), DB_TEXT(id)), NULL, err) < 0) {
		return -1;
	}
	r->nseg = 2;
	int status = r->status;
	if (api_vms_show(r, err) < 0)
		return -1;
	r->status = status;
	return 0;
}

int api_vms_delete(struct api_req *r, loam_err *err)
{
	cleanup_rows struct loam_db_rows *rows = NULL;
	if (load_vm(r->db, r->seg[1], &rows, err) < 0)
		return -1;
	const char *id = api_text(rows, 0, "id");
	if (has_strand(r->db, id)) {
		if (raise_signal(r->db, id, "destroy", err) < 0)
			return -1;
		r->status = 202;
		r->out = json_pack("{s:s, s:s}", "name", r->seg[1], "state", "destroying");
		return 0;
	}
	if (r->api->alloc && loam_alloc_release(r->api->alloc, r->db, id, err) < 0)
		return loam_err_wrap(err, "release VM %s", r->seg[1]);
	if (loam_db_exec(r->db, "DELETE FROM vm WHERE id = ?", DB_ARGS(DB_TEXT(id)), NULL, err) < 0)
		return -1;
	r->out = json_pack("{s:s, s:b}", "name", r->seg[1], "deleted", 1);
	return 0;
}
