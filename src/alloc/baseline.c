/*
 * The seed's allocator, kept as the benchmark's baseline and the tests'
 * oracle: one SQL statement chooses the host, and the counters (and the
 * VM row) are updated in the same transaction. docs/design.md §2 lists its six
 * filters — cores, hugepages, storage, allocation_state, location, arch —
 * and its ORDER BY total_mem_gib / total_cores, used_cores, LIMIT 1.
 *
 * Written with loam's definitions of the quantities, so that "every loam
 * choice satisfies the baseline's constraints" and "with the same order
 * both pick the same host" are exact statements:
 *  - cores: ceil(vcpus / threads_per_core) against total_cores ×
 *    cpu_overcommit (the seed's least(total_cores, total_mem_gib /
 *    mem_ratio) gated memory through cores; memory is its own filter here,
 *    below, which is equivalent for a host of the VM's own arch);
 *  - memory: free 1 GiB hugepages where the host has them, plain memory
 *    otherwise (the seed's hosts all had hugepages);
 *  - bounds are inclusive: the seed's strict `<` and `>` refused the last
 *    free core and GiB, a bug loam does not copy; the statement's cost is
 *    the same either way;
 *  - `id` is added as the last ORDER BY key so ties are deterministic.
 * It has no emulation, accel, forced/excluded host or boot image filters,
 * as the seed had none; the oracle tests use fleets where those do not
 * apply. It does count and check a host's IPv4 pool (db/net.h), loam's
 * seventh filter, so that both keep the same counters.
 */
#include <stdio.h>
#include <string.h>

#include "alloc/alloc.h"
#include "lib/cleanup.h"

static const char seed_sql[] =
    "SELECT id, name, threads_per_core, total_hugepages_1g FROM host "
    "WHERE used_cores + (? + threads_per_core - 1) / threads_per_core "
    "<= total_cores * cpu_overcommit "
    "AND (CASE WHEN total_hugepages_1g > 0 THEN total_hugepages_1g - used_hugepages_1g "
    "ELSE total_mem_gib - used_memory_gib END) >= ? "
    "AND available_storage_gib >= ? "
    "AND ipv4_used < ipv4_total "
    "AND allocation_state = 'accepting' "
    "AND location = ? "
    "AND arch = ? "
    "ORDER BY total_mem_gib / total_cores, used_cores, id LIMIT 1";

struct baseline_tx {
	const char *vm_id;
	struct loam_alloc_result *res;
	bool already;
};

static int existing(struct loam_db *db, struct baseline_tx *b, const char *host_id, loam_err *err)
{
	cleanup_rows struct loam_db_rows *r = NULL;
	if (loam_db_query(db,
			  "SELECT h.name, v.cores, v.hugepages FROM vm v JOIN host h ON "
			  "h.id = v.host_id WHERE v.id = ?",
			  DB_ARGS(DB_TEXT(b->vm_id)), &r, err) < 0)
		return -1;
	snprintf(b->res->host_id, sizeof(b->res->host_id), "%s", host_id);
	snprintf(b->res->host_name, sizeof(b->res->host_name), "%s", loam_db_rows_text(r, 0, 0));
	b->res->cores = (unsigned)loam_db_rows_int(r, 0, 1);
	b->res->hugepages = loam_db_rows_int(r, 0, 2) != 0;
	b->already = true;
	return 0;
}

static int update_counters(struct loam_db *db, const char *host_id, int64_t cores, int64_t mem,
			   int64_t huge, int64_t storage, loam_err *err)
{
	return loam_db_exec(
	    db,
	    "UPDATE host SET used_cores = used_cores + ?, "
	    "used_memory_gib = used_memory_gib + ?, "
	    "used_hugepages_1g = used_hugepages_1g + ?, "
	    "available_storage_gib = available_storage_gib - ?, "
	    "ipv4_used = ipv4_used + 1, generation = generation + 1 WHERE id = ?",
	    DB_ARGS(DB_INT(cores), DB_INT(mem), DB_INT(huge), DB_INT(storage), DB_TEXT(host_id)),
	    NULL, err);
}

static int baseline_fn(struct loam_db *db, void *ctx, loam_err *err)
{
	struct baseline_tx *b = ctx;
	b->already = false;
	cleanup_rows struct loam_db_rows *vm = NULL, *pick = NULL;
	if (loam_db_query(db,
			  "SELECT arch, location, vcpus, memory_gib, storage_gib, host_id FROM vm "
			  "WHERE id = ?",
			  DB_ARGS(DB_TEXT(b->vm_id)), &vm, err) < 0)
		return -1;
	if (loam_db_rows_count(vm) == 0)
		return loam_fail(err, LOAM_E_NOTFOUND, "no VM with id '%.40s'", b->vm_id);
	if (!loam_db_rows_null(vm, 0, 5))
		return existing(db, b, loam_db_rows_text(vm, 0, 5), err);
	int64_t vcpus = loam_db_rows_int(vm, 0, 2), mem = loam_db_rows_int(vm, 0, 3);
	int64_t storage = loam_db_rows_int(vm, 0, 4);
	if (loam_db_query(db, seed_sql,
			  DB_ARGS(DB_INT(vcpus), DB_INT(mem), DB_INT(storage),
				  DB_TEXT(loam_db_rows_text(vm, 0, 1)),
				  DB_TEXT(loam_db_rows_text(vm, 0, 0))),
			  &pick, err) < 0)
		return -1;
	if (loam_db_rows_count(pick) == 0)
		return loam_fail(err, LOAM_E_NOCAPACITY, "no host can take VM %s", b->vm_id);
	const char *host_id = loam_db_rows_text(pick, 0, 0);
	int64_t tpc = loam_db_rows_int(pick, 0, 2);
	int64_t cores = (vcpus + tpc - 1) / tpc;
	bool huge = loam_db_rows_int(pick, 0, 3) > 0;
	if (update_counters(db, host_id, cores, mem, huge ? mem : 0, storage, err) < 0 ||
	    loam_db_exec(db,
			 "UPDATE vm SET host_id = ?, cores = ?, hugepages = ?, allocated_at = ?, "
			 "state = 'allocated' WHERE id = ?",
			 DB_ARGS(DB_TEXT(host_id), DB_INT(cores), DB_INT(huge),
				 DB_INT(loam_db_now_ms()), DB_TEXT(b->vm_id)),
			 NULL, err) < 0)
		return -1;
	snprintf(b->res->host_id, sizeof(b->res->host_id), "%s", host_id);
	snprintf(b->res->host_name, sizeof(b->res->host_name), "%s", loam_db_rows_text(pick, 0, 1));
	b->res->cores = (unsigned)cores;
	b->res->hugepages = huge;
	return 0;
}

int loam_alloc_baseline_place(struct loam_db *db, const char *vm_id, struct loam_alloc_result *res,
			      loam_err *err)
{
	struct baseline_tx b = {.vm_id = vm_id, .res = res};
	return loam_db_tx(db, baseline_fn, &b, err);
}
