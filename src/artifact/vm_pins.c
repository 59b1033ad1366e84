/*
 * A VM's pins (vm_pins.h) over the model's pick rules (db/host_artifact.h)
 * and vm_artifact rows (db/vm.h). Both entry points run in one
 * transaction, so they serialize with GC's, which re-checks that a version
 * is unused before it marks it for removal.
 */
#include "artifact/vm_pins.h"

#include <string.h>

#include "db/host_artifact.h"
#include "db/vm.h"
#include "lib/cleanup.h"
#include "lib/xalloc.h"

/* The VM's pins, with what each starts as next (its pending version, else
 * its own). */
struct pins {
	struct loam_vm_pin *v;
	size_t n;
};

static void pins_free(struct pins *p)
{
	loam_vm_pins_free(p->v, p->n);
}
#define cleanup_pins __attribute__((cleanup(pins_free)))

static struct loam_vm_pin *find(const struct pins *p, const char *component)
{
	for (size_t i = 0; i < p->n; i++)
		if (strcmp(p->v[i].component, component) == 0)
			return &p->v[i];
	return NULL;
}

/* The version the VM starts with next, as a key. */
static struct loam_artifact_key next_key(const struct loam_vm_pin *p)
{
	return p->next_version
		   ? (struct loam_artifact_key){p->component, p->next_name, p->next_version,
						p->next_arch}
		   : (struct loam_artifact_key){p->component, p->name, p->version, p->arch};
}

static int fail_unlisted(const struct loam_artifact_vm *vm, const struct loam_artifact_key *vmm,
			 const char *fw_name, const char *fw_version, const char *listed,
			 loam_err *err)
{
	return loam_fail(err, LOAM_E_CONFLICT,
			 "VMM %s %s and firmware %s %s are not a tested pair: the manifest lists "
			 "%s %s with %s only; VM %s keeps its versions (move both with: loam vm "
			 "upgrade %s)",
			 vmm->name, vmm->version, fw_name, fw_version, vmm->name, vmm->version,
			 *listed ? listed : "no firmware", vm->name, vm->name);
}

/* Fails unless the VMM's row lists the firmware. */
static int check_pair(struct loam_db *db, const struct loam_artifact_vm *vm,
		      const struct loam_artifact_key *vmm, const char *fw_name,
		      const char *fw_version, loam_err *err)
{
	bool listed = false;
	if (loam_host_artifact_pair_listed(db, vm->host_id, vmm, fw_name, fw_version, &listed,
					   err) < 0)
		return -1;
	if (listed)
		return 0;
	cleanup_free char *text = NULL;
	if (loam_host_artifact_firmware_text(db, vm->host_id, vmm, &text, err) < 0)
		return -1;
	return fail_unlisted(vm, vmm, fw_name, fw_version, text, err);
}

/* The newest firmware the VMM lists; none installed fails naming the VMM
 * and the firmware a VM would otherwise take. */
static int pick_firmware(struct loam_db *db, const struct loam_artifact_vm *vm,
			 const struct loam_artifact_key *vmm, struct loam_artifact_pick *out,
			 loam_err *err)
{
	int found = loam_host_artifact_pick_firmware(db, vm->host_id, vm->arch, vmm, out, err);
	if (found != 0)
		return found;
	struct loam_artifact_pick plain = {0};
	found = loam_host_artifact_pick(db, vm->host_id, vm->arch, "firmware", &plain, err);
	if (found <= 0)
		return found;
	int rc = check_pair(db, vm, vmm, plain.name, plain.version, err);
	loam_artifact_pick_free(&plain);
	return rc < 0 ? -1 : 0;
}

/* The storage daemon of the VMM's QEMU version when the host has it (and
 * it is not drained), else the newest. */
static int pick_storage(struct loam_db *db, const struct loam_artifact_vm *vm,
			const struct loam_artifact_key *vmm, struct loam_artifact_pick *out,
			loam_err *err)
{
	int found = loam_host_artifact_pick_version(db, vm->host_id, vm->arch, "storage",
						    vmm->version, out, err);
	if (found != 0)
		return found;
	return loam_host_artifact_pick(db, vm->host_id, vm->arch, "storage", out, err);
}

/* ---- pinning at start ---- */

struct pin_ctx {
	const struct loam_artifact_vm *vm;
	struct loam_vm_pin add[4];
	size_t nadd;
	struct loam_artifact_pick picks[4];
};

static void pin_ctx_reset(struct pin_ctx *c)
{
	for (size_t i = 0; i < c->nadd; i++)
		loam_artifact_pick_free(&c->picks[i]);
	c->nadd = 0;
}

/* Picks component unless pinned; 1 when it is (now) pinned. */
static int pin_one(struct loam_db *db, struct pin_ctx *c, struct pins *have, const char *component,
		   const struct loam_artifact_key *vmm, loam_err *err)
{
	if (find(have, component))
		return 1;
	const struct loam_artifact_vm *vm = c->vm;
	struct loam_artifact_pick *p = &c->picks[c->nadd];
	int found;
	if (strcmp(component, "image") == 0)
		found = loam_host_artifact_pick_image(db, vm->host_id, vm->arch, vm->image, p, err);
	else if (vmm && strcmp(component, "firmware") == 0)
		found = pick_firmware(db, vm, vmm, p, err);
	else if (vmm && strcmp(component, "storage") == 0)
		found = pick_storage(db, vm, vmm, p, err);
	else
		found = loam_host_artifact_pick(db, vm->host_id, vm->arch, component, p, err);
	if (found <= 0)
		return found;
	c->add[c->nadd++] = (struct loam_vm_pin){.component = (char *)component,
						 .name = p->name,
						 .version = p->version,
						 .arch = p->arch};
	return 1;
}

/* The VMM's key from the pins or what was just picked. */
static bool vmm_key(const struct pins *have, const struct pin_ctx *c, struct loam_artifact_key *out)
{
	const struct loam_vm_pin *p = find(have, "vmm");
	for (size_t i = 0; !p && i < c->nadd; i++)
		if (strcmp(c->add[i].component, "vmm") == 0)
			p = &c->add[i];
	if (p)
		*out = (struct loam_artifact_key){"vmm", p->name, p->version, p->arch};
	return p != NULL;
}

static int pin_tx(struct loam_db *db, void *arg, loam_err *err)
{
	struct pin_ctx *c = arg;
	pin_ctx_reset(c); /* the transaction may run again */
	cleanup_pins struct pins have = {0};
	if (loam_vm_pins_take_next(db, c->vm->id, err) < 0 ||
	    loam_vm_pins(db, c->vm->id, &have.v, &have.n, err) < 0)
		return -1;
	struct loam_artifact_key vmm;
	if (pin_one(db, c, &have, "image", NULL, err) < 0 ||
	    pin_one(db, c, &have, "vmm", NULL, err) < 0)
		return -1;
	bool has_vmm = vmm_key(&have, c, &vmm);
	if (pin_one(db, c, &have, "firmware", has_vmm ? &vmm : NULL, err) < 0 ||
	    pin_one(db, c, &have, "storage", has_vmm ? &vmm : NULL, err) < 0)
		return -1;
	const struct loam_vm_pin *fw = find(&have, "firmware");
	if (has_vmm && fw && check_pair(db, c->vm, &vmm, fw->name, fw->version, err) < 0)
		return -1;
	return loam_vm_pin(db, c->vm->id, c->add, c->nadd, err);
}

int loam_artifact_pin_vm(struct loam_db *db, const struct loam_artifact_vm *vm, loam_err *err)
{
	struct pin_ctx c = {.vm = vm};
	int rc = loam_db_tx(db, pin_tx, &c, err);
	pin_ctx_reset(&c);
	return rc;
}

/* ---- vm upgrade ---- */

struct upgrade_ctx {
	const struct loam_artifact_vm *vm;
	const char *only; /* NULL: all three */
	json_t *out;
};

static bool wanted(const struct upgrade_ctx *u, const char *component)
{
	return !u->only || strcmp(u->only, component) == 0;
}

/* Records that the pin moves to p (or stays, when p is what it is). */
static int move_to(struct loam_db *db, const struct upgrade_ctx *u, const struct loam_vm_pin *pin,
		   const struct loam_artifact_pick *p, loam_err *err)
{
	bool same = strcmp(pin->name, p->name) == 0 && strcmp(pin->version, p->version) == 0 &&
		    strcmp(pin->arch, p->arch) == 0;
	if (loam_vm_pin_set_next(db, u->vm->id, pin->component, same ? NULL : p->name, p->version,
				 p->arch, err) < 0)
		return -1;
	json_array_append_new(u->out, json_pack("{s:s, s:s, s:s, s:o}", "component", pin->component,
						"name", p->name, "version", pin->version, "next",
						same ? json_null() : json_string(p->version)));
	return 0;
}

static int newest(struct loam_db *db, const struct loam_artifact_vm *vm, const char *component,
		  struct loam_artifact_pick *p, loam_err *err)
{
	int found = loam_host_artifact_pick(db, vm->host_id, vm->arch, component, p, err);
	if (found == 0)
		loam_fail(err, LOAM_E_CONFLICT,
			  "host %s has no %s for %s guests that a VM may take (all drained or "
			  "none installed); see: loam artifact ls",
			  vm->host_name, component, vm->arch);
	return found > 0 ? 0 : -1;
}

static int copy_key(const struct loam_artifact_key *k, struct loam_artifact_pick *p)
{
	*p = (struct loam_artifact_pick){xstrdup(k->name), xstrdup(k->version), xstrdup(k->arch)};
	return 0;
}

/* The newest firmware the VMM lists, which must exist. */
static int firmware_for(struct loam_db *db, const struct loam_artifact_vm *vm,
			const struct loam_artifact_key *vmm, struct loam_artifact_pick *fw,
			loam_err *err)
{
	int found = pick_firmware(db, vm, vmm, fw, err);
	if (found == 0)
		loam_fail(err, LOAM_E_CONFLICT, "host %s has no firmware for %s guests",
			  vm->host_name, vm->arch);
	return found > 0 ? 0 : -1;
}

/* The VMM and the firmware, as a pair: all moves the VMM to the newest and
 * the firmware to the newest it lists; one of them moves to the newest and
 * must pair with the other as the VM starts next. */
static int upgrade_pair(struct loam_db *db, const struct upgrade_ctx *u, const struct pins *have,
			loam_err *err)
{
	const struct loam_vm_pin *vmm_pin = find(have, "vmm"), *fw_pin = find(have, "firmware");
	if (!vmm_pin || !fw_pin || (!wanted(u, "vmm") && !wanted(u, "firmware")))
		return 0;
	struct loam_artifact_key vmm_next = next_key(vmm_pin), fw_next = next_key(fw_pin);
	struct loam_artifact_pick vmm = {0}, fw = {0};
	int rc = wanted(u, "vmm") ? newest(db, u->vm, "vmm", &vmm, err) : copy_key(&vmm_next, &vmm);
	struct loam_artifact_key k = {"vmm", vmm.name, vmm.version, vmm.arch};
	if (rc == 0)
		rc = !u->only		     ? firmware_for(db, u->vm, &k, &fw, err)
		     : wanted(u, "firmware") ? newest(db, u->vm, "firmware", &fw, err)
					     : copy_key(&fw_next, &fw);
	if (rc == 0)
		rc = check_pair(db, u->vm, &k, fw.name, fw.version, err);
	if (rc == 0 && wanted(u, "vmm"))
		rc = move_to(db, u, vmm_pin, &vmm, err);
	if (rc == 0 && wanted(u, "firmware"))
		rc = move_to(db, u, fw_pin, &fw, err);
	loam_artifact_pick_free(&vmm);
	loam_artifact_pick_free(&fw);
	return rc;
}

static int upgrade_tx(struct loam_db *db, void *arg, loam_err *err)
{
	struct upgrade_ctx *u = arg;
	json_array_clear(u->out); /* the transaction may run again */
	cleanup_pins struct pins have = {0};
	if (loam_vm_pins(db, u->vm->id, &have.v, &have.n, err) < 0)
		return -1;
	if (have.n == 0)
		return loam_fail(err, LOAM_E_CONFLICT,
				 "VM %s has no versions yet: it takes its host's newest when it "
				 "first starts",
				 u->vm->name);
	if (upgrade_pair(db, u, &have, err) < 0)
		return -1;
	const struct loam_vm_pin *storage = find(&have, "storage");
	if (!storage || !wanted(u, "storage"))
		return 0;
	struct loam_artifact_pick p = {0};
	int rc = newest(db, u->vm, "storage", &p, err) < 0 || move_to(db, u, storage, &p, err) < 0
		     ? -1
		     : 0;
	loam_artifact_pick_free(&p);
	return rc;
}

int loam_artifact_vm_upgrade(struct loam_db *db, const struct loam_artifact_vm *vm,
			     const char *component, json_t **out, loam_err *err)
{
	static const char *const movable[] = {"vmm", "firmware", "storage"};
	bool known = !component;
	for (size_t i = 0; component && i < 3; i++)
		known |= strcmp(component, movable[i]) == 0;
	if (!known)
		return loam_fail(err, LOAM_E_INVALID,
				 "a VM moves its vmm, firmware or storage; '%.32s' is not one of "
				 "them (the image is the base of its disk and stays)",
				 component);
	struct upgrade_ctx u = {vm, component, json_array()};
	if (!vm->host_id) {
		json_decref(u.out);
		return loam_fail(err, LOAM_E_CONFLICT,
				 "VM %s is not placed on a host yet: it takes the newest versions "
				 "when it first starts",
				 vm->name);
	}
	if (loam_db_tx(db, upgrade_tx, &u, err) < 0) {
		json_decref(u.out);
		return -1;
	}
	*out = u.out;
	return 0;
}
