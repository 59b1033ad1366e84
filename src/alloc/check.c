/*
 * The over-commit check, in SQL that shares nothing with the allocator:
 * it recomputes every host's usage from the VM rows and compares it with
 * the counters and the limits. The benchmark and the tests call it after
 * placing, on both the loam and the baseline databases.
 */
#include "alloc/alloc.h"
#include "lib/cleanup.h"

static const char check_sql[] =
    "SELECT count(*) FROM host h LEFT JOIN ("
    " SELECT host_id, sum(cores) AS c, sum(memory_gib) AS m,"
    " sum(CASE WHEN hugepages <> 0 THEN memory_gib ELSE 0 END) AS hp, count(*) AS n"
    " FROM vm WHERE host_id IS NOT "
    "NULL GROUP BY host_id"
    ") u ON u.host_id = h.id "
    "WHERE h.used_cores > h.total_cores * h.cpu_overcommit"
    " OR (h.total_hugepages_1g > 0 AND h.used_hugepages_1g > h.total_hugepages_1g)"
    " OR (h.total_hugepages_1g = 0 AND h.used_memory_gib > h.total_mem_gib)"
    " OR h.available_storage_gib < 0"
    " OR h.used_cores <> coalesce(u.c, 0)"
    " OR h.used_memory_gib <> coalesce(u.m, 0)"
    " OR h.used_hugepages_1g <> coalesce(u.hp, 0)"
    " OR h.ipv4_used > h.ipv4_total"
    " OR h.ipv4_used <> coalesce(u.n, 0)"
    " OR (SELECT count(*) FROM vm_net a WHERE a.host_id = h.id) > h.ipv4_used";

int loam_alloc_count_overcommits(struct loam_db *db, int64_t *count, loam_err *err)
{
	cleanup_rows struct loam_db_rows *r = NULL;
	if (loam_db_query(db, check_sql, DB_NOARGS, &r, err) < 0)
		return loam_err_wrap(err, "over-commit check");
	*count = loam_db_rows_int(r, 0, 0);
	return 0;
}
