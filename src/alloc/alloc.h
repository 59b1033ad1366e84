/*
 * The allocator: places a VM on the least-loaded accepting host that can
 * take it, and updates the host's counters in the same transaction. It
 * works on VM rows, which makes it idempotent: placing a VM that already
 * has a host returns that host, and releasing a VM releases its counters
 * exactly once. The DB is the source of truth; the in-memory index only
 * makes the choice fast and is kept coherent through each host's
 * `generation` (see alloc.c for the score formula and the protocol).
 */
#ifndef LOAM_ALLOC_H
#define LOAM_ALLOC_H

#include <stdbool.h>
#include <stddef.h>

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

/* One allocator per process, shared by its threads. */
int loam_alloc_new(struct loam_db *db, struct loam_allocator **out, loam_err *err);
void loam_alloc_free(struct loam_allocator *a);

/*
 * Places the VM. When nothing fits the error is LOAM_E_NOCAPACITY and its
 * message explains which filter emptied the candidate set, e.g.
 * "arch=arm64: 12 → location=hel1: 5 → cores≥2: 0".
 */
int loam_alloc_place(struct loam_allocator *a, struct loam_db *db,
		     const struct loam_alloc_request *req, struct loam_alloc_result *res,
		     loam_err *err);
/* Releases the VM's counters on its host; a no-op the second time. */
int loam_alloc_release(struct loam_allocator *a, struct loam_db *db, const char *vm_id,
		       loam_err *err);
/* Tells the index that a host row changed outside the allocator (state,
 * facts, emulation, location). Cheap; safe to over-call. */
void loam_alloc_host_changed(struct loam_allocator *a, const char *host_id);

#endif
