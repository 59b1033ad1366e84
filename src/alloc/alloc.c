/*
 * The allocator. The database is the source of truth; this file keeps an
 * in-memory index of hosts so a placement is a lookup plus one short write
 * transaction instead of a scan.
 *
 * Index. Every host is in the bucket of (location, own arch) and in one
 * bucket per arch it is opted in to emulate (host_emulation). A bucket is
 * kept sorted by the placement order, so a placement walks it from the
 * front and takes the first host that passes every filter; after a change
 * the host is moved to its new place (insertion, O(distance)).
 *
 * Filters, in order (also the explain text's order): arch (own or
 * emulated), location, forced/excluded hosts, allocation_state=accepting,
 * accel≠none, cores, memory, storage, boot image (the artifacts hook).
 *   cores:   a VM takes ceil(vcpus / threads_per_core) host cores; a host
 *            has floor(total_cores × cpu_overcommit) allocatable cores.
 *   memory:  hosts with 1 GiB hugepages (total_hugepages_1g > 0) give guest
 *            memory from them (used_hugepages_1g + mem ≤ total); others
 *            from plain memory (used_memory_gib + mem ≤ total_mem_gib).
 *            used_memory_gib counts every VM's memory on the host,
 *            used_hugepages_1g only that of hugepage-backed VMs.
 *   storage: available_storage_gib ≥ the VM's storage_gib; placing takes
 *            it, releasing gives it back.
 *
 * Order (LEAST_LOADED): ascending core load used/allocatable (compared
 * exactly by cross-multiplication), then more free memory (hugepages or
 * plain, as the host gives it) first, then host name, which is unique, so
 * the choice is deterministic. BASELINE_ORDER: integer total_mem_gib /
 * total_cores ascending, then used_cores ascending, then id — the seed's
 * ORDER BY with id added as the tie-break (baseline.c uses the same).
 *
 * Protocol. Under the allocator's mutex a placement picks a host and adds
 * the VM to the host's `pending` amounts (so concurrent placements in this
 * process see each other). Then, in one transaction, it runs a guarded
 * UPDATE that re-checks state and capacity against the row itself and bumps
 * `generation` (RETURNING the new counters), and sets the VM's host_id,
 * cores, hugepages, allocated_at and state='allocated' WHERE host_id IS
 * NULL. The guard is what makes over-commit impossible with any number of
 * allocators in any number of processes: SQLite runs one writer at a time,
 * PostgreSQL re-evaluates the WHERE on the locked row (and the transaction
 * is SERIALIZABLE). When the guard matches no row, the index was stale (a
 * change by another process): the host is re-read from the database and the
 * choice is made again. After commit the returned counters are stored if
 * their generation is newer than the one known.
 *
 * Group commit: concurrent loam_alloc_place calls are queued and placed
 * together, one transaction per group (see "group commit" below), and
 * loam_alloc_place_batch does the same for a known list of pending VMs.
 * The whole group takes two statements: one guarded UPDATE ... FROM
 * (VALUES ...) over its hosts, with each host's summed take, and one
 * UPDATE of its VMs.
 */
#include "alloc/alloc.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch/arch.h"
#include "lib/cleanup.h"

#define MAX_ARCHES	8
#define STALE_RETRIES	64
#define RELOAD_EVERY_MS 5000
#define GROUP_MAX	64

struct counters {
	int64_t cores, mem, huge, storage;
};

struct ahost {
	char id[27];
	char name[64];
	char location[64];
	int arch;	  /* index in loam_arches, or -1 */
	unsigned emulate; /* bit per arch index */
	bool accepting, accel_ok;
	int64_t tpc, total_cores, alloc_cores, total_mem, total_huge;
	struct counters used; /* committed, as of generation */
	int64_t avail_storage;
	int64_t generation;
	struct counters pending; /* reserved by in-flight placements */
	bool live;		 /* still in the database */
};

struct bucket {
	char location[64];
	int arch;
	struct ahost **v;
	size_t n, cap;
};

struct loam_allocator {
	pthread_mutex_t mu;    /* the index */
	pthread_mutex_t tx_mu; /* write transactions, see write_tx */
	pthread_cond_t tx_turn;
	uint64_t tx_next, tx_serving;
	pthread_mutex_t gc_mu; /* the group-commit queue, see loam_alloc_place */
	pthread_cond_t gc_cond;
	struct gc_slot *gc_head, **gc_tail;
	bool gc_leader;
	enum loam_alloc_order order;
	struct ahost **hosts;
	size_t nhosts, cap;
	struct ahost **map; /* by id */
	size_t map_cap;
	struct bucket *buckets;
	size_t nbuckets;
	char **dirty; /* ids from loam_alloc_host_changed */
	size_t ndirty;
	loam_alloc_image_present_fn image_present;
	loam_alloc_image_arch_present_fn image_arch_present;
	void *image_ctx;
	int64_t reloaded_at; /* ms */
};

/* What a VM asks for. */
struct want {
	char id[27];
	int arch;
	char location[64];
	int64_t vcpus, mem, storage;
	char boot_image[64];
	bool has_image;
};

/* ---------- host state ---------- */

static int arch_index(const char *name)
{
	for (int i = 0; i < MAX_ARCHES && loam_arches[i]; i++)
		if (strcmp(loam_arches[i]->name, name) == 0)
			return i;
	return -1;
}

static int64_t cores_needed(const struct ahost *h, int64_t vcpus)
{
	int64_t tpc = h->tpc > 0 ? h->tpc : 1;
	return (vcpus + tpc - 1) / tpc;
}

static bool uses_hugepages(const struct ahost *h)
{
	return h->total_huge > 0;
}

static int64_t eff_cores(const struct ahost *h)
{
	return h->used.cores + h->pending.cores;
}

static int64_t free_mem(const struct ahost *h)
{
	if (uses_hugepages(h))
		return h->total_huge - h->used.huge - h->pending.huge;
	return h->total_mem - h->used.mem - h->pending.mem;
}

static int64_t free_storage(const struct ahost *h)
{
	return h->avail_storage - h->pending.storage;
}

/* <0 when a goes before b. */
static int cmp_least_loaded(const struct ahost *a, const struct ahost *b)
{
	int64_t la = eff_cores(a) * (b->alloc_cores > 0 ? b->alloc_cores : 1);
	int64_t lb = eff_cores(b) * (a->alloc_cores > 0 ? a->alloc_cores : 1);
	if (a->alloc_cores <= 0 || b->alloc_cores <= 0)
		return (a->alloc_cores <= 0) - (b->alloc_cores <= 0);
	if (la != lb)
		return la < lb ? -1 : 1;
	int64_t fa = free_mem(a), fb = free_mem(b);
	if (fa != fb)
		return fa > fb ? -1 : 1;
	return strcmp(a->name, b->name);
}

static int64_t mem_per_core(const struct ahost *h)
{
	return h->total_cores > 0 ? h->total_mem / h->total_cores : INT64_MAX;
}

static int cmp_baseline(const struct ahost *a, const struct ahost *b)
{
	int64_t ra = mem_per_core(a), rb = mem_per_core(b);
	if (ra != rb)
		return ra < rb ? -1 : 1;
	if (eff_cores(a) != eff_cores(b))
		return eff_cores(a) < eff_cores(b) ? -1 : 1;
	return strcmp(a->id, b->id);
}

static int cmp(const struct loam_allocator *a, const struct ahost *x, const struct ahost *y)
{
	return a->order == LOAM_ALLOC_BASELINE_ORDER ? cmp_baseline(x, y) : cmp_least_loaded(x, y);
}

/* ---------- buckets ---------- */

static struct bucket *bucket_find(struct loam_allocator *a, const char *location, int arch,
				  bool create)
{
	for (size_t i = 0; i < a->nbuckets; i++)
		if (a->buckets[i].arch == arch && strcmp(a->buckets[i].location, location) == 0)
			return &a->buckets[i];
	if (!create)
		return NULL;
	a->buckets = realloc(a->buckets, (a->nbuckets + 1) * sizeof(*a->buckets));
	if (!a->buckets)
		abort();
	struct bucket *b = &a->buckets[a->nbuckets++];
	memset(b, 0, sizeof(*b));
	snprintf(b->location, sizeof(b->location), "%s", location);
	b->arch = arch;
	return b;
}

static void bucket_push(struct bucket *b, struct ahost *h)
{
	if (b->n == b->cap) {
		b->cap = b->cap ? b->cap * 2 : 16;
		b->v = realloc(b->v, b->cap * sizeof(*b->v));
		if (!b->v)
			abort();
	}
	b->v[b->n++] = h;
}

static struct loam_allocator *sort_ctx;

static int qsort_cmp(const void *x, const void *y)
{
	return cmp(sort_ctx, *(struct ahost *const *)x, *(struct ahost *const *)y);
}

static void sort_buckets(struct loam_allocator *a)
{
	static pthread_mutex_t sort_mu = PTHREAD_MUTEX_INITIALIZER;
	pthread_mutex_lock(&sort_mu);
	sort_ctx = a;
	for (size_t i = 0; i < a->nbuckets; i++)
		qsort(a->buckets[i].v, a->buckets[i].n, sizeof(struct ahost *), qsort_cmp);
	pthread_mutex_unlock(&sort_mu);
}

/* Moves h to its place in b after its key changed: find it (a scan of
 * pointers, cheap), then binary-search its new place and shift the run
 * between the two. */
static void bucket_reposition(const struct loam_allocator *a, struct bucket *b, struct ahost *h)
{
	size_t i = 0;
	while (i < b->n && b->v[i] != h)
		i++;
	if (i == b->n)
		return;
	if (i + 1 < b->n && cmp(a, b->v[i + 1], h) < 0) {
		size_t lo = i + 1, hi = b->n; /* first position after i whose host sorts after h */
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			if (cmp(a, b->v[mid], h) < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		memmove(&b->v[i], &b->v[i + 1], (lo - 1 - i) * sizeof(*b->v));
		b->v[lo - 1] = h;
	} else if (i > 0 && cmp(a, b->v[i - 1], h) > 0) {
		size_t lo = 0, hi = i; /* first position whose host sorts after h */
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			if (cmp(a, b->v[mid], h) <= 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		memmove(&b->v[lo + 1], &b->v[lo], (i - lo) * sizeof(*b->v));
		b->v[lo] = h;
	}
}

static void reposition(struct loam_allocator *a, struct ahost *h)
{
	for (int arch = 0; arch < MAX_ARCHES && loam_arches[arch]; arch++) {
		if (arch != h->arch && !(h->emulate & (1u << arch)))
			continue;
		struct bucket *b = bucket_find(a, h->location, arch, false);
		if (b)
			bucket_reposition(a, b, h);
	}
}

static void rebuild_buckets(struct loam_allocator *a)
{
	for (size_t i = 0; i < a->nbuckets; i++)
		free(a->buckets[i].v);
	free(a->buckets);
	a->buckets = NULL;
	a->nbuckets = 0;
	for (size_t i = 0; i < a->nhosts; i++) {
		struct ahost *h = a->hosts[i];
		if (!h->live)
			continue;
		for (int arch = 0; arch < MAX_ARCHES && loam_arches[arch]; arch++)
			if (arch == h->arch || (h->emulate & (1u << arch)))
				bucket_push(bucket_find(a, h->location, arch, true), h);
	}
	sort_buckets(a);
}

/* ---------- loading hosts ---------- */

#define HOST_COLS                                                                                  \
	"id, name, location, arch, allocation_state, accel, threads_per_core, total_cores, "       \
	"cpu_overcommit, total_mem_gib, total_hugepages_1g, used_cores, used_memory_gib, "         \
	"used_hugepages_1g, available_storage_gib, generation"

static void host_from_row(struct ahost *h, const struct loam_db_rows *r, size_t i)
{
	snprintf(h->id, sizeof(h->id), "%s", loam_db_rows_text(r, i, 0));
	snprintf(h->name, sizeof(h->name), "%s", loam_db_rows_text(r, i, 1));
	snprintf(h->location, sizeof(h->location), "%s", loam_db_rows_text(r, i, 2));
	h->arch = arch_index(loam_db_rows_text(r, i, 3));
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
	h->live = true;
}

static size_t id_hash(const char *id)
{
	uint64_t h = 1469598103934665603ull;
	for (; *id; id++)
		h = (h ^ (unsigned char)*id) * 1099511628211ull;
	return (size_t)h;
}

/* The id → host map: open addressing, at most half full. */
static void map_insert(struct loam_allocator *a, struct ahost *h)
{
	size_t i = id_hash(h->id) & (a->map_cap - 1);
	while (a->map[i])
		i = (i + 1) & (a->map_cap - 1);
	a->map[i] = h;
}

static void map_grow(struct loam_allocator *a)
{
	free(a->map);
	a->map_cap = a->map_cap ? a->map_cap * 2 : 128;
	a->map = calloc(a->map_cap, sizeof(*a->map));
	if (!a->map)
		abort();
	for (size_t i = 0; i < a->nhosts; i++)
		map_insert(a, a->hosts[i]);
}

static struct ahost *host_by_id(struct loam_allocator *a, const char *id)
{
	if (!a->map_cap)
		return NULL;
	for (size_t i = id_hash(id) & (a->map_cap - 1); a->map[i]; i = (i + 1) & (a->map_cap - 1))
		if (strcmp(a->map[i]->id, id) == 0)
			return a->map[i];
	return NULL;
}

/* A new host with the given id, in the list and the map. */
static struct ahost *host_add(struct loam_allocator *a, const char *id)
{
	if (a->nhosts == a->cap) {
		a->cap = a->cap ? a->cap * 2 : 64;
		a->hosts = realloc(a->hosts, a->cap * sizeof(*a->hosts));
		if (!a->hosts)
			abort();
	}
	struct ahost *h = calloc(1, sizeof(*h));
	if (!h)
		abort();
	snprintf(h->id, sizeof(h->id), "%s", id);
	a->hosts[a->nhosts++] = h;
	if (2 * a->nhosts > a->map_cap)
		map_grow(a);
	else
		map_insert(a, h);
	return h;
}

static void load_emulations(struct loam_allocator *a, const struct loam_db_rows *r)
{
	for (size_t i = 0; i < loam_db_rows_count(r); i++) {
		struct ahost *h = host_by_id(a, loam_db_rows_text(r, i, 0));
		int arch = arch_index(loam_db_rows_text(r, i, 1));
		if (h && arch >= 0)
			h->emulate |= 1u << arch;
	}
}

/* Re-reads all hosts, or those of one location, from the database. */
static int reload(struct loam_allocator *a, struct loam_db *db, const char *location, loam_err *err)
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
		struct ahost *h = host_by_id(a, id);
		if (!h)
			h = host_add(a, id);
		struct counters pending = h->pending;
		host_from_row(h, hosts, i);
		h->pending = pending;
		h->emulate = 0;
	}
	load_emulations(a, emu);
	rebuild_buckets(a);
	a->reloaded_at = loam_db_now_ms();
	pthread_mutex_unlock(&a->mu);
	return 0;
}

int loam_alloc_reload(struct loam_allocator *a, struct loam_db *db, loam_err *err)
{
	return reload(a, db, NULL, err);
}

/* Re-reads one host's row (after a failed guard or host_changed). */
static int refresh_host(struct loam_allocator *a, struct loam_db *db, const char *id, bool full,
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
	struct ahost *h = host_by_id(a, id);
	bool exists = loam_db_rows_count(r) > 0 && !loam_db_rows_null(r, 0, 3);
	if (!h && exists)
		h = host_add(a, id);
	if (h && !exists) {
		h->live = false;
	} else if (h) {
		struct counters pending = h->pending;
		int64_t known = h->generation;
		bool was_live = h->live;
		struct ahost before = *h;
		host_from_row(h, r, 0);
		h->pending = pending;
		if (!full && was_live && h->generation < known)
			*h = before; /* an older read than what a commit told us */
		if (full) {
			h->emulate = 0;
			load_emulations(a, emu);
		}
	}
	if (full)
		rebuild_buckets(a);
	else if (h)
		reposition(a, h);
	pthread_mutex_unlock(&a->mu);
	return 0;
}

static int apply_dirty(struct loam_allocator *a, struct loam_db *db, loam_err *err)
{
	for (;;) {
		pthread_mutex_lock(&a->mu);
		char *id = a->ndirty ? a->dirty[--a->ndirty] : NULL;
		pthread_mutex_unlock(&a->mu);
		if (!id)
			return 0;
		int rc = refresh_host(a, db, id, true, err);
		free(id);
		if (rc < 0)
			return -1;
	}
}

static bool reload_due(struct loam_allocator *a)
{
	pthread_mutex_lock(&a->mu);
	bool due = loam_db_now_ms() - a->reloaded_at >= RELOAD_EVERY_MS;
	pthread_mutex_unlock(&a->mu);
	return due;
}

/* ---------- lifecycle ---------- */

int loam_alloc_new(struct loam_db *db, struct loam_allocator **out, loam_err *err)
{
	struct loam_allocator *a = calloc(1, sizeof(*a));
	if (!a)
		abort();
	pthread_mutex_init(&a->mu, NULL);
	pthread_mutex_init(&a->tx_mu, NULL);
	pthread_cond_init(&a->tx_turn, NULL);
	pthread_mutex_init(&a->gc_mu, NULL);
	pthread_cond_init(&a->gc_cond, NULL);
	a->gc_tail = &a->gc_head;
	if (loam_alloc_reload(a, db, err) < 0) {
		loam_alloc_free(a);
		return -1;
	}
	*out = a;
	return 0;
}

void loam_alloc_free(struct loam_allocator *a)
{
	if (!a)
		return;
	for (size_t i = 0; i < a->nhosts; i++)
		free(a->hosts[i]);
	for (size_t i = 0; i < a->nbuckets; i++)
		free(a->buckets[i].v);
	for (size_t i = 0; i < a->ndirty; i++)
		free(a->dirty[i]);
	free(a->dirty);
	free(a->map);
	free(a->hosts);
	free(a->buckets);
	pthread_mutex_destroy(&a->mu);
	pthread_mutex_destroy(&a->tx_mu);
	pthread_cond_destroy(&a->tx_turn);
	pthread_mutex_destroy(&a->gc_mu);
	pthread_cond_destroy(&a->gc_cond);
	free(a);
}

void loam_alloc_set_order(struct loam_allocator *a, enum loam_alloc_order order)
{
	pthread_mutex_lock(&a->mu);
	a->order = order;
	sort_buckets(a);
	pthread_mutex_unlock(&a->mu);
}

void loam_alloc_set_image_check(struct loam_allocator *a, loam_alloc_image_present_fn present,
				void *ctx)
{
	pthread_mutex_lock(&a->mu);
	a->image_present = present;
	a->image_ctx = ctx;
	pthread_mutex_unlock(&a->mu);
}

void loam_alloc_set_image_arch_check(struct loam_allocator *a,
				     loam_alloc_image_arch_present_fn present, void *ctx)
{
	pthread_mutex_lock(&a->mu);
	a->image_arch_present = present;
	a->image_ctx = ctx;
	pthread_mutex_unlock(&a->mu);
}

static bool image_checked(const struct loam_allocator *a)
{
	return a->image_present || a->image_arch_present;
}

static bool image_ok(const struct loam_allocator *a, const struct ahost *h, const struct want *w)
{
	if (a->image_arch_present)
		return a->image_arch_present(a->image_ctx, h->id, w->boot_image,
					     loam_arches[w->arch]->name);
	return !a->image_present || a->image_present(a->image_ctx, h->id, w->boot_image);
}

void loam_alloc_host_changed(struct loam_allocator *a, const char *host_id)
{
	char *id = strdup(host_id);
	if (!id)
		abort();
	pthread_mutex_lock(&a->mu);
	a->dirty = realloc(a->dirty, (a->ndirty + 1) * sizeof(*a->dirty));
	if (!a->dirty)
		abort();
	a->dirty[a->ndirty++] = id;
	pthread_mutex_unlock(&a->mu);
}

/* ---------- filters and choice ---------- */

static bool in_list(const char *const *list, const char *name)
{
	for (; list && *list; list++)
		if (strcmp(*list, name) == 0)
			return true;
	return false;
}

enum filter {
	F_ARCH,
	F_LOCATION,
	F_HOSTS,
	F_STATE,
	F_ACCEL,
	F_CORES,
	F_MEMORY,
	F_STORAGE,
	F_IMAGE,
	F_COUNT
};

/* Index of the first filter h fails, or F_COUNT when it passes all. */
static enum filter first_failed(const struct loam_allocator *a, const struct ahost *h,
				const struct want *w, const struct loam_alloc_request *req)
{
	if (!h->live || (h->arch != w->arch && !(h->emulate & (1u << w->arch))))
		return F_ARCH;
	if (strcmp(h->location, w->location) != 0)
		return F_LOCATION;
	if ((req->force_host && strcmp(req->force_host, h->name) != 0) ||
	    in_list(req->exclude_hosts, h->name))
		return F_HOSTS;
	if (!h->accepting)
		return F_STATE;
	if (!h->accel_ok)
		return F_ACCEL;
	if (eff_cores(h) + cores_needed(h, w->vcpus) > h->alloc_cores)
		return F_CORES;
	if (free_mem(h) < w->mem)
		return F_MEMORY;
	if (free_storage(h) < w->storage)
		return F_STORAGE;
	if (w->has_image && !image_ok(a, h, w))
		return F_IMAGE;
	return F_COUNT;
}

static struct ahost *choose(struct loam_allocator *a, const struct want *w,
			    const struct loam_alloc_request *req)
{
	struct bucket *b = bucket_find(a, w->location, w->arch, false);
	for (size_t i = 0; b && i < b->n; i++)
		if (first_failed(a, b->v[i], w, req) == F_COUNT)
			return b->v[i];
	return NULL;
}

/* "arch=arm64: 12 → location=hel1: 5 → cores≥2: 0" */
static int explain(struct loam_allocator *a, const struct want *w,
		   const struct loam_alloc_request *req, loam_err *err)
{
	size_t passed[F_COUNT] = {0};
	int64_t cmin = INT64_MAX, cmax = 0;
	for (size_t i = 0; i < a->nhosts; i++) {
		const struct ahost *h = a->hosts[i];
		enum filter f = first_failed(a, h, w, req);
		for (int k = 0; k < (int)f; k++)
			passed[k]++;
		if (f >= F_CORES) {
			int64_t c = cores_needed(h, w->vcpus);
			cmin = c < cmin ? c : cmin;
			cmax = c > cmax ? c : cmax;
		}
	}
	char labels[F_COUNT][96];
	snprintf(labels[F_ARCH], 96, "arch=%s", loam_arches[w->arch]->name);
	snprintf(labels[F_LOCATION], 96, "location=%s", w->location);
	snprintf(labels[F_HOSTS], 96, "%s%s%s", req->force_host ? "host=" : "",
		 req->force_host ? req->force_host : "",
		 req->exclude_hosts && *req->exclude_hosts ? " excluded hosts" : "");
	snprintf(labels[F_STATE], 96, "state=accepting");
	snprintf(labels[F_ACCEL], 96, "accel≠none");
	if (cmin == cmax || cmin == INT64_MAX)
		snprintf(labels[F_CORES], 96, "cores≥%lld",
			 (long long)(cmin == INT64_MAX ? w->vcpus : cmin));
	else
		snprintf(labels[F_CORES], 96, "cores≥%lld..%lld", (long long)cmin, (long long)cmax);
	snprintf(labels[F_MEMORY], 96, "memory≥%lldGiB", (long long)w->mem);
	snprintf(labels[F_STORAGE], 96, "storage≥%lldGiB", (long long)w->storage);
	if (a->image_arch_present)
		snprintf(labels[F_IMAGE], 96, "image=%s/%s installed", w->boot_image,
			 loam_arches[w->arch]->name);
	else
		snprintf(labels[F_IMAGE], 96, "image=%s", w->boot_image);
	char msg[1024];
	size_t n = 0;
	for (int k = 0; k < F_COUNT && n < sizeof(msg); k++) {
		if (k == F_HOSTS && !labels[F_HOSTS][0])
			continue;
		if (k == F_IMAGE && !(w->has_image && image_checked(a)))
			continue;
		n += (size_t)snprintf(msg + n, sizeof(msg) - n, "%s%s: %zu", n ? " → " : "",
				      labels[k], passed[k]);
		if (passed[k] == 0)
			break;
	}
	return loam_fail(err, LOAM_E_NOCAPACITY, "no host can take VM %s: %s", w->id, msg);
}

/* ---------- placing ---------- */

/*
 * One write transaction at a time per allocator. SQLite has one writer
 * anyway (and its busy handler sleeps), and on PostgreSQL the threads of
 * one process would otherwise pick the same least-loaded hosts at once and
 * fail each other's serializable transactions; concurrency comes from
 * group commit (loam_alloc_place_batch) instead. Other processes are
 * handled by the guard and the transaction retry.
 */
static int write_tx(struct loam_allocator *a, struct loam_db *db, loam_db_tx_fn fn, void *ctx,
		    loam_err *err)
{
	/* A ticket lock: first come, first served, so no thread starves. */
	pthread_mutex_lock(&a->tx_mu);
	uint64_t ticket = a->tx_next++;
	while (a->tx_serving != ticket)
		pthread_cond_wait(&a->tx_turn, &a->tx_mu);
	pthread_mutex_unlock(&a->tx_mu);
	int rc = loam_db_tx(db, fn, ctx, err);
	pthread_mutex_lock(&a->tx_mu);
	a->tx_serving++;
	pthread_cond_broadcast(&a->tx_turn);
	pthread_mutex_unlock(&a->tx_mu);
	return rc;
}

static int load_want(struct loam_db *db, const char *vm_id, struct want *w, char *host_id,
		     loam_err *err)
{
	cleanup_rows struct loam_db_rows *r = NULL;
	if (loam_db_query(
		db,
		"SELECT arch, location, vcpus, memory_gib, storage_gib, boot_image, host_id "
		"FROM vm WHERE id = ?",
		DB_ARGS(DB_TEXT(vm_id)), &r, err) < 0)
		return -1;
	if (loam_db_rows_count(r) == 0)
		return loam_fail(err, LOAM_E_NOTFOUND, "no VM with id '%.40s'", vm_id);
	memset(w, 0, sizeof(*w));
	snprintf(w->id, sizeof(w->id), "%s", vm_id);
	w->arch = arch_index(loam_db_rows_text(r, 0, 0));
	if (w->arch < 0)
		return loam_fail(err, LOAM_E_INTERNAL, "VM %s has unknown arch", vm_id);
	snprintf(w->location, sizeof(w->location), "%s", loam_db_rows_text(r, 0, 1));
	w->vcpus = loam_db_rows_int(r, 0, 2);
	w->mem = loam_db_rows_int(r, 0, 3);
	w->storage = loam_db_rows_int(r, 0, 4);
	w->has_image = !loam_db_rows_null(r, 0, 5);
	snprintf(w->boot_image, sizeof(w->boot_image), "%s", loam_db_rows_text(r, 0, 5));
	snprintf(host_id, 27, "%s", loam_db_rows_text(r, 0, 6));
	return 0;
}

/* The result for a VM that already has a host. */
static int existing_result(struct loam_db *db, const char *vm_id, struct loam_alloc_result *res,
			   loam_err *err)
{
	cleanup_rows struct loam_db_rows *r = NULL;
	if (loam_db_query(db,
			  "SELECT h.id, h.name, v.cores, v.hugepages FROM vm v JOIN host h ON "
			  "h.id = v.host_id WHERE v.id = ?",
			  DB_ARGS(DB_TEXT(vm_id)), &r, err) < 0)
		return -1;
	if (loam_db_rows_count(r) == 0)
		return loam_fail(err, LOAM_E_CONFLICT, "VM %s was released while being placed",
				 vm_id);
	snprintf(res->host_id, sizeof(res->host_id), "%s", loam_db_rows_text(r, 0, 0));
	snprintf(res->host_name, sizeof(res->host_name), "%s", loam_db_rows_text(r, 0, 1));
	res->cores = (unsigned)loam_db_rows_int(r, 0, 2);
	res->hugepages = loam_db_rows_int(r, 0, 3) != 0;
	return 0;
}

enum outcome { FAILED, PLACED, STALE, ALREADY };

struct place_tx {
	const char *host_id;
	const char *vm_id;
	struct counters take;
	bool hugepages;
	enum outcome outcome;
	bool committed_after; /* after/after_gen hold committed values */
	struct counters after;
	int64_t after_storage, after_gen;
};

static const char guarded_update[] =
    "UPDATE host SET used_cores = used_cores + ?, used_memory_gib = used_memory_gib + ?, "
    "used_hugepages_1g = used_hugepages_1g + ?, "
    "available_storage_gib = available_storage_gib - ?, generation = generation + 1 "
    "WHERE id = ? AND allocation_state = 'accepting' AND accel <> 'none' "
    "AND used_cores + ? <= total_cores * cpu_overcommit "
    "AND (CASE WHEN total_hugepages_1g > 0 THEN total_hugepages_1g - used_hugepages_1g "
    "ELSE total_mem_gib - used_memory_gib END) >= ? "
    "AND available_storage_gib >= ? "
    "RETURNING used_cores, used_memory_gib, used_hugepages_1g, available_storage_gib, "
    "generation";

static void read_after(struct place_tx *p, const struct loam_db_rows *r)
{
	p->after = (struct counters){.cores = loam_db_rows_int(r, 0, 0),
				     .mem = loam_db_rows_int(r, 0, 1),
				     .huge = loam_db_rows_int(r, 0, 2)};
	p->after_storage = loam_db_rows_int(r, 0, 3);
	p->after_gen = loam_db_rows_int(r, 0, 4);
}

/* The guarded host update and the VM update; sets p->outcome. A VM that
 * turned out to be placed already (ALREADY) leaves the host counters
 * raised: the caller rolls back or calls undo_host. */
static int apply_placement(struct loam_db *db, struct place_tx *p, loam_err *err)
{
	p->outcome = FAILED;
	cleanup_rows struct loam_db_rows *r = NULL;
	if (loam_db_query(db, guarded_update,
			  DB_ARGS(DB_INT(p->take.cores), DB_INT(p->take.mem), DB_INT(p->take.huge),
				  DB_INT(p->take.storage), DB_TEXT(p->host_id),
				  DB_INT(p->take.cores), DB_INT(p->take.mem),
				  DB_INT(p->take.storage)),
			  &r, err) < 0)
		return -1;
	if (loam_db_rows_count(r) == 0) {
		p->outcome = STALE;
		return 0;
	}
	read_after(p, r);
	int64_t changed = 0;
	if (loam_db_exec(db,
			 "UPDATE vm SET host_id = ?, cores = ?, hugepages = ?, allocated_at = ?, "
			 "state = 'allocated' WHERE id = ? AND host_id IS NULL",
			 DB_ARGS(DB_TEXT(p->host_id), DB_INT(p->take.cores), DB_INT(p->hugepages),
				 DB_INT(loam_db_now_ms()), DB_TEXT(p->vm_id)),
			 &changed, err) < 0)
		return -1;
	p->outcome = changed ? PLACED : ALREADY;
	return 0;
}

static int undo_host(struct loam_db *db, struct place_tx *p, loam_err *err)
{
	cleanup_rows struct loam_db_rows *r = NULL;
	if (loam_db_query(db,
			  "UPDATE host SET used_cores = used_cores - ?, "
			  "used_memory_gib = used_memory_gib - ?, "
			  "used_hugepages_1g = used_hugepages_1g - ?, "
			  "available_storage_gib = available_storage_gib + ?, "
			  "generation = generation + 1 WHERE id = ? "
			  "RETURNING used_cores, used_memory_gib, used_hugepages_1g, "
			  "available_storage_gib, generation",
			  DB_ARGS(DB_INT(p->take.cores), DB_INT(p->take.mem), DB_INT(p->take.huge),
				  DB_INT(p->take.storage), DB_TEXT(p->host_id)),
			  &r, err) < 0)
		return -1;
	if (loam_db_rows_count(r) == 1)
		read_after(p, r);
	return 0;
}

static int place_fn(struct loam_db *db, void *ctx, loam_err *err)
{
	struct place_tx *p = ctx;
	if (apply_placement(db, p, err) < 0)
		return -1;
	if (p->outcome != PLACED) /* roll back; the caller looks again */
		return loam_fail(err, LOAM_E_CONFLICT, "placement raced");
	return 0;
}

static void add_counters(struct counters *c, const struct counters *d, int sign)
{
	c->cores += sign * d->cores;
	c->mem += sign * d->mem;
	c->huge += sign * d->huge;
	c->storage += sign * d->storage;
}

/* Stores what a commit returned, unless something newer is known. */
static void store_committed(struct ahost *h, const struct counters *used, int64_t storage,
			    int64_t gen)
{
	if (gen <= h->generation)
		return;
	h->used = *used;
	h->avail_storage = storage;
	h->generation = gen;
}

static void finish(struct loam_allocator *a, struct ahost *h, const struct place_tx *p)
{
	pthread_mutex_lock(&a->mu);
	add_counters(&h->pending, &p->take, -1);
	if (p->outcome == PLACED || p->committed_after)
		store_committed(h, &p->after, p->after_storage, p->after_gen);
	reposition(a, h);
	pthread_mutex_unlock(&a->mu);
}

/* Picks and reserves; NULL when nothing fits (then *err explains). */
static struct ahost *pick(struct loam_allocator *a, const struct want *w,
			  const struct loam_alloc_request *req, struct place_tx *p, loam_err *err)
{
	pthread_mutex_lock(&a->mu);
	struct ahost *h = choose(a, w, req);
	if (!h) {
		explain(a, w, req, err);
		pthread_mutex_unlock(&a->mu);
		return NULL;
	}
	p->hugepages = uses_hugepages(h);
	p->take = (struct counters){.cores = cores_needed(h, w->vcpus),
				    .mem = w->mem,
				    .huge = p->hugepages ? w->mem : 0,
				    .storage = w->storage};
	p->host_id = h->id;
	add_counters(&h->pending, &p->take, 1);
	reposition(a, h);
	pthread_mutex_unlock(&a->mu);
	return h;
}

static void fill_result(const struct ahost *h, const struct place_tx *p,
			struct loam_alloc_result *res)
{
	snprintf(res->host_id, sizeof(res->host_id), "%s", h->id);
	snprintf(res->host_name, sizeof(res->host_name), "%s", h->name);
	res->cores = (unsigned)p->take.cores;
	res->hugepages = p->hugepages;
}

/* One VM, one transaction. */
static int place_single(struct loam_allocator *a, struct loam_db *db,
			const struct loam_alloc_request *req, struct loam_alloc_result *res,
			loam_err *err)
{
	struct want w;
	char host_id[27] = "";
	if (apply_dirty(a, db, err) < 0 || load_want(db, req->vm_id, &w, host_id, err) < 0)
		return -1;
	if (host_id[0])
		return existing_result(db, req->vm_id, res, err);
	bool reloaded = false;
	for (int attempt = 0; attempt < STALE_RETRIES; attempt++) {
		struct place_tx p = {.vm_id = req->vm_id};
		struct ahost *h = pick(a, &w, req, &p, err);
		if (!h) {
			/* The index may miss capacity that another process added or
			 * freed without telling us; look again, at most once per
			 * RELOAD_EVERY_MS, so a full fleet does not turn every
			 * request into a scan. */
			if (reloaded || !reload_due(a))
				return -1;
			loam_err_free(err);
			if (reload(a, db, w.location, err) < 0)
				return -1;
			reloaded = true;
			continue;
		}
		cleanup_err loam_err txerr = NULL;
		int rc = write_tx(a, db, place_fn, &p, &txerr);
		finish(a, h, &p);
		if (rc == 0) {
			fill_result(h, &p, res);
			return 0;
		}
		if (p.outcome == ALREADY)
			return existing_result(db, req->vm_id, res, err);
		if (p.outcome != STALE) {
			loam_err_free(err);
			*err = loam_steal(&txerr);
			return loam_err_wrap(err, "place VM %s", req->vm_id);
		}
		if (refresh_host(a, db, p.host_id, false, err) < 0)
			return -1;
	}
	return loam_fail(err, LOAM_E_UNAVAILABLE,
			 "place VM %s: hosts kept changing under the allocator; retry", req->vm_id);
}

/* ---------- placing many at once ---------- */

struct batch_item {
	struct want w;
	char host_id[27]; /* already placed */
	bool dup;	  /* the same VM as an earlier item */
	struct ahost *h;
	struct place_tx p;
};

struct batch_tx {
	struct batch_item *items;
	size_t n;
};

/* Reads the VMs of the batch with one query. */
static int load_wants(struct loam_db *db, const struct loam_alloc_request *reqs,
		      struct batch_item *items, size_t n, loam_err *errs, loam_err *err)
{
	size_t len = 200 + 2 * n;
	cleanup_free char *sql = malloc(len);
	cleanup_free struct loam_db_val *args = calloc(n, sizeof(*args));
	if (!sql || !args)
		abort();
	size_t o = (size_t)snprintf(sql, len,
				    "SELECT id, arch, location, vcpus, memory_gib, storage_gib, "
				    "boot_image, host_id FROM vm WHERE id IN (");
	for (size_t i = 0; i < n; i++) {
		sql[o++] = i ? ',' : ' ';
		sql[o++] = '?';
		args[i] = DB_TEXT(reqs[i].vm_id);
	}
	snprintf(sql + o, len - o, ")");
	cleanup_rows struct loam_db_rows *r = NULL;
	if (loam_db_query(db, sql, args, n, &r, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		struct want *w = &items[i].w;
		size_t row = 0;
		while (row < loam_db_rows_count(r) &&
		       strcmp(loam_db_rows_text(r, row, 0), reqs[i].vm_id) != 0)
			row++;
		w->arch = -1;
		if (row == loam_db_rows_count(r)) {
			loam_fail(&errs[i], LOAM_E_NOTFOUND, "no VM with id '%.40s'",
				  reqs[i].vm_id);
			continue;
		}
		snprintf(w->id, sizeof(w->id), "%s", reqs[i].vm_id);
		w->arch = arch_index(loam_db_rows_text(r, row, 1));
		snprintf(w->location, sizeof(w->location), "%s", loam_db_rows_text(r, row, 2));
		w->vcpus = loam_db_rows_int(r, row, 3);
		w->mem = loam_db_rows_int(r, row, 4);
		w->storage = loam_db_rows_int(r, row, 5);
		w->has_image = !loam_db_rows_null(r, row, 6);
		snprintf(w->boot_image, sizeof(w->boot_image), "%s", loam_db_rows_text(r, row, 6));
		snprintf(items[i].host_id, sizeof(items[i].host_id), "%s",
			 loam_db_rows_text(r, row, 7));
	}
	return 0;
}

/* One row per host of the batch with the sum of what its VMs take. */
struct host_take {
	const char *host_id;
	struct counters take;
	bool passed;
	struct place_tx after; /* the RETURNING values */
};

static size_t host_takes(struct batch_tx *b, struct host_take *t)
{
	size_t n = 0;
	for (size_t i = 0; i < b->n; i++) {
		if (!b->items[i].h)
			continue;
		size_t k = 0;
		while (k < n && t[k].host_id != b->items[i].p.host_id)
			k++;
		if (k == n)
			t[n++] = (struct host_take){.host_id = b->items[i].p.host_id};
		add_counters(&t[k].take, &b->items[i].p.take, 1);
	}
	return n;
}

/* VALUES columns are column1.. on both SQLite and PostgreSQL; the casts
 * give PostgreSQL the parameter types. */
static char *values_sql(const char *head, const char *row, size_t n, const char *tail)
{
	size_t len = strlen(head) + n * (strlen(row) + 1) + strlen(tail) + 1;
	char *sql = malloc(len);
	if (!sql)
		abort();
	size_t o = (size_t)snprintf(sql, len, "%s", head);
	for (size_t i = 0; i < n; i++)
		o += (size_t)snprintf(sql + o, len - o, "%s%s", i ? "," : "", row);
	snprintf(sql + o, len - o, "%s", tail);
	return sql;
}

#define INT_P "CAST(? AS BIGINT)"

/* The guarded update for every host of the batch in one statement. */
static int batch_hosts(struct loam_db *db, struct host_take *t, size_t n, loam_err *err)
{
	cleanup_free char *sql = values_sql(
	    "UPDATE host SET used_cores = used_cores + d.column2, "
	    "used_memory_gib = used_memory_gib + d.column3, "
	    "used_hugepages_1g = used_hugepages_1g + d.column4, "
	    "available_storage_gib = available_storage_gib - d.column5, "
	    "generation = generation + 1 FROM (VALUES ",
	    "(?, " INT_P ", " INT_P ", " INT_P ", " INT_P ")", n,
	    ") AS d WHERE host.id = d.column1 AND allocation_state = 'accepting' "
	    "AND accel <> 'none' AND used_cores + d.column2 <= total_cores * cpu_overcommit "
	    "AND (CASE WHEN total_hugepages_1g > 0 THEN total_hugepages_1g - used_hugepages_1g "
	    "ELSE total_mem_gib - used_memory_gib END) >= d.column3 "
	    "AND available_storage_gib >= d.column5 "
	    "RETURNING host.id, used_cores, used_memory_gib, used_hugepages_1g, "
	    "available_storage_gib, generation");
	cleanup_free struct loam_db_val *args = calloc(n * 5, sizeof(*args));
	if (!args)
		abort();
	for (size_t i = 0; i < n; i++) {
		struct loam_db_val *v = args + 5 * i;
		v[0] = DB_TEXT(t[i].host_id);
		v[1] = DB_INT(t[i].take.cores);
		/* the memory guard compares what the host gives (hugepages or
		 * plain) with the memory asked, so both columns get it */
		v[2] = DB_INT(t[i].take.mem);
		v[3] = DB_INT(t[i].take.huge);
		v[4] = DB_INT(t[i].take.storage);
	}
	cleanup_rows struct loam_db_rows *r = NULL;
	if (loam_db_query(db, sql, args, n * 5, &r, err) < 0)
		return -1;
	for (size_t row = 0; row < loam_db_rows_count(r); row++) {
		for (size_t i = 0; i < n; i++) {
			if (strcmp(t[i].host_id, loam_db_rows_text(r, row, 0)) != 0)
				continue;
			t[i].passed = true;
			struct place_tx *a = &t[i].after;
			a->after = (struct counters){.cores = loam_db_rows_int(r, row, 1),
						     .mem = loam_db_rows_int(r, row, 2),
						     .huge = loam_db_rows_int(r, row, 3)};
			a->after_storage = loam_db_rows_int(r, row, 4);
			a->after_gen = loam_db_rows_int(r, row, 5);
		}
	}
	return 0;
}

/* Sets host_id on every VM whose host passed; returns which were set. */
static int batch_vms(struct loam_db *db, struct batch_tx *b, const struct host_take *t, size_t nt,
		     loam_err *err)
{
	size_t n = 0;
	cleanup_free struct loam_db_val *args = calloc(b->n * 4 + 1, sizeof(*args));
	if (!args)
		abort();
	for (size_t i = 0; i < b->n; i++) {
		struct place_tx *p = &b->items[i].p;
		if (!b->items[i].h)
			continue;
		size_t k = 0;
		while (t[k].host_id != p->host_id)
			k++;
		p->outcome = t[k].passed ? ALREADY : STALE; /* ALREADY until the row is set */
		if (!t[k].passed)
			continue;
		struct loam_db_val *v = args + 4 * n++;
		v[0] = DB_TEXT(p->vm_id);
		v[1] = DB_TEXT(p->host_id);
		v[2] = DB_INT(p->take.cores);
		v[3] = DB_INT(p->hugepages);
	}
	(void)nt;
	if (n == 0)
		return 0;
	cleanup_free char *sql = values_sql(
	    "UPDATE vm SET host_id = d.column2, cores = d.column3, hugepages = d.column4, "
	    "allocated_at = ?, state = 'allocated' FROM (VALUES ",
	    "(?, ?, " INT_P ", " INT_P ")", n,
	    ") AS d WHERE vm.id = d.column1 AND vm.host_id IS NULL RETURNING vm.id");
	/* allocated_at's placeholder comes first in the text: rotate it there */
	memmove(args + 1, args, 4 * n * sizeof(*args));
	args[0] = DB_INT(loam_db_now_ms());
	cleanup_rows struct loam_db_rows *r = NULL;
	if (loam_db_query(db, sql, args, 4 * n + 1, &r, err) < 0)
		return -1;
	for (size_t row = 0; row < loam_db_rows_count(r); row++)
		for (size_t i = 0; i < b->n; i++)
			if (b->items[i].h &&
			    strcmp(b->items[i].p.vm_id, loam_db_rows_text(r, row, 0)) == 0)
				b->items[i].p.outcome = PLACED;
	return 0;
}

/*
 * Two statements for the whole batch: the guarded host update (with each
 * host's summed take) and the VM update. A host whose guard fails leaves
 * its VMs STALE (retried one by one); a VM found placed already has its
 * take given back to its host in the same transaction.
 */
static int batch_fn(struct loam_db *db, void *ctx, loam_err *err)
{
	struct batch_tx *b = ctx;
	cleanup_free struct host_take *t = calloc(b->n + 1, sizeof(*t));
	if (!t)
		abort();
	size_t nt = host_takes(b, t);
	for (size_t i = 0; i < b->n; i++)
		b->items[i].p.committed_after = false, b->items[i].p.outcome = FAILED;
	if (nt == 0)
		return 0;
	if (batch_hosts(db, t, nt, err) < 0 || batch_vms(db, b, t, nt, err) < 0)
		return -1;
	for (size_t i = 0; i < b->n; i++) {
		struct place_tx *p = &b->items[i].p;
		if (!b->items[i].h || p->outcome != ALREADY)
			continue;
		if (undo_host(db, p, err) < 0)
			return -1;
		p->committed_after = true;
	}
	/* The newest committed counters of each host, for the index. */
	for (size_t i = 0; i < b->n; i++) {
		struct place_tx *p = &b->items[i].p;
		for (size_t k = 0; b->items[i].h && k < nt; k++) {
			if (t[k].host_id != p->host_id || !t[k].passed || p->outcome == ALREADY)
				continue;
			p->after = t[k].after.after;
			p->after_storage = t[k].after.after_storage;
			p->after_gen = t[k].after.after_gen;
			p->committed_after = true;
		}
	}
	return 0;
}

int loam_alloc_place_batch(struct loam_allocator *a, struct loam_db *db,
			   const struct loam_alloc_request *reqs, size_t n,
			   struct loam_alloc_result *res, loam_err *errs, loam_err *err)
{
	if (n == 1)
		return place_single(a, db, reqs, res, &errs[0]) < 0 && !errs[0] ? -1 : 0;
	if (n == 0)
		return 0;
	if (apply_dirty(a, db, err) < 0)
		return -1;
	struct batch_item *items = calloc(n, sizeof(*items));
	if (!items)
		abort();
	if (load_wants(db, reqs, items, n, errs, err) < 0) {
		free(items);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		items[i].p.vm_id = reqs[i].vm_id;
		/* A VM asked for twice is placed once; the repeat is resolved
		 * after the commit, as "placed before". */
		for (size_t j = 0; j < i && !items[i].dup; j++)
			items[i].dup = strcmp(reqs[j].vm_id, reqs[i].vm_id) == 0;
		if (items[i].w.arch >= 0 && !items[i].host_id[0] && !items[i].dup)
			items[i].h = pick(a, &items[i].w, &reqs[i], &items[i].p, &errs[i]);
	}
	struct batch_tx b = {items, n};
	cleanup_err loam_err txerr = NULL;
	int rc = write_tx(a, db, batch_fn, &b, &txerr);
	for (size_t i = 0; i < n; i++) {
		struct batch_item *it = &items[i];
		if (it->h)
			finish(a, it->h, &it->p);
		if (it->h && rc < 0)
			loam_fail(&errs[i], loam_err_kind_of(txerr), "place VM %s: %s",
				  reqs[i].vm_id, loam_err_msg(txerr));
		else if (it->h && it->p.outcome == PLACED)
			fill_result(it->h, &it->p, &res[i]);
		else if (it->h || ((it->host_id[0] || it->dup) && !errs[i]))
			/* raced, stale or placed before: the one-by-one path sorts it out */
			place_single(a, db, &reqs[i], &res[i], &errs[i]);
		else if (errs[i] && loam_err_kind_of(errs[i]) == LOAM_E_NOCAPACITY &&
			 reload_due(a)) {
			loam_err_free(&errs[i]);
			place_single(a, db, &reqs[i], &res[i], &errs[i]);
		}
	}
	free(items);
	return 0;
}

/* ---------- group commit of concurrent placements ---------- */

/*
 * Concurrent loam_alloc_place calls are combined: each caller queues its
 * request; one of them (the leader) takes everything queued and places it
 * with loam_alloc_place_batch on its own connection — one transaction for
 * the group — then hands leadership to a caller still waiting. A lone
 * caller is a group of one and takes the single-VM path.
 */
struct gc_slot {
	const struct loam_alloc_request *req;
	struct loam_alloc_result *res;
	struct loam_alloc_result out;
	loam_err err;
	bool done;
	struct gc_slot *next;
};

static size_t gc_take(struct loam_allocator *a, struct gc_slot **group)
{
	size_t n = 0;
	while (a->gc_head && n < GROUP_MAX) {
		group[n++] = a->gc_head;
		a->gc_head = a->gc_head->next;
	}
	if (!a->gc_head)
		a->gc_tail = &a->gc_head;
	return n;
}

static void gc_run(struct loam_allocator *a, struct loam_db *db, struct gc_slot **group, size_t n)
{
	struct loam_alloc_request reqs[GROUP_MAX] = {0};
	struct loam_alloc_result res[GROUP_MAX] = {0};
	loam_err errs[GROUP_MAX] = {0};
	for (size_t i = 0; i < n; i++)
		reqs[i] = *group[i]->req;
	cleanup_err loam_err err = NULL;
	int rc = loam_alloc_place_batch(a, db, reqs, n, res, errs, &err);
	for (size_t i = 0; i < n; i++) {
		if (rc < 0 && !errs[i])
			loam_fail(&errs[i], loam_err_kind_of(err), "%s", loam_err_msg(err));
		group[i]->err = errs[i];
		group[i]->out = res[i];
	}
}

int loam_alloc_place(struct loam_allocator *a, struct loam_db *db,
		     const struct loam_alloc_request *req, struct loam_alloc_result *res,
		     loam_err *err)
{
	struct gc_slot me = {.req = req};
	pthread_mutex_lock(&a->gc_mu);
	/* The slot lives on this caller's stack only while it waits: the leader
	 * unlinks it and sets done before this function can return. */
	*a->gc_tail = &me;
	// cppcheck-suppress autoVariables
	a->gc_tail = &me.next;
	while (!me.done && a->gc_leader)
		pthread_cond_wait(&a->gc_cond, &a->gc_mu);
	if (!me.done) {
		a->gc_leader = true;
		while (!me.done) {
			struct gc_slot *group[GROUP_MAX];
			size_t n = gc_take(a, group);
			pthread_mutex_unlock(&a->gc_mu);
			gc_run(a, db, group, n);
			pthread_mutex_lock(&a->gc_mu);
			for (size_t i = 0; i < n; i++)
				group[i]->done = true;
		}
		a->gc_leader = false;
		pthread_cond_broadcast(&a->gc_cond);
	}
	pthread_mutex_unlock(&a->gc_mu);
	if (me.err) {
		loam_err_free(err);
		*err = me.err;
		return -1;
	}
	*res = me.out;
	return 0;
}

/* ---------- releasing ---------- */

struct release_tx {
	const char *vm_id;
	char host_id[27];
	struct counters give;
	struct counters after;
	int64_t after_storage, after_gen;
	bool released;
};

static int release_fn(struct loam_db *db, void *ctx, loam_err *err)
{
	struct release_tx *p = ctx;
	p->released = false;
	cleanup_rows struct loam_db_rows *r = NULL, *h = NULL;
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
	p->give = (struct counters){.cores = loam_db_rows_int(r, 0, 1),
				    .mem = mem,
				    .huge = loam_db_rows_int(r, 0, 3) ? mem : 0,
				    .storage = loam_db_rows_int(r, 0, 4)};
	int64_t changed = 0;
	if (loam_db_exec(db,
			 "UPDATE vm SET host_id = NULL, cores = 0, hugepages = 0, "
			 "allocated_at = NULL WHERE id = ? AND host_id = ?",
			 DB_ARGS(DB_TEXT(p->vm_id), DB_TEXT(p->host_id)), &changed, err) < 0)
		return -1;
	if (changed == 0)
		return 0;
	if (loam_db_query(db,
			  "UPDATE host SET used_cores = used_cores - ?, "
			  "used_memory_gib = used_memory_gib - ?, "
			  "used_hugepages_1g = used_hugepages_1g - ?, "
			  "available_storage_gib = available_storage_gib + ?, "
			  "generation = generation + 1 WHERE id = ? "
			  "RETURNING used_cores, used_memory_gib, used_hugepages_1g, "
			  "available_storage_gib, generation",
			  DB_ARGS(DB_INT(p->give.cores), DB_INT(p->give.mem), DB_INT(p->give.huge),
				  DB_INT(p->give.storage), DB_TEXT(p->host_id)),
			  &h, err) < 0)
		return -1;
	if (loam_db_rows_count(h) == 1) {
		p->after = (struct counters){.cores = loam_db_rows_int(h, 0, 0),
					     .mem = loam_db_rows_int(h, 0, 1),
					     .huge = loam_db_rows_int(h, 0, 2)};
		p->after_storage = loam_db_rows_int(h, 0, 3);
		p->after_gen = loam_db_rows_int(h, 0, 4);
		p->released = true;
	}
	return 0;
}

int loam_alloc_release(struct loam_allocator *a, struct loam_db *db, const char *vm_id,
		       loam_err *err)
{
	struct release_tx p = {.vm_id = vm_id};
	if (write_tx(a, db, release_fn, &p, err) < 0)
		return loam_err_wrap(err, "release VM %.40s", vm_id);
	if (!p.released)
		return 0;
	pthread_mutex_lock(&a->mu);
	struct ahost *h = host_by_id(a, p.host_id);
	if (h) {
		store_committed(h, &p.after, p.after_storage, p.after_gen);
		reposition(a, h);
	}
	pthread_mutex_unlock(&a->mu);
	return 0;
}
