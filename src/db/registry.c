/*
 * The arch registry mirrored into the database: the `arch` table (the
 * names every arch column references) and the `size` table (the arch
 * modules' size tables), both written at start so that SQL can join on
 * them while the arch modules stay the one place the names and numbers
 * live. Adding an arch is then a folder under src/arch/ and no migration. Storage is not an arch
 * property, so it is derived here: LOAM_STORAGE_GIB_PER_VCPU GiB per vCPU.
 */
#include "db/records.h"

#include "lib/cleanup.h"

static const char arch_sql[] = "INSERT INTO arch (name) VALUES (?) ON CONFLICT (name) DO NOTHING";

static const char size_sql[] =
    "INSERT INTO size (arch, name, vcpus, memory_gib, storage_gib) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT (arch, name) DO UPDATE SET vcpus = excluded.vcpus, "
    "memory_gib = excluded.memory_gib, storage_gib = excluded.storage_gib";

unsigned loam_size_storage_gib(const struct loam_size *size)
{
	return size->vcpus * LOAM_STORAGE_GIB_PER_VCPU;
}

static int insert_arches(struct loam_db *db, void *ctx, loam_err *err)
{
	(void)ctx;
	for (size_t i = 0; loam_arches[i]; i++)
		if (loam_db_exec(db, arch_sql, DB_ARGS(DB_TEXT(loam_arches[i]->name)), NULL, err) <
		    0)
			return loam_err_wrap(err, "arch %s", loam_arches[i]->name);
	return 0;
}

static int upsert_sizes(struct loam_db *db, void *ctx, loam_err *err)
{
	if (insert_arches(db, ctx, err) < 0)
		return -1;
	for (size_t i = 0; loam_arches[i]; i++) {
		const struct loam_arch *a = loam_arches[i];
		for (const struct loam_size *s = a->sizes; s && s->name; s++)
			if (loam_db_exec(db, size_sql,
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
	return loam_db_tx(db, upsert_sizes, NULL, err);
}

int loam_db_size_storage_gib(struct loam_db *db, const char *arch, const char *name, int64_t *gib,
			     loam_err *err)
{
	cleanup_rows struct loam_db_rows *rows = NULL;
	if (loam_db_query(db, "SELECT storage_gib FROM size WHERE arch = ? AND name = ?",
			  DB_ARGS(DB_TEXT(arch), DB_TEXT(name)), &rows, err) < 0)
		return -1;
	if (loam_db_rows_count(rows) == 0)
		return 0;
	*gib = loam_db_rows_int(rows, 0, 0);
	return 1;
}
