/*
 * The cloudify prog's host-row writes (db/cloudify.h).
 */
#include "db/cloudify.h"

#include "lib/cleanup.h"
#include "lib/xalloc.h"

int loam_host_set_arch(struct loam_db *db, const char *id, const char *arch, loam_err *err)
{
	return loam_db_exec(db,
			    "UPDATE host SET arch = ?, generation = generation + 1 WHERE id = ?",
			    DB_ARGS(DB_TEXT(arch), DB_TEXT(id)), NULL, err);
}

int loam_host_set_agent(struct loam_db *db, const char *id, const char *path, const char *sha256,
			loam_err *err)
{
	return loam_db_exec(db, "UPDATE host SET agent_path = ?, agent_sha256 = ? WHERE id = ?",
			    DB_ARGS(DB_TEXT(path), DB_TEXT(sha256), DB_TEXT(id)), NULL, err);
}

static struct loam_db_val text_or_null(const char *s)
{
	return s ? DB_TEXT(s) : DB_NULL;
}

int loam_host_store_facts(struct loam_db *db, const char *id, const struct loam_host_learned *f,
			  const char *accel, loam_err *err)
{
	return loam_db_exec(
	    db,
	    "UPDATE host SET cpus = ?, total_cores = ?, sockets = ?, dies = ?, "
	    "threads_per_core = ?, numa_nodes = ?, total_mem_gib = ?, total_hugepages_1g = ?, "
	    "total_storage_gib = ?, available_storage_gib = ?, kvm = ?, cpu_model = ?, os = ?, "
	    "kernel = ?, facts = ?, accel = ?, generation = generation + 1 WHERE id = ?",
	    DB_ARGS(DB_INT(f->cpus), DB_INT(f->cores), DB_INT(f->sockets), DB_INT(f->dies),
		    DB_INT(f->threads_per_core > 0 ? f->threads_per_core : 1),
		    DB_INT(f->numa_nodes), DB_INT(f->memory_gib), DB_INT(f->hugepages_1g_total),
		    DB_INT(f->storage_total_gib), DB_INT(f->storage_available_gib), DB_INT(f->kvm),
		    text_or_null(f->cpu_model), text_or_null(f->os), text_or_null(f->kernel),
		    DB_TEXT(f->raw), DB_TEXT(accel), DB_TEXT(id)),
	    NULL, err);
}

int loam_host_emulated_arches(struct loam_db *db, const char *id, char **out, size_t max,
			      loam_err *err)
{
	cleanup_rows struct loam_db_rows *r = NULL;
	if (max)
		out[0] = NULL;
	if (loam_db_query(db, "SELECT arch FROM host_emulation WHERE host_id = ? ORDER BY arch",
			  DB_ARGS(DB_TEXT(id)), &r, err) < 0)
		return -1;
	size_t n = 0;
	for (size_t i = 0; i < loam_db_rows_count(r) && n + 1 < max; i++)
		out[n++] = xstrdup(loam_db_rows_text(r, i, 0));
	if (max)
		out[n] = NULL;
	return 0;
}

int loam_host_accept(struct loam_db *db, const char *id, loam_err *err)
{
	return loam_db_exec(db,
			    "UPDATE host SET allocation_state = 'accepting', state_reason = NULL, "
			    "last_seen_at = ?, generation = generation + 1 WHERE id = ? AND "
			    "allocation_state = 'unprepared'",
			    DB_ARGS(DB_INT(loam_db_now_ms()), DB_TEXT(id)), NULL, err);
}
