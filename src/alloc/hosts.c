/*
 * The index from the database: all hosts at start and after a miss (at
 * most every RELOAD_EVERY_MS), one host after its guard failed (another
 * process changed it), and the hosts loam_alloc_host_changed named. A read
 * never loses a reservation in flight (pending), and a single-host read
 * older than what a commit already told us is dropped.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc/internal.h"
#include "lib/cleanup.h"
#include "lib/xalloc.h"

#define HOST_COLS                                                                                  \
	"id, name, location, arch, allocation_state, accel, threads_per_core, total_cores, "       \
	"cpu_overcommit, total_mem_gib, total_hugepages_1g, used_cores, used_memory_gib, "         \
	"used_hugepages_1g, available_storage_gib, generation, ipv4_total, ipv4_used"

/* Fills h from a HOST_COLS row, keeping what is reserved in flight. */
static void host_from_row(struct ahost *h, const struct loam_db_rows *r, size_t i)
{
	snprintf(h->id, sizeof(h->id), "%s", loam_db_rows_text(r, i, 0));
	snprintf(h->name, sizeof(h->name), "%s", loam_db_rows_text(r, i, 1));
	snprintf(h->location, sizeof(h->location), "%s", loam_db_rows_text(r, i, 2));
	h->arch = alloc_arch_index(loam_db_rows_text(r, i, 3));
	h->accepting = strcmp(loam_db_rows_text(r, i, 4), "accepting") == 0;
	h->accel_ok = strcmp(loam_db_rows_text(r, i, 5), "none") != 0;
	h->tpc = loam_db_rows_int(r, i, 6);
	h->total_cores = loam_db_rows_int(r, i, 7);
	/* The same comparison as the guarded UPDATE: used + n <= total × factor. */
	h->alloc_cores = (int64_t)((double)h->total_cores * loam_db_rows_real(r, i, 8) + 1e-9);
	h->total_mem = loam_db_rows_int(r, i, 9);
	h->total_huge = loam_db_rows_int(r, i, 10);
	h->used.cores = loam_db_rows_int(r, i, 11);
	h->used.mem = loam_db_rows_int(r, i, 12);
	h->used.huge = loam_db_rows_int(r, i, 13);
	h->avail_storage = loam_db_rows_int(r, i, 14);
	h->generation = loam_db_rows_int(r, i, 15);
	h->total_addrs = loam_db_rows_int(r, i, 16);
	h->used.addrs = loam_db_rows_int(r, i, 17);
	h->live = true;
}

/* (host_id, arch) rows of host_emulation. */
static void load_emulations(struct loam_allocator *a, const struct loam_db_rows *r)
{
	for (size_t i = 0; i < loam_db_rows_count(r); i++) {
		struct ahost *h = alloc_host_by_id(a, loam_db_rows_text(r, i, 0));
		int arch = alloc_arch_index(loam_db_rows_text(r, i, 1));
		if (h && arch >= 0)
			h->emulate |= 1u << arch;
	}
}

int alloc_reload(struct loam_allocator *a, struct loam_db *db, const char *location, loam_err *err)
{
	cleanup_rows struct loam_db_rows *hosts = NULL, *emu = NULL;
	const char *loc = location ? location : "";
	if (loam_db_query(db,
			  "SELECT " HOST_COLS " FROM host WHERE arch IS NOT NULL "
			  "AND (? = '' OR location = ?) ORDER BY id",
			  DB_ARGS(DB_TEXT(loc), DB_TEXT(loc)), &hosts, err) < 0 ||
	    loam_db_query(db,
			  "SELECT e.host_id, e.arch FROM host_emulation e JOIN host h "
			  "ON h.id = e.host_id WHERE ? = '' OR h.location = ?",
			  DB_ARGS(DB_TEXT(loc), DB_TEXT(loc)), &emu, err) < 0)
		return loam_err_wrap(err, "load hosts");
	pthread_mutex_lock(&a->mu);
	for (size_t i = 0; i < a->nhosts; i++)
		if (!location || strcmp(a->hosts[i]->location, location) == 0)
			a->hosts[i]->live = false;
	for (size_t i = 0; i < loam_db_rows_count(hosts); i++) {
		const char *id = loam_db_rows_text(hosts, i, 0);
		struct ahost *h = alloc_host_by_id(a, id);
		if (!h)
			h = alloc_host_add(a, id);
		host_from_row(h, hosts, i);
		h->emulate = 0;
	}
	load_emulations(a, emu);
	alloc_rebuild_buckets(a);
	a->reloaded_at = loam_db_now_ms();
	pthread_mutex_unlock(&a->mu);
	return 0;
}

int loam_alloc_reload(struct loam_allocator *a, struct loam_db *db, loam_err *err)
{
	return alloc_reload(a, db, NULL, err);
}

/* Applies one host's row (exists: the row is there and has an arch). */
static void apply_host_row(struct loam_allocator *a, struct ahost *h, const struct loam_db_rows *r,
			   bool exists, bool full, const struct loam_db_rows *emu)
{
	if (!exists) {
		h->live = false;
		return;
	}
	int64_t known = h->generation;
	bool was_live = h->live;
	struct ahost before = *h;
	host_from_row(h, r, 0);
	if (!full && was_live && h->generation < known)
		*h = before; /* an older read than what a commit told us */
	if (full) {
		h->emulate = 0;
		load_emulations(a, emu);
	}
}

int alloc_refresh_host(struct loam_allocator *a, struct loam_db *db, const char *id, bool full,
		       loam_err *err)
{
	cleanup_rows struct loam_db_rows *r = NULL, *emu = NULL;
	if (loam_db_query(db, "SELECT " HOST_COLS " FROM host WHERE id = ?", DB_ARGS(DB_TEXT(id)),
			  &r, err) < 0)
		return -1;
	if (full && loam_db_query(db, "SELECT host_id, arch FROM host_emulation WHERE host_id = ?",
				  DB_ARGS(DB_TEXT(id)), &emu, err) < 0)
		return -1;
	pthread_mutex_lock(&a->mu);
	struct ahost *h = alloc_host_by_id(a, id);
	bool exists = loam_db_rows_count(r) > 0 && !loam_db_rows_null(r, 0, 3);
	if (!h && exists)
		h = alloc_host_add(a, id);
	if (h)
		apply_host_row(a, h, r, exists, full, emu);
	if (full)
		alloc_rebuild_buckets(a);
	else if (h)
		alloc_reposition(a, h);
	pthread_mutex_unlock(&a->mu);
	return 0;
}

void loam_alloc_host_changed(struct loam_allocator *a, const char *host_id)
{
	char *id = xstrdup(host_id);
	pthread_mutex_lock(&a->mu);
	a->dirty = xrealloc(a->dirty, (a->ndirty + 1) * sizeof(*a->dirty));
	a->dirty[a->ndirty++] = id;
	pthread_mutex_unlock(&a->mu);
}

int alloc_apply_dirty(struct loam_allocator *a, struct loam_db *db, loam_err *err)
{
	for (;;) {
		pthread_mutex_lock(&a->mu);
		char *id = a->ndirty ? a->dirty[--a->ndirty] : NULL;
		pthread_mutex_unlock(&a->mu);
		if (!id)
			return 0;
		int rc = alloc_refresh_host(a, db, id, true, err);
		free(id);
		if (rc < 0)
			return -1;
	}
}

bool alloc_reload_due(struct loam_allocator *a)
{
	pthread_mutex_lock(&a->mu);
	bool due = loam_db_now_ms() - a->reloaded_at >= RELOAD_EVERY_MS;
	pthread_mutex_unlock(&a->mu);
	return due;
}
