/*
 * The allocator: places a VM on the least-loaded accepting host that can
 * take it, and updates the host's counters in the same transaction. It
 * works on VM rows, which makes it idempotent: placing a VM that already
 * has a host returns that host, and releasing a VM releases its counters
 * exactly once. The DB is the source of truth; the in-memory index only
 * makes the choice fast and is kept coherent through each host's
 * `generation` (see alloc.c for the protocol and its files).
 */
#ifndef LOAM_ALLOC_H
#define LOAM_ALLOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db/db.h"
#include "lib/err.h"

struct loam_allocator;

struct loam_alloc_request {
	const char *vm_id;		  /* the vm row to place (must exist) */
	const char *force_host;		  /* host name, or NULL */
	const char *const *exclude_hosts; /* NULL-terminated host names, or NULL */
};

struct loam_alloc_result {
	char host_id[27];
	char host_name[64];
	unsigned cores; /* cores taken on that host: ceil(vcpus / threads_per_core) */
	bool hugepages; /* memory taken from 1 GiB hugepages */
};

/*
 * One allocator per process, shared by its threads; each thread passes its
 * own connection. Place and release run their own write transaction, so
 * call them outside any transaction open on that connection.
 */
int loam_alloc_new(struct loam_db *db, struct loam_allocator **out, loam_err *err);
void loam_alloc_free(struct loam_allocator *a);

/*
 * Places the VM. Concurrent calls from several threads are group-committed
 * (one transaction for all of them). When nothing fits the error is
 * LOAM_E_NOCAPACITY and its
 * message explains which filter emptied the candidate set, e.g.
 * "arch=arm64: 12 → location=hel1: 5 → cores≥2: 0".
 */
int loam_alloc_place(struct loam_allocator *a, struct loam_db *db,
		     const struct loam_alloc_request *req, struct loam_alloc_result *res,
		     loam_err *err);
/*
 * Group commit: places n VMs with one read and one write transaction,
 * which is how a queue of pending VMs is drained. res[i] and errs[i] (set
 * to NULL by the caller) receive each VM's result or error, exactly as
 * loam_alloc_place would give them; a VM whose placement raced with
 * another allocator is retried one by one. Returns -1 only when the VMs
 * could not be read.
 */
int loam_alloc_place_batch(struct loam_allocator *a, struct loam_db *db,
			   const struct loam_alloc_request *reqs, size_t n,
			   struct loam_alloc_result *res, loam_err *errs, loam_err *err);
/* Releases the VM's counters on its host and clears its host_id, cores,
 * hugepages and allocated_at in the same transaction (its state is left
 * to the caller); a no-op the second time. */
int loam_alloc_release(struct loam_allocator *a, struct loam_db *db, const char *vm_id,
		       loam_err *err);
/*
 * How candidates are ordered. LEAST_LOADED (the default) is documented in
 * index.c. BASELINE orders exactly as the seed's SQL (baseline.c) does, so
 * the tests can compare the two, choice for choice.
 */
enum loam_alloc_order { LOAM_ALLOC_LEAST_LOADED, LOAM_ALLOC_BASELINE_ORDER };
void loam_alloc_set_order(struct loam_allocator *a, enum loam_alloc_order order);

/*
 * The "boot image present on host" filter, which the artifacts work fills:
 * when set, a VM with a boot_image is only placed on hosts for which
 * present() returns true, and the explain text names it "image=NAME".
 * present() is called with the allocator's lock held: keep it to a lookup.
 * Until it is set, the filter admits every host.
 */
typedef bool (*loam_alloc_image_present_fn)(void *ctx, const char *host_id, const char *image);
void loam_alloc_set_image_check(struct loam_allocator *a, loam_alloc_image_present_fn present,
				void *ctx);

/* The same filter, told the VM's arch too (an image is installed per arch);
 * when set it replaces the arch-less check. */
typedef bool (*loam_alloc_image_arch_present_fn)(void *ctx, const char *host_id, const char *image,
						 const char *arch);
void loam_alloc_set_image_arch_check(struct loam_allocator *a,
				     loam_alloc_image_arch_present_fn present, void *ctx);

/* Re-reads every host from the database (what loam_alloc_new does). */
int loam_alloc_reload(struct loam_allocator *a, struct loam_db *db, loam_err *err);

/*
 * The seed's allocator (baseline.c): one SQL statement picks the host and
 * the counters are updated in the same transaction. For the benchmark and
 * as the tests' oracle only. Same result and errors as loam_alloc_place,
 * but the no-capacity message does not explain.
 */
int loam_alloc_baseline_place(struct loam_db *db, const char *vm_id, struct loam_alloc_result *res,
			      loam_err *err);

/*
 * Counts hosts whose counters break a rule, by SQL independent of the
 * allocator: used beyond allocatable (cores, hugepages or plain memory,
 * storage), or counters that differ from the sums over the VMs placed
 * there. 0 means no over-commit and no drift.
 */
int loam_alloc_count_overcommits(struct loam_db *db, int64_t *count, loam_err *err);

/* Tells the index that a host row changed outside the allocator (state,
 * facts, emulation, location). Cheap; safe to over-call. */
void loam_alloc_host_changed(struct loam_allocator *a, const char *host_id);

#endif
