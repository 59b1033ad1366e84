/*
 * The VM model: a VM row as a struct, its states as an enum (the schema's
 * CHECK lists the same names), and every query the API, the CLI's server
 * side and the VM prog make on the vm and vm_artifact tables, so that no
 * SQL about VMs lives outside src/db. Creating a row is loam_vm_insert
 * (db/records.h), which validates first.
 */
#ifndef LOAM_DB_VM_H
#define LOAM_DB_VM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db/db.h"
#include "lib/err.h"

enum loam_vm_state {
	LOAM_VM_CREATING,
	LOAM_VM_WAITING, /* queued: no host has room yet */
	LOAM_VM_ALLOCATED,
	LOAM_VM_PREPARING,
	LOAM_VM_BOOTING,
	LOAM_VM_RUNNING,
	LOAM_VM_STOPPED,
	LOAM_VM_STARTING,
	LOAM_VM_REBOOTING,
	LOAM_VM_FAILED,
	LOAM_VM_DESTROYING,
	LOAM_VM_UNAVAILABLE, /* its host is unreachable */
	LOAM_VM_STATE_COUNT
};

/* "creating", "waiting", ... as stored and shown. */
const char *loam_vm_state_name(enum loam_vm_state s);
/* LOAM_E_INVALID for a name that is no VM state. */
int loam_vm_state_parse(const char *name, enum loam_vm_state *out, loam_err *err);

/* One vm row, with its host's and its project's names. Times are unix ms,
 * -1 when unset. */
struct loam_vm {
	char id[27];
	char *name, *arch, *size, *location;
	char *project_id, *project;
	char *boot_image;		    /* NULL: none named */
	char *host_id, *host_name;	    /* NULL until placed */
	char *state_reason, *guest_machine; /* NULL when unset */
	enum loam_vm_state state;
	int64_t vcpus, cores, memory_gib, storage_gib;
	bool hugepages;
	int64_t created_at, allocated_at, provisioned_at;
};
void loam_vm_free(struct loam_vm *vm);
#define cleanup_vm __attribute__((cleanup(loam_vm_free)))

/* 1 with *vm filled, 0 when no such row, -1 on error. */
int loam_vm_load(struct loam_db *db, const char *id, struct loam_vm *vm, loam_err *err);
/*
 * The VM called name in the project project_id. LOAM_E_NOTFOUND ("no VM
 * named ...; see: loam vm ls") when that project has none: the same answer
 * whether or not another project has one, so a project learns nothing of
 * the others. project_id NULL (the operator) looks in every project, and
 * fails with LOAM_E_CONFLICT, naming them, when several have one.
 */
int loam_vm_load_by_name(struct loam_db *db, const char *project_id, const char *name,
			 struct loam_vm *vm, loam_err *err);
/* The VMs of project_id (NULL: of every project), a page of them: ordered
 * by name (then project name), page->after the key loam_vm_page_key gives
 * the last one. Free with loam_vm_list_free. */
int loam_vm_list(struct loam_db *db, const char *project_id, const struct loam_db_page *page,
		 struct loam_vm **vms, size_t *n, loam_err *err);
void loam_vm_list_free(struct loam_vm *vms, size_t n);
/* The sort key a page after vm starts from: "NAME:PROJECT" (the caller
 * frees). */
char *loam_vm_page_key(const struct loam_vm *vm);
int loam_vm_name_taken(struct loam_db *db, const char *project_id, const char *name, bool *taken,
		       loam_err *err);
/* How many VMs are in state. */
int loam_vm_count(struct loam_db *db, enum loam_vm_state state, int64_t *n, loam_err *err);

/* state and state_reason (NULL clears it). */
int loam_vm_set_state(struct loam_db *db, const char *id, enum loam_vm_state state,
		      const char *reason, loam_err *err);
/* state only, the reason as it is. */
int loam_vm_set_state_keep_reason(struct loam_db *db, const char *id, enum loam_vm_state state,
				  loam_err *err);
/* 'waiting' with the reason, only while the VM has no host. */
int loam_vm_set_waiting(struct loam_db *db, const char *id, const char *reason, loam_err *err);
/* 'running' with what the guest reported; provisioned_at set once. */
int loam_vm_set_running(struct loam_db *db, const char *id, const char *guest_machine,
			loam_err *err);
/* The oldest unplaced VMs ('creating' or 'waiting') of a (location, arch)
 * queue, oldest first, at most max; free with loam_vm_queue_free. */
struct loam_vm_queued {
	char id[27];
	char *name, *project_id;
};
int loam_vm_queue(struct loam_db *db, const char *location, const char *arch, size_t max,
		  struct loam_vm_queued **out, size_t *n, loam_err *err);
void loam_vm_queue_free(struct loam_vm_queued *q, size_t n);
/* The row, its pins, addresses and ports, in one transaction. */
int loam_vm_delete(struct loam_db *db, const char *id, loam_err *err);

/* ---- the artifact versions a VM runs with (vm_artifact) ---- */

struct loam_vm_pin {
	char *component, *name, *version, *arch;
	/* What `loam vm upgrade` moves it to at the VM's next start, or NULL. */
	char *next_name, *next_version, *next_arch;
};
/* Records the pins, in one transaction, except for a component the VM has
 * a pin for already. */
int loam_vm_pin(struct loam_db *db, const char *vm_id, const struct loam_vm_pin *pins, size_t n,
		loam_err *err);
/* The VM's pins by component; free with loam_vm_pins_free. */
int loam_vm_pins(struct loam_db *db, const char *vm_id, struct loam_vm_pin **pins, size_t *n,
		 loam_err *err);
void loam_vm_pins_free(struct loam_vm_pin *pins, size_t n);
/* Where the pinned version of component is on the VM's host: 1 with
 * *path (the caller frees): a tarball's install dir, or a "file" entry's
 * file itself (*is_file true; is_file may be NULL); 0 when it is not
 * installed there. */
int loam_vm_pinned_path(struct loam_db *db, const char *vm_id, const char *host_id,
			const char *component, char **path, bool *is_file, loam_err *err);
/* Sets what the VM's pin of component moves to at its next start (name
 * NULL: nothing, the VM keeps its version). */
int loam_vm_pin_set_next(struct loam_db *db, const char *vm_id, const char *component,
			 const char *name, const char *version, const char *arch, loam_err *err);
/* The VM starts: every pending version becomes its pin. */
int loam_vm_pins_take_next(struct loam_db *db, const char *vm_id, loam_err *err);

#endif
