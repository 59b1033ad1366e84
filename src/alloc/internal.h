/*
 * What the allocator's files share (alloc.c has the overview): the index's
 * hosts and buckets (index.c), reading hosts from the database (hosts.c),
 * filtering and choosing (place.c), the placement transactions (commit.c),
 * batches and group commit (batch.c) and release (release.c). Nothing
 * outside src/alloc includes it.
 */
#ifndef LOAM_ALLOC_INTERNAL_H
#define LOAM_ALLOC_INTERNAL_H

#include <pthread.h>

#include "alloc/alloc.h"

#define MAX_ARCHES	8
#define RELOAD_EVERY_MS 5000

struct counters {
	int64_t cores, mem, huge, storage, addrs; /* addrs: of the host's IPv4 pool */
};

/* A host's counters as a commit left them (its RETURNING row). */
struct committed {
	struct counters used; /* cores, mem, huge, addrs */
	int64_t avail_storage, generation;
};

struct ahost {
	char id[27];
	char name[64];
	char location[64];
	int arch;	  /* index in loam_arches, or -1 */
	unsigned emulate; /* bit per arch index */
	bool accepting, accel_ok;
	int64_t tpc, total_cores, alloc_cores, total_mem, total_huge, total_addrs;
	struct counters used; /* committed, as of generation */
	int64_t avail_storage;
	int64_t generation;
	struct counters pending; /* reserved by in-flight placements */
	bool live;		 /* still in the database */
};

/* The hosts that serve one (location, arch), in placement order. */
struct bucket {
	char location[64];
	int arch;
	struct ahost **v;
	size_t n, cap;
};

struct gc_slot;

struct loam_allocator {
	pthread_mutex_t mu;    /* the index */
	pthread_mutex_t tx_mu; /* write transactions, see alloc_write_tx */
	pthread_cond_t tx_turn;
	uint64_t tx_next, tx_serving;
	pthread_mutex_t gc_mu; /* the group-commit queue, see batch.c */
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

enum outcome { FAILED, PLACED, STALE, ALREADY };

/* One VM on its way to a host. */
struct item {
	const struct loam_alloc_request *req;
	struct want w;
	char placed_on[27]; /* the host the VM had when read, or "" */
	bool dup;	    /* the same VM as an earlier item */
	struct ahost *h;    /* the host picked and reserved, or NULL */
	struct counters take;
	bool hugepages;
	enum outcome outcome;
	bool committed; /* after holds what the commit left on h */
	struct committed after;
};

/* ---- a host's amounts (hot: inline) ---- */

static inline int64_t cores_needed(const struct ahost *h, int64_t vcpus)
{
	int64_t tpc = h->tpc > 0 ? h->tpc : 1;
	return (vcpus + tpc - 1) / tpc;
}

static inline bool uses_hugepages(const struct ahost *h)
{
	return h->total_huge > 0;
}

static inline int64_t eff_cores(const struct ahost *h)
{
	return h->used.cores + h->pending.cores;
}

static inline int64_t free_mem(const struct ahost *h)
{
	if (uses_hugepages(h))
		return h->total_huge - h->used.huge - h->pending.huge;
	return h->total_mem - h->used.mem - h->pending.mem;
}

static inline int64_t free_storage(const struct ahost *h)
{
	return h->avail_storage - h->pending.storage;
}

static inline int64_t free_addrs(const struct ahost *h)
{
	return h->total_addrs - h->used.addrs - h->pending.addrs;
}

static inline void add_counters(struct counters *c, const struct counters *d, int sign)
{
	c->cores += sign * d->cores;
	c->mem += sign * d->mem;
	c->huge += sign * d->huge;
	c->storage += sign * d->storage;
	c->addrs += sign * d->addrs;
}

/* ---- index.c: the id map and the ordered buckets (callers hold a->mu) ---- */

int alloc_arch_index(const char *name);
struct ahost *alloc_host_by_id(struct loam_allocator *a, const char *id);
/* A new host with the given id, in the list and the map. */
struct ahost *alloc_host_add(struct loam_allocator *a, const char *id);
struct bucket *alloc_bucket_find(struct loam_allocator *a, const char *location, int arch,
				 bool create);
void alloc_sort_buckets(struct loam_allocator *a);
void alloc_rebuild_buckets(struct loam_allocator *a);
/* Moves h to its place in each of its buckets after its key changed. */
void alloc_reposition(struct loam_allocator *a, struct ahost *h);
/* Stores what a commit left, unless something newer is known. */
void alloc_store_committed(struct ahost *h, const struct committed *c);
void alloc_index_free(struct loam_allocator *a);

/* ---- hosts.c: the index from the database ---- */

/* Re-reads all hosts (location NULL) or those of one location. */
int alloc_reload(struct loam_allocator *a, struct loam_db *db, const char *location, loam_err *err);
/* Re-reads one host; full also re-reads its emulations and rebuilds. */
int alloc_refresh_host(struct loam_allocator *a, struct loam_db *db, const char *id, bool full,
		       loam_err *err);
/* Re-reads the hosts loam_alloc_host_changed named. */
int alloc_apply_dirty(struct loam_allocator *a, struct loam_db *db, loam_err *err);
/* True when a full re-read is allowed again (at most every RELOAD_EVERY_MS). */
bool alloc_reload_due(struct loam_allocator *a);

/* ---- place.c: filters, choice and explain; one VM at a time ---- */

/* Picks a host for it->w and reserves it->take there; false when nothing
 * fits (then *err explains which filter emptied the set). */
bool alloc_pick(struct loam_allocator *a, struct item *it, loam_err *err);
/* Drops the reservation and stores what the commit left on the host. */
void alloc_finish(struct loam_allocator *a, struct item *it);
void alloc_fill_result(const struct item *it, struct loam_alloc_result *res);
/* One VM, one transaction, retried while the index was stale. */
int alloc_place_one(struct loam_allocator *a, struct loam_db *db,
		    const struct loam_alloc_request *req, struct loam_alloc_result *res,
		    loam_err *err);

/* ---- commit.c: the SQL of placing ---- */

/* Reads the VMs of items[0..n) (req set) with one query; a VM that is
 * missing or has an unknown arch gets its error in errs[i]. */
int alloc_load_wants(struct loam_db *db, struct item *items, size_t n, loam_err *errs,
		     loam_err *err);
/* The result of a VM that already has a host. */
int alloc_existing_result(struct loam_db *db, const char *vm_id, struct loam_alloc_result *res,
			  loam_err *err);
/* Commits the items that have a host (it->h) in one write transaction and
 * sets each one's outcome; then drops their reservations (alloc_finish). */
int alloc_commit(struct loam_allocator *a, struct loam_db *db, struct item *items, size_t n,
		 loam_err *err);
/* Gives counters back to a host in the open transaction; *after gets what
 * that left (after->generation stays 0 when the host is gone). */
int alloc_give_back(struct loam_db *db, const char *host_id, const struct counters *give,
		    struct committed *after, loam_err *err);

/* ---- alloc.c ---- */

/* Runs fn in a write transaction, one at a time per allocator. */
int alloc_write_tx(struct loam_allocator *a, struct loam_db *db, loam_db_tx_fn fn, void *ctx,
		   loam_err *err);

#endif
