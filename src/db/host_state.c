/*
 * The progs' writes to hosts (host.h): what cloudify records at each step
 * (key, arch, agent, facts, accepting) and the heartbeat's transitions
 * (failed, unreachable and back, seen). Each is idempotent, so a label
 * that runs again after a crash writes the same thing again. Every change
 * the allocator reads bumps the row's generation.
 */
#include "db/host.h"

#include <string.h>

#include "lib/cleanup.h"

int loam_host_pin_key(struct loam_db *db, const char *id, const char *key, loam_err *err)
{
	/* Never over a pinned key: a concurrent pin cannot be overwritten. */
	int64_t changed = 0;
	if (loam_db_exec(db, "UPDATE host SET host_key = ? WHERE id = ? AND host_key IS NULL",
			 DB_ARGS(DB_TEXT(key), DB_TEXT(id)), &changed, err) < 0)
		return -1;
	if (changed == 1)
		return 0;
	cleanup_rows struct loam_db_rows *r = NULL;
	if (loam_db_query(db, "SELECT host_key FROM host WHERE id = ?", DB_ARGS(DB_TEXT(id)), &r,
			  err) < 0)
		return -1;
	if (loam_db_rows_count(r) == 0)
		return loam_fail(err, LOAM_E_NOTFOUND, "host %s is gone", id);
	const char *pinned = loam_db_rows_text(r, 0, 0);
	if (strcmp(pinned, key) == 0)
		return 0;
	return loam_fail(err, LOAM_E_AUTH,
			 "host key changed during first contact: %s was pinned meanwhile, this "
			 "connection was shown %s; refusing it (if the host was reinstalled, "
			 "remove and re-add it)",
			 pinned, key);
}

int loam_host_record_arch(struct loam_db *db, const char *id, const char *arch, loam_err *err)
{
	return loam_db_exec(db,
			    "UPDATE host SET arch = ?, generation = generation + 1 WHERE id = ?",
			    DB_ARGS(DB_TEXT(arch), DB_TEXT(id)), NULL, err);
}

int loam_host_record_agent(struct loam_db *db, const char *id, const char *path, const char *sha256,
			   loam_err *err)
{
	return loam_db_exec(db, "UPDATE host SET agent_path = ?, agent_sha256 = ? WHERE id = ?",
			    DB_ARGS(DB_TEXT(path), DB_TEXT(sha256), DB_TEXT(id)), NULL, err);
}

int loam_host_record_facts(struct loam_db *db, const char *id, const struct loam_host_facts *f,
			   loam_err *err)
{
	return loam_db_exec(
	    db,
	    "UPDATE host SET cpus = ?, total_cores = ?, sockets = ?, dies = ?, "
	    "threads_per_core = ?, numa_nodes = ?, total_mem_gib = ?, total_hugepages_1g = ?, "
	    "total_storage_gib = ?, available_storage_gib = ?, kvm = ?, cpu_model = ?, os = ?, "
	    "kernel = ?, facts = ?, accel = ?, generation = generation + 1 WHERE id = ?",
	    DB_ARGS(DB_INT(f->cpus), DB_INT(f->cores), DB_INT(f->sockets), DB_INT(f->dies),
		    DB_INT(f->threads_per_core), DB_INT(f->numa_nodes), DB_INT(f->memory_gib),
		    DB_INT(f->hugepages_1g), DB_INT(f->storage_gib),
		    DB_INT(f->available_storage_gib), DB_INT(f->kvm),
		    loam_db_text_or_null(f->cpu_model), loam_db_text_or_null(f->os),
		    loam_db_text_or_null(f->kernel), loam_db_text_or_null(f->json),
		    DB_TEXT(f->accel), DB_TEXT(id)),
	    NULL, err);
}

int loam_host_record_accepting(struct loam_db *db, const char *id, loam_err *err)
{
	return loam_db_exec(db,
			    "UPDATE host SET allocation_state = 'accepting', state_reason = NULL, "
			    "last_seen_at = ?, generation = generation + 1 WHERE id = ? AND "
			    "allocation_state = 'unprepared'",
			    DB_ARGS(DB_INT(loam_db_now_ms()), DB_TEXT(id)), NULL, err);
}

int loam_host_record_failed(struct loam_db *db, const char *id, const char *reason, loam_err *err)
{
	return loam_db_exec(db,
			    "UPDATE host SET allocation_state = 'failed', state_reason = ?, "
			    "generation = generation + 1 WHERE id = ?",
			    DB_ARGS(DB_TEXT(reason), DB_TEXT(id)), NULL, err);
}

int loam_host_record_unreachable(struct loam_db *db, const char *id, const char *reason,
				 bool *changed, loam_err *err)
{
	int64_t n = 0;
	if (loam_db_exec(
		db,
		"UPDATE host SET state_before_unreachable = allocation_state, "
		"allocation_state = 'unreachable', state_reason = ?, generation = generation "
		"+ 1 WHERE id = ? AND allocation_state IN ('accepting', 'draining')",
		DB_ARGS(DB_TEXT(reason), DB_TEXT(id)), &n, err) < 0)
		return -1;
	*changed = n > 0;
	return loam_db_exec(db,
			    "UPDATE vm SET state_before_unavailable = state, state = 'unavailable' "
			    "WHERE host_id = ? AND state IN ('running', 'allocated')",
			    DB_ARGS(DB_TEXT(id)), NULL, err);
}

int loam_host_record_reachable(struct loam_db *db, const char *id, bool *changed, loam_err *err)
{
	int64_t n = 0;
	if (loam_db_exec(
		db,
		"UPDATE vm SET state = state_before_unavailable, state_before_unavailable = "
		"NULL WHERE host_id = ? AND state = 'unavailable' AND "
		"state_before_unavailable IS NOT NULL",
		DB_ARGS(DB_TEXT(id)), NULL, err) < 0)
		return -1;
	if (loam_db_exec(db,
			 "UPDATE host SET allocation_state = COALESCE(state_before_unreachable, "
			 "'accepting'), state_before_unreachable = NULL, state_reason = NULL, "
			 "last_seen_at = ?, generation = generation + 1 WHERE id = ? AND "
			 "allocation_state = 'unreachable'",
			 DB_ARGS(DB_INT(loam_db_now_ms()), DB_TEXT(id)), &n, err) < 0)
		return -1;
	*changed = n > 0;
	return 0;
}

int loam_host_record_seen(struct loam_db *db, const char *id, loam_err *err)
{
	return loam_db_exec(db, "UPDATE host SET last_seen_at = ? WHERE id = ?",
			    DB_ARGS(DB_INT(loam_db_now_ms()), DB_TEXT(id)), NULL, err);
}
