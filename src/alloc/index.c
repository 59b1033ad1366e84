/*
 * The allocator's index: every known host, an id → host map, and the
 * buckets. A host is in the bucket of (location, own arch) and in one
 * bucket per arch it is opted in to emulate; each bucket stays sorted by
 * the placement order, so a placement walks it from the front, and a host
 * whose key changed is moved to its new place (O(distance)) instead of
 * sorting again. Callers hold the allocator's mutex.
 *
 * In every order, the hosts of the bucket's own arch come before the ones
 * that would emulate it: a VM runs emulated only when no native host can
 * take it, however loaded the native hosts are.
 *
 * Order (LEAST_LOADED): ascending core load used/allocatable (compared
 * exactly by cross-multiplication), then more free memory (hugepages or
 * plain, as the host gives it) first, then host name, which is unique, so
 * the choice is deterministic. BASELINE_ORDER: integer total_mem_gib /
 * total_cores ascending, then used_cores ascending, then id — the seed's
 * ORDER BY with id added as the tie-break (baseline.c uses the same).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc/internal.h"
#include "arch/arch.h"
#include "lib/xalloc.h"

int alloc_arch_index(const char *name)
{
	for (int i = 0; i < MAX_ARCHES && loam_arches[i]; i++)
		if (strcmp(loam_arches[i]->name, name) == 0)
			return i;
	return -1;
}

/* ---------- order ---------- */

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

/* <0 when x goes before y in bucket b. */
static int cmp(const struct loam_allocator *a, const struct bucket *b, const struct ahost *x,
	       const struct ahost *y)
{
	bool xn = x->arch == b->arch, yn = y->arch == b->arch;
	if (xn != yn)
		return xn ? -1 : 1;
	return a->order == LOAM_ALLOC_BASELINE_ORDER ? cmp_baseline(x, y) : cmp_least_loaded(x, y);
}

struct sort_ctx {
	const struct loam_allocator *a;
	const struct bucket *b;
};

static int qsort_cmp(const void *x, const void *y, void *ctx)
{
	const struct sort_ctx *c = ctx;
	return cmp(c->a, c->b, *(struct ahost *const *)x, *(struct ahost *const *)y);
}

/* ---------- the id map: open addressing, at most half full ---------- */

static size_t id_hash(const char *id)
{
	uint64_t h = 1469598103934665603ull;
	for (; *id; id++)
		h = (h ^ (unsigned char)*id) * 1099511628211ull;
	return (size_t)h;
}

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
	a->map = xcalloc(a->map_cap, sizeof(*a->map));
	for (size_t i = 0; i < a->nhosts; i++)
		map_insert(a, a->hosts[i]);
}

struct ahost *alloc_host_by_id(struct loam_allocator *a, const char *id)
{
	if (!a->map_cap)
		return NULL;
	for (size_t i = id_hash(id) & (a->map_cap - 1); a->map[i]; i = (i + 1) & (a->map_cap - 1))
		if (strcmp(a->map[i]->id, id) == 0)
			return a->map[i];
	return NULL;
}

struct ahost *alloc_host_add(struct loam_allocator *a, const char *id)
{
	if (a->nhosts == a->cap) {
		a->cap = a->cap ? a->cap * 2 : 64;
		a->hosts = xrealloc(a->hosts, a->cap * sizeof(*a->hosts));
	}
	struct ahost *h = xcalloc(1, sizeof(*h));
	snprintf(h->id, sizeof(h->id), "%s", id);
	a->hosts[a->nhosts++] = h;
	if (2 * a->nhosts > a->map_cap)
		map_grow(a);
	else
		map_insert(a, h);
	return h;
}

void alloc_store_committed(struct ahost *h, const struct committed *c)
{
	if (c->generation <= h->generation)
		return;
	h->used = c->used;
	h->avail_storage = c->avail_storage;
	h->generation = c->generation;
}

/* ---------- buckets ---------- */

struct bucket *alloc_bucket_find(struct loam_allocator *a, const char *location, int arch,
				 bool create)
{
	for (size_t i = 0; i < a->nbuckets; i++)
		if (a->buckets[i].arch == arch && strcmp(a->buckets[i].location, location) == 0)
			return &a->buckets[i];
	if (!create)
		return NULL;
	a->buckets = xrealloc(a->buckets, (a->nbuckets + 1) * sizeof(*a->buckets));
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
		b->v = xrealloc(b->v, b->cap * sizeof(*b->v));
	}
	b->v[b->n++] = h;
}

void alloc_sort_buckets(struct loam_allocator *a)
{
	for (size_t i = 0; i < a->nbuckets; i++) {
		struct sort_ctx c = {a, &a->buckets[i]};
		qsort_r(a->buckets[i].v, a->buckets[i].n, sizeof(struct ahost *), qsort_cmp, &c);
	}
}

/* The first position in [lo, hi) whose host sorts after h; with
 * after_equal, also after the hosts that sort equal to h. */
static size_t first_after(const struct loam_allocator *a, const struct bucket *b, size_t lo,
			  size_t hi, const struct ahost *h, bool after_equal)
{
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = cmp(a, b, b->v[mid], h);
		if (c < 0 || (after_equal && c == 0))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
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
	if (i + 1 < b->n && cmp(a, b, b->v[i + 1], h) < 0) {
		size_t to = first_after(a, b, i + 1, b->n, h, false) - 1;
		memmove(&b->v[i], &b->v[i + 1], (to - i) * sizeof(*b->v));
		b->v[to] = h;
	} else if (i > 0 && cmp(a, b, b->v[i - 1], h) > 0) {
		size_t to = first_after(a, b, 0, i, h, true);
		memmove(&b->v[to + 1], &b->v[to], (i - to) * sizeof(*b->v));
		b->v[to] = h;
	}
}

static bool serves(const struct ahost *h, int arch)
{
	return arch == h->arch || (h->emulate & (1u << arch));
}

void alloc_reposition(struct loam_allocator *a, struct ahost *h)
{
	for (int arch = 0; arch < MAX_ARCHES && loam_arches[arch]; arch++) {
		if (!serves(h, arch))
			continue;
		struct bucket *b = alloc_bucket_find(a, h->location, arch, false);
		if (b)
			bucket_reposition(a, b, h);
	}
}

static void free_buckets(struct loam_allocator *a)
{
	for (size_t i = 0; i < a->nbuckets; i++)
		free(a->buckets[i].v);
	free(a->buckets);
	a->buckets = NULL;
	a->nbuckets = 0;
}

void alloc_rebuild_buckets(struct loam_allocator *a)
{
	free_buckets(a);
	for (size_t i = 0; i < a->nhosts; i++) {
		struct ahost *h = a->hosts[i];
		if (!h->live)
			continue;
		for (int arch = 0; arch < MAX_ARCHES && loam_arches[arch]; arch++)
			if (serves(h, arch))
				bucket_push(alloc_bucket_find(a, h->location, arch, true), h);
	}
	alloc_sort_buckets(a);
}

void alloc_index_free(struct loam_allocator *a)
{
	for (size_t i = 0; i < a->nhosts; i++)
		free(a->hosts[i]);
	free_buckets(a);
	free(a->map);
	free(a->hosts);
}
