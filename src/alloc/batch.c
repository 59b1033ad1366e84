/*
 * Many placements in one transaction. loam_alloc_place_batch places a
 * known list of pending VMs (a queue being drained) with one read and one
 * write transaction; concurrent loam_alloc_place calls are combined into
 * such batches by group commit. A VM whose placement raced (its host was
 * stale in the index, or it was placed meanwhile) is placed again one by
 * one, which sorts it out.
 */
#include <string.h>

#include "alloc/internal.h"
#include "lib/cleanup.h"
#include "lib/metrics.h"
#include "lib/xalloc.h"

#define GROUP_MAX 64

/* The result or error of one item once the group has committed (rc). */
static void settle(struct loam_allocator *a, struct loam_db *db, const struct item *it, int rc,
		   const loam_err txerr, struct loam_alloc_result *res, loam_err *e)
{
	if (it->h && rc < 0)
		loam_fail(e, loam_err_kind_of(txerr), "place VM %s: %s", it->req->vm_id,
			  loam_err_msg(txerr));
	else if (it->h && it->outcome == PLACED)
		alloc_fill_result(it, res);
	else if (it->h || ((it->placed_on[0] || it->dup) && !*e))
		/* raced, stale or placed before: the one-by-one path sorts it out */
		alloc_place_one(a, db, it->req, res, e);
	else if (*e && loam_err_kind_of(*e) == LOAM_E_NOCAPACITY && alloc_reload_due(a)) {
		loam_err_free(e);
		alloc_place_one(a, db, it->req, res, e);
	}
}

int loam_alloc_place_batch(struct loam_allocator *a, struct loam_db *db,
			   const struct loam_alloc_request *reqs, size_t n,
			   struct loam_alloc_result *res, loam_err *errs, loam_err *err)
{
	if (n == 1)
		return alloc_place_one(a, db, reqs, res, &errs[0]) < 0 && !errs[0] ? -1 : 0;
	if (n == 0)
		return 0;
	if (alloc_apply_dirty(a, db, err) < 0)
		return -1;
	cleanup_free struct item *items = xcalloc(n, sizeof(*items));
	for (size_t i = 0; i < n; i++)
		items[i].req = &reqs[i];
	if (alloc_load_wants(db, items, n, errs, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		/* A VM asked for twice is placed once; the repeat is resolved
		 * after the commit, as "placed before". */
		for (size_t j = 0; j < i && !items[i].dup; j++)
			items[i].dup = strcmp(reqs[j].vm_id, reqs[i].vm_id) == 0;
		if (items[i].w.arch >= 0 && !items[i].placed_on[0] && !items[i].dup)
			alloc_pick(a, &items[i], &errs[i]);
	}
	cleanup_err loam_err txerr = NULL;
	int rc = alloc_commit(a, db, items, n, &txerr);
	for (size_t i = 0; i < n; i++)
		settle(a, db, &items[i], rc, txerr, &res[i], &errs[i]);
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

/* Leads groups until this caller's own slot is done; gc_mu is held. */
static void gc_lead(struct loam_allocator *a, struct loam_db *db, const struct gc_slot *me)
{
	a->gc_leader = true;
	while (!me->done) {
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

static int place_grouped(struct loam_allocator *a, struct loam_db *db,
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
	if (!me.done)
		gc_lead(a, db, &me);
	pthread_mutex_unlock(&a->gc_mu);
	if (me.err) {
		loam_err_free(err);
		*err = me.err;
		return -1;
	}
	*res = me.out;
	return 0;
}

int loam_alloc_place(struct loam_allocator *a, struct loam_db *db,
		     const struct loam_alloc_request *req, struct loam_alloc_result *res,
		     loam_err *err)
{
	double t0 = loam_metric_clock();
	int rc = place_grouped(a, db, req, res, err);
	const char *result = rc == 0					   ? "placed"
			     : loam_err_kind_of(*err) == LOAM_E_NOCAPACITY ? "no_capacity"
									   : "error";
	LOAM_METRIC_OBSERVE(LOAM_METRIC_PLACEMENT_SECONDS, loam_metric_clock() - t0, result);
	return rc;
}
