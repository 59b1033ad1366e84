/*
 * State changes of VM rows (db/vm.h): the VM prog's steps, the placement
 * queue's head, and removing a VM with its pins. Each write is a guarded
 * update or a delete, so a label that runs again after a crash changes
 * nothing twice.
 */
#include <stdio.h>
#include <stdlib.h>

#include "db/vm.h"
#include "lib/cleanup.h"
#include "lib/xalloc.h"

int loam_vm_set_state(struct loam_db *db, const char *id, enum loam_vm_state state,
		      const char *reason, loam_err *err)
{
	return loam_db_exec(db, "UPDATE vm SET state = ?, state_reason = ? WHERE id = ?",
			    DB_ARGS(DB_TEXT(loam_vm_state_name(state)),
				    reason ? DB_TEXT(reason) : DB_NULL, DB_TEXT(id)),
			    NULL, err);
}

int loam_vm_set_state_keep_reason(struct loam_db *db, const char *id, enum loam_vm_state state,
				  loam_err *err)
{
	return loam_db_exec(db, "UPDATE vm SET state = ? WHERE id = ?",
			    DB_ARGS(DB_TEXT(loam_vm_state_name(state)), DB_TEXT(id)), NULL, err);
}

int loam_vm_set_waiting(struct loam_db *db, const char *id, const char *reason, loam_err *err)
{
	return loam_db_exec(
	    db,
	    "UPDATE vm SET state = ?, state_reason = ? WHERE id = ? AND "
	    "host_id IS NULL",
	    DB_ARGS(DB_TEXT(loam_vm_state_name(LOAM_VM_WAITING)), DB_TEXT(reason), DB_TEXT(id)),
	    NULL, err);
}

int loam_vm_set_running(struct loam_db *db, const char *id, const char *guest_machine,
			loam_err *err)
{
	return loam_db_exec(db,
			    "UPDATE vm SET state = ?, state_reason = NULL, guest_machine = ?, "
			    "provisioned_at = COALESCE(provisioned_at, ?) WHERE id = ?",
			    DB_ARGS(DB_TEXT(loam_vm_state_name(LOAM_VM_RUNNING)),
				    DB_TEXT(guest_machine), DB_INT(loam_db_now_ms()), DB_TEXT(id)),
			    NULL, err);
}

int loam_vm_queue(struct loam_db *db, const char *location, const char *arch, size_t max,
		  struct loam_vm_queued **out, size_t *n, loam_err *err)
{
	cleanup_rows struct loam_db_rows *r = NULL;
	*out = NULL;
	*n = 0;
	if (loam_db_query(
		db,
		"SELECT id, name, project_id FROM vm WHERE host_id IS NULL AND location = ? AND "
		"arch = ? AND state IN (?, ?) ORDER BY created_at, id LIMIT ?",
		DB_ARGS(DB_TEXT(location), DB_TEXT(arch),
			DB_TEXT(loam_vm_state_name(LOAM_VM_CREATING)),
			DB_TEXT(loam_vm_state_name(LOAM_VM_WAITING)), DB_INT(max)),
		&r, err) < 0)
		return -1;
	size_t count = loam_db_rows_count(r);
	struct loam_vm_queued *q = xcalloc(count ? count : 1, sizeof(*q));
	for (size_t i = 0; i < count; i++) {
		snprintf(q[i].id, sizeof(q[i].id), "%s", loam_db_rows_text(r, i, 0));
		q[i].name = xstrdup(loam_db_rows_text(r, i, 1));
		q[i].project_id = xstrdup(loam_db_rows_text(r, i, 2));
	}
	*out = q;
	*n = count;
	return 0;
}

void loam_vm_queue_free(struct loam_vm_queued *q, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(q[i].name);
		free(q[i].project_id);
	}
	free(q);
}

static int delete_tx(struct loam_db *db, void *ctx, loam_err *err)
{
	const char *id = ctx;
	if (loam_db_exec(db, "DELETE FROM vm_artifact WHERE vm_id = ?", DB_ARGS(DB_TEXT(id)), NULL,
			 err) < 0 ||
	    loam_db_exec(db, "DELETE FROM vm_net WHERE vm_id = ?", DB_ARGS(DB_TEXT(id)), NULL,
			 err) < 0 ||
	    loam_db_exec(db, "DELETE FROM vm_port WHERE vm_id = ?", DB_ARGS(DB_TEXT(id)), NULL,
			 err) < 0)
		return -1;
	return loam_db_exec(db, "DELETE FROM vm WHERE id = ?", DB_ARGS(DB_TEXT(id)), NULL, err);
}

int loam_vm_delete(struct loam_db *db, const char *id, loam_err *err)
{
	return loam_db_tx(db, delete_tx, (void *)id, err);
}
