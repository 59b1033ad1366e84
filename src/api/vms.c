/*
 * /v1/vms: create (validate, check the project's quota, then record the
 * row and its "vm" strand in one transaction; the strand places, prepares
 * and boots the VM), list, show, stop/start/reboot and destroy. Every VM
 * is looked up in the projects the principal may see (a project token:
 * its own; the operator: ?project=, else all), so another project's VM is
 * answered exactly as a VM that does not exist. When a VM has a strand (id
 * = VM id), actions are raised as signals on it instead of being recorded
 * directly.
 */
#include "api/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc/alloc.h"
#include "arch/arch.h"
#include "db/vm_guest.h"
#include "db/project.h"
#include "db/net.h"
#include "db/records.h"
#include "db/vm.h"
#include "engine/engine.h"
#include "lib/cleanup.h"
#include "lib/json.h"
#include "lib/valid.h"
#include "progs/progs.h"

static json_t *time_or_null(int64_t t)
{
	return t < 0 ? json_null() : json_integer(t);
}

static json_t *str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

/* Component versions the VM runs with: [{component, name, version, arch,
 * next}], next being what `loam vm upgrade` moves it to at its next start
 * ({name, version, arch}) or null. */
static json_t *vm_artifacts(struct loam_db *db, const char *vm_id)
{
	json_t *list = json_array();
	struct loam_vm_pin *pins = NULL;
	size_t n = 0;
	cleanup_err loam_err err = NULL;
	if (loam_vm_pins(db, vm_id, &pins, &n, &err) < 0)
		return list;
	for (size_t i = 0; i < n; i++) {
		const struct loam_vm_pin *p = &pins[i];
		json_t *next = p->next_version
				   ? json_pack("{s:s, s:s, s:s}", "name", p->next_name, "version",
					       p->next_version, "arch", p->next_arch)
				   : json_null();
		json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:s, s:o}", "component",
						      p->component, "name", p->name, "version",
						      p->version, "arch", p->arch, "next", next));
	}
	loam_vm_pins_free(pins, n);
	return list;
}

/* DESIGN.md §4 keys first: name, arch, size, state, host. */
static json_t *vm_view(struct loam_db *db, const struct loam_vm *vm)
{
	json_t *v = json_object();
	json_object_set_new(v, "name", json_string(vm->name));
	json_object_set_new(v, "arch", json_string(vm->arch));
	json_object_set_new(v, "size", json_string(vm->size));
	json_object_set_new(v, "state", json_string(loam_vm_state_name(vm->state)));
	json_object_set_new(v, "host", str_or_null(vm->host_name));
	json_object_set_new(v, "project", str_or_null(vm->project));
	json_object_set_new(v, "id", json_string(vm->id));
	json_object_set_new(v, "vcpus", json_integer(vm->vcpus));
	json_object_set_new(v, "cores", json_integer(vm->cores));
	json_object_set_new(v, "memory_gib", json_integer(vm->memory_gib));
	json_object_set_new(v, "storage_gib", json_integer(vm->storage_gib));
	json_object_set_new(v, "hugepages", json_boolean(vm->hugepages));
	json_object_set_new(v, "location", json_string(vm->location));
	json_object_set_new(v, "image", str_or_null(vm->boot_image));
	json_object_set_new(v, "state_reason", str_or_null(vm->state_reason));
	json_object_set_new(v, "guest_machine", str_or_null(vm->guest_machine));
	json_object_set_new(v, "created_at", json_integer(vm->created_at));
	json_object_set_new(v, "allocated_at", time_or_null(vm->allocated_at));
	json_object_set_new(v, "provisioned_at", time_or_null(vm->provisioned_at));
	json_object_set_new(v, "artifacts", vm_artifacts(db, vm->id));
	return v;
}

/* The project ?project= names, for the operator; a project token acts in
 * its own and may name only that one. 0 with no scope (every project). */
static int list_scope(struct api_req *r, char id[27], bool *scoped, loam_err *err)
{
	char name[LOAM_NAME_MAX + 1];
	*scoped = r->who.kind == LOAM_PRINCIPAL_PROJECT || r->q.project;
	return *scoped ? api_request_project(r, NULL, id, name, err) : 0;
}

int api_vms_list(struct api_req *r, loam_err *err)
{
	char project_id[27] = "";
	bool scoped = false;
	struct loam_vm *vms = NULL;
	size_t n = 0;
	if (list_scope(r, project_id, &scoped, err) < 0 ||
	    loam_vm_list(r->db, scoped ? project_id : NULL, &r->q.page, &vms, &n, err) < 0)
		return -1;
	json_t *list = json_array();
	size_t shown = api_page_shown(r, n);
	for (size_t i = 0; i < shown; i++)
		json_array_append_new(list, vm_view(r->db, &vms[i]));
	if (n > shown) {
		cleanup_free char *key = loam_vm_page_key(&vms[shown - 1]);
		api_page_link(r, key);
	}
	loam_vm_list_free(vms, n);
	r->out = list;
	return 0;
}

int api_vm_lookup(struct api_req *r, const char *name, struct loam_vm *vm, loam_err *err)
{
	char project_id[27] = "";
	bool scoped = false;
	if (list_scope(r, project_id, &scoped, err) < 0) {
		/* an unknown project hides its VMs like a known one would */
		if (loam_err_kind_of(*err) == LOAM_E_NOTFOUND)
			return loam_fail(err, LOAM_E_NOTFOUND, "no VM named '%s'; see: loam vm ls",
					 name);
		return -1;
	}
	return loam_vm_load_by_name(r->db, scoped ? project_id : NULL, name, vm, err);
}

/* `vm show`: the list's view, its network and its guest. */
static int show_view(struct api_req *r, const struct loam_vm *vm, loam_err *err)
{
	r->out = vm_view(r->db, vm);
	if (api_vm_net_view(r->db, vm, r->out, err) < 0)
		return -1;
	return api_vm_guest_view(r->db, vm, r->out, err);
}

int api_vms_show(struct api_req *r, loam_err *err)
{
	cleanup_vm struct loam_vm vm = {0};
	if (api_vm_lookup(r, r->seg[1], &vm, err) < 0)
		return -1;
	return show_view(r, &vm, err);
}

/* The VM as it is now, after a request changed it. */
static int show_by_id(struct api_req *r, const char *id, loam_err *err)
{
	cleanup_vm struct loam_vm vm = {0};
	int found = loam_vm_load(r->db, id, &vm, err);
	if (found <= 0)
		return found < 0 ? -1 : loam_fail(err, LOAM_E_NOTFOUND, "the VM is gone meanwhile");
	return show_view(r, &vm, err);
}

/* ---- create ---- */

struct vm_spec {
	char id[27];
	char project_id[27], project[LOAM_NAME_MAX + 1];
	const char *name, *location, *image, *arch_input, *size_input;
	struct loam_vm_port *ports; /* open_ports */
	size_t nports;
	const char *boot; /* "firmware" (UEFI from the disk) or "kernel" (the image's kernel) */
	const char *login_user; /* NULL: LOAM_VM_DEFAULT_LOGIN_USER */
	const char *ssh_keys[LOAM_VM_MAX_SSH_KEYS];
	size_t nkeys;
	const struct loam_arch *arch;
	const struct loam_size *size;
};

/* "ssh_keys": an array of OpenSSH public key lines (db/vm_guest.h checks
 * each); the strings stay owned by the request body. */
static int ssh_keys_from_body(struct api_req *r, struct vm_spec *s, loam_err *err)
{
	json_t *keys = json_object_get(r->body, "ssh_keys");
	if (!keys)
		return 0;
	if (!json_is_array(keys) || json_array_size(keys) > LOAM_VM_MAX_SSH_KEYS)
		return loam_fail(err, LOAM_E_INVALID,
				 "ssh_keys must be an array of at most %d public key lines",
				 LOAM_VM_MAX_SSH_KEYS);
	size_t i;
	json_t *k;
	json_array_foreach(keys, i, k)
	{
		if (!json_is_string(k))
			return loam_fail(err, LOAM_E_INVALID,
					 "ssh_keys[%zu] must be a string: one public key line", i);
		s->ssh_keys[s->nkeys++] = json_string_value(k);
	}
	return 0;
}

static int vm_spec_from_body(struct api_req *r, struct vm_spec *s, loam_err *err)
{
	static const char *const allowed[] = {"name",	    "arch",	"size",	      "location",
					      "image",	    "boot",	"open_ports", "project",
					      "login_user", "ssh_keys", NULL};
	const char *project = NULL;
	if (api_body_check(r, allowed, false, err) < 0 ||
	    api_body_str(r, "project", LOAM_NAME_MAX, &project, err) < 0 ||
	    (project && loam_valid_name("project", project, err) < 0) ||
	    api_request_project(r, project, s->project_id, s->project, err) < 0 ||
	    api_body_str(r, "name", LOAM_NAME_MAX, &s->name, err) < 0 ||
	    api_body_str(r, "arch", 64, &s->arch_input, err) < 0 ||
	    api_body_str(r, "size", 64, &s->size_input, err) < 0 ||
	    api_body_str(r, "location", LOAM_NAME_MAX, &s->location, err) < 0 ||
	    api_body_str(r, "image", LOAM_NAME_MAX, &s->image, err) < 0 ||
	    api_body_str(r, "boot", 16, &s->boot, err) < 0 ||
	    api_body_str(r, "login_user", 32, &s->login_user, err) < 0 ||
	    ssh_keys_from_body(r, s, err) < 0 ||
	    api_vm_ports_parse(json_object_get(r->body, "open_ports"), &s->ports, &s->nports, err) <
		0)
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
	if (!s->arch || loam_size_find(s->arch, s->size_input, &s->size, err) < 0)
		return -1;
	return api_image_check(r->api, s->image, s->arch->name, err);
}

static int vm_insert_tx(struct loam_db *db, void *ctx, loam_err *err)
{
	struct vm_spec *s = ctx;
	bool taken = false;
	if (loam_vm_name_taken(db, s->project_id, s->name, &taken, err) < 0)
		return -1;
	if (taken)
		return loam_fail(err, LOAM_E_CONFLICT,
				 "a VM named '%s' exists already; pick another name or remove "
				 "it with: loam vm rm %s",
				 s->name, s->name);
	if (loam_quota_check(db, s->project_id, s->project, s->arch->name, s->size->vcpus,
			     s->size->memory_gib, err) < 0)
		return -1;
	struct loam_vm_spec spec = {.name = s->name,
				    .arch = s->arch->name,
				    .size = s->size->name,
				    .location = s->location,
				    .boot_image = s->image,
				    .project_id = s->project_id};
	return loam_vm_insert(db, &spec, s->id, err);
}

/* The VM row and its "vm" strand (id = VM id) in one transaction: the
 * strand places, prepares and boots it; nothing is allocated here. */
static int vm_create_tx(struct loam_db *db, void *ctx, loam_err *err)
{
	struct vm_spec *s = ctx;
	if (vm_insert_tx(db, ctx, err) < 0 ||
	    api_vm_ports_insert(db, s->id, s->ports, s->nports, err) < 0)
		return -1;
	if ((s->nkeys > 0 || s->login_user) &&
	    loam_vm_login_insert(db, s->id,
				 s->login_user ? s->login_user : LOAM_VM_DEFAULT_LOGIN_USER,
				 s->ssh_keys, s->nkeys, err) < 0)
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
	int rc = vm_spec_from_body(r, &s, err) < 0 || api_vm_create(r, &s, err) < 0 ? -1 : 0;
	free(s.ports);
	if (rc < 0)
		return -1;
	r->status = 201;
	return show_by_id(r, s.id, err);
}

/* ---- actions ---- */

/* The state an action leads to, or -1 with *err when it is refused. */
static int action_target(const char *action, enum loam_vm_state state, const char *name,
			 enum loam_vm_state *target, loam_err *err)
{
	if (state == LOAM_VM_UNAVAILABLE)
		return loam_fail(err, LOAM_E_CONFLICT,
				 "VM '%s' is unavailable (its host is unreachable); wait for the "
				 "host to return or remove the VM",
				 name);
	bool stopped = state == LOAM_VM_STOPPED;
	*target = state;
	if (strcmp(action, LOAM_SIGNAL_STOP) == 0)
		*target = LOAM_VM_STOPPED;
	else if (strcmp(action, LOAM_SIGNAL_START) == 0)
		*target = stopped ? LOAM_VM_ALLOCATED : state;
	else if (stopped)
		return loam_fail(err, LOAM_E_CONFLICT,
				 "VM '%s' is stopped; start it with: loam vm start %s", name, name);
	return 0;
}

int api_vms_action(struct api_req *r, loam_err *err)
{
	static const char *const no_fields[] = {NULL};
	const char *action = r->seg[2];
	cleanup_vm struct loam_vm vm = {0};
	enum loam_vm_state target = LOAM_VM_CREATING;
	bool live = false;
	if (api_body_check(r, no_fields, true, err) < 0 ||
	    api_vm_lookup(r, r->seg[1], &vm, err) < 0 ||
	    action_target(action, vm.state, r->seg[1], &target, err) < 0 ||
	    loam_strand_live(r->db, vm.id, &live, err) < 0)
		return -1;
	if (live) {
		if (loam_strand_signal(r->db, vm.id, action, err) < 0)
			return -1;
		r->status = 202;
	} else if (loam_vm_set_state_keep_reason(r->db, vm.id, target, err) < 0) {
		return -1;
	}
	return show_by_id(r, vm.id, err);
}

int api_vms_delete(struct api_req *r, loam_err *err)
{
	cleanup_vm struct loam_vm vm = {0};
	bool live = false;
	if (api_vm_lookup(r, r->seg[1], &vm, err) < 0 ||
	    loam_strand_live(r->db, vm.id, &live, err) < 0)
		return -1;
	if (live) {
		if (loam_strand_signal(r->db, vm.id, LOAM_SIGNAL_DESTROY, err) < 0)
			return -1;
		r->status = 202;
		r->out = json_pack("{s:s, s:s}", "name", r->seg[1], "state", "destroying");
		return 0;
	}
	if (r->api->alloc && loam_alloc_release(r->api->alloc, r->db, vm.id, err) < 0)
		return loam_err_wrap(err, "release VM %s", r->seg[1]);
	if (loam_vm_delete(r->db, vm.id, err) < 0)
		return -1;
	r->out = json_pack("{s:s, s:b}", "name", r->seg[1], "deleted", 1);
	return 0;
}
