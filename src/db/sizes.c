/*
 * The `size` table is a copy of the arch modules' size tables, written at
 * start (loamd) so SQL can join on it; the arch modules stay the one place
 * the numbers live (docs/design.md §2). Storage is not an arch property, so it
 * is derived here: LOAM_STORAGE_GIB_PER_VCPU GiB per vCPU.
 */
#include "db/records.h"

static const char upsert_sql[] =
    "INSERT INTO size (arch, name, vcpus, memory_gib, storage_gib) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT (arch, name) DO UPDATE SET vcpus = excluded.vcpus, "
    "memory_gib = excluded.memory_gib, storage_gib = excluded.storage_gib";

unsigned loam_size_storage_gib(const struct loam_size *size)
{
	return size->vcpus * LOAM_STORAGE_GIB_PER_VCPU;
}

static int upsert_all(struct loam_db *db, void *ctx, loam_err *err)
{
	(void)ctx;
	for (size_t i = 0; loam_arches[i]; i++) {
		const struct loam_arch *a = loam_arches[i];
		for (const struct loam_size *s = a->sizes; s && s->name; s++)
			if (loam_db_exec(db, upsert_sql,
					 DB_ARGS(DB_TEXT(a->name), DB_TEXT(s->name),
						 DB_INT(s->vcpus), DB_INT(s->memory_gib),
						 DB_INT(loam_size_storage_gib(s))),
					 NULL, err) < 0)
				return loam_err_wrap(err, "size %s/%s", a->name, s->name);
	}
	return 0;
}

int loam_db_sync_sizes(struct loam_db *db, loam_err *err)
{
	return loam_db_tx(db, upsert_all, NULL, err);
}
