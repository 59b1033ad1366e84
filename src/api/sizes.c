/*
 * /v1/sizes: the per-arch size tables, from the arch recipes, with the
 * storage the size table records.
 */
#include "api/internal.h"

#include "arch/arch.h"
#include "db/records.h"
#include "lib/cleanup.h"

static json_t *size_storage(struct loam_db *db, const char *arch, const char *name)
{
	cleanup_err loam_err err = NULL;
	int64_t gib = 0;
	if (loam_db_size_storage_gib(db, arch, name, &gib, &err) <= 0)
		return json_null();
	return json_integer(gib);
}

int api_sizes_list(struct api_req *r, loam_err *err)
{
	(void)err;
	json_t *list = json_array();
	for (const struct loam_arch *const *a = loam_arches; *a; a++)
		for (const struct loam_size *s = (*a)->sizes; s->name; s++)
			json_array_append_new(
			    list, json_pack("{s:s, s:s, s:i, s:i, s:o}", "arch", (*a)->name, "name",
					    s->name, "vcpus", (int)s->vcpus, "memory_gib",
					    (int)s->memory_gib, "storage_gib",
					    size_storage(r->db, (*a)->name, s->name)));
	r->out = list;
	return 0;
}
