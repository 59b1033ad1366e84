/*
 * Release: a VM's cores, memory, storage and address go back to its host
 * (its vm_net row is deleted), and its host_id, cores, hugepages and
 * allocated_at are cleared, in one transaction. The VM row decides: the counters move only when
 * this call is the one that cleared host_id, so a second release is a no-op.
 */
#include <stdio.h>

#include "alloc/internal.h"
#include "db/net.h"
#include "lib/cleanup.h"

struct release_tx {
	const char *vm_id;
	char host_id[27];
	struct committed after;
	bool released;
};

static int release_fn(struct loam_db *db, void *ctx, loam_err *err)
{
	struct release_tx *p = ctx;
	p->released = false;
	cleanup_rows struct loam_db_rows *r = NULL;
	if (loam_db_query(db,
			  "SELECT host_id, cores, memory_gib, hugepages, storage_gib FROM vm "
			  "WHERE id = ?",
			  DB_ARGS(DB_TEXT(p->vm_id)), &r, err) < 0)
		return -1;
	if (loam_db_rows_count(r) == 0)
		return loam_fail(err, LOAM_E_NOTFOUND, "no VM with id '%.40s'", p->vm_id);
	if (loam_db_rows_null(r, 0, 0))
		return 0;
	snprintf(p->host_id, sizeof(p->host_id), "%s", loam_db_rows_text(r, 0, 0));
	int64_t mem = loam_db_rows_int(r, 0, 2);
	struct counters give = {.cores = loam_db_rows_int(r, 0, 1),
				.mem = mem,
				.huge = loam_db_rows_int(r, 0, 3) ? mem : 0,
				.storage = loam_db_rows_int(r, 0, 4),
				.addrs = 1};
	int64_t changed = 0;
	if (loam_db_exec(db,
			 "UPDATE vm SET host_id = NULL, cores = 0, hugepages = 0, "
			 "allocated_at = NULL WHERE id = ? AND host_id = ?",
			 DB_ARGS(DB_TEXT(p->vm_id), DB_TEXT(p->host_id)), &changed, err) < 0)
		return -1;
	if (changed == 0)
		return 0;
	/* its addresses go back with its place, in this transaction: once */
	if (loam_vm_net_release(db, p->vm_id, err) < 0)
		return -1;
	if (alloc_give_back(db, p->host_id, &give, &p->after, err) < 0)
		return -1;
	p->released = p->after.generation > 0; /* the host row is still there */
	return 0;
}

int loam_alloc_release(struct loam_allocator *a, struct loam_db *db, const char *vm_id,
		       loam_err *err)
{
	struct release_tx p = {.vm_id = vm_id};
	if (alloc_write_tx(a, db, release_fn, &p, err) < 0)
		return loam_err_wrap(err, "release VM %.40s", vm_id);
	if (!p.released)
		return 0;
	pthread_mutex_lock(&a->mu);
	struct ahost *h = alloc_host_by_id(a, p.host_id);
	if (h) {
		alloc_store_committed(h, &p.after);
		alloc_reposition(a, h);
	}
	pthread_mutex_unlock(&a->mu);
	return 0;
}
