/*
 * The allocator. The database is the source of truth; the allocator keeps
 * an in-memory index of hosts so that a placement is a lookup plus one
 * short write transaction instead of a scan. Its files, one concern each:
 *   index.c    hosts, the id map and the buckets kept in placement order
 *   hosts.c    the index from the database (start, misses, stale hosts)
 *   place.c    filters, choice, explain text; one VM's placement
 *   commit.c   the SQL of placing: the guarded host update, the VM update
 *   batch.c    many VMs in one transaction; group commit of callers
 *   release.c  giving a VM's counters back
 *   baseline.c the seed's one-statement allocator (benchmark, oracle)
 *   check.c    the independent over-commit check
 *
 * Protocol. Under the allocator's mutex a placement picks a host and adds
 * the VM to the host's `pending` amounts (so concurrent placements in this
 * process see each other). Then one transaction runs a guarded UPDATE of
 * the host that re-checks state and capacity against the row itself and
 * bumps `generation`, and sets the VM's host (commit.c). When the guard
 * matches no row the index was stale (a change by another process): the
 * host is re-read and the choice made again. After commit the counters
 * the UPDATE returned are stored if their generation is newer than the
 * one known. This file holds the allocator's life cycle and the write
 * transactions' turn.
 */
#include <stdlib.h>

#include "alloc/internal.h"
#include "lib/xalloc.h"

int loam_alloc_new(struct loam_db *db, struct loam_allocator **out, loam_err *err)
{
	struct loam_allocator *a = xcalloc(1, sizeof(*a));
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
	alloc_index_free(a);
	for (size_t i = 0; i < a->ndirty; i++)
		free(a->dirty[i]);
	free(a->dirty);
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
	alloc_sort_buckets(a);
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

/*
 * One write transaction at a time per allocator. SQLite has one writer
 * anyway (and its busy handler sleeps), and on PostgreSQL the threads of
 * one process would otherwise pick the same least-loaded hosts at once and
 * fail each other's serializable transactions; concurrency comes from
 * group commit (batch.c) instead. Other processes are handled by the guard
 * and the transaction retry.
 */
int alloc_write_tx(struct loam_allocator *a, struct loam_db *db, loam_db_tx_fn fn, void *ctx,
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
