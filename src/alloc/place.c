/*
 * Placement: the filters, the choice, the explain text when nothing fits,
 * and one VM's placement with its retries.
 *
 * Filters, in order (also the explain text's order): arch (own or
 * emulated), location, forced/excluded hosts, allocation_state=accepting,
 * accel≠none, cores, memory, storage, ipv4 pool, boot image (the artifacts
 * hook).
 *   cores:   a VM takes ceil(vcpus / threads_per_core) host cores; a host
 *            has floor(total_cores × cpu_overcommit) allocatable cores.
 *   memory:  hosts with 1 GiB hugepages (total_hugepages_1g > 0) give guest
 *            memory from them (used_hugepages_1g + mem ≤ total); others
 *            from plain memory (used_memory_gib + mem ≤ total_mem_gib).
 *            used_memory_gib counts every VM's memory on the host,
 *            used_hugepages_1g only that of hugepage-backed VMs.
 *   storage: available_storage_gib ≥ the VM's storage_gib; placing takes
 *            it, releasing gives it back.
 *   ipv4 pool: a free address in the host's pool (ipv4_used < ipv4_total,
 *            db/net.h); placing takes one, releasing gives it back.
 * The choice is the first host of the VM's (location, arch) bucket, which
 * is kept in placement order (index.c), that passes them all.
 */
#include <stdio.h>
#include <string.h>

#include "alloc/internal.h"
#include "arch/arch.h"
#include "lib/cleanup.h"

#define STALE_RETRIES 64

static bool in_list(const char *const *list, const char *name)
{
	for (; list && *list; list++)
		if (strcmp(*list, name) == 0)
			return true;
	return false;
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

enum filter {
	F_ARCH,
	F_LOCATION,
	F_HOSTS,
	F_STATE,
	F_ACCEL,
	F_CORES,
	F_MEMORY,
	F_STORAGE,
	F_IPV4,
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
	if (free_addrs(h) < 1)
		return F_IPV4;
	if (w->has_image && !image_ok(a, h, w))
		return F_IMAGE;
	return F_COUNT;
}

static struct ahost *choose(struct loam_allocator *a, const struct want *w,
			    const struct loam_alloc_request *req)
{
	struct bucket *b = alloc_bucket_find(a, w->location, w->arch, false);
	for (size_t i = 0; b && i < b->n; i++)
		if (first_failed(a, b->v[i], w, req) == F_COUNT)
			return b->v[i];
	return NULL;
}

/* Each filter's label in the explain text; cores is a range when the
 * hosts' threads per core differ. */
static void filter_labels(const struct loam_allocator *a, const struct want *w,
			  const struct loam_alloc_request *req, int64_t cmin, int64_t cmax,
			  char labels[F_COUNT][96])
{
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
	snprintf(labels[F_IPV4], 96, "ipv4 pool");
	if (a->image_arch_present)
		snprintf(labels[F_IMAGE], 96, "image=%s/%s installed", w->boot_image,
			 loam_arches[w->arch]->name);
	else
		snprintf(labels[F_IMAGE], 96, "image=%s", w->boot_image);
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
	filter_labels(a, w, req, cmin, cmax, labels);
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

bool alloc_pick(struct loam_allocator *a, struct item *it, loam_err *err)
{
	pthread_mutex_lock(&a->mu);
	struct ahost *h = choose(a, &it->w, it->req);
	if (!h) {
		explain(a, &it->w, it->req, err);
		pthread_mutex_unlock(&a->mu);
		it->h = NULL;
		return false;
	}
	it->hugepages = uses_hugepages(h);
	it->take = (struct counters){.cores = cores_needed(h, it->w.vcpus),
				     .mem = it->w.mem,
				     .huge = it->hugepages ? it->w.mem : 0,
				     .storage = it->w.storage,
				     .addrs = 1};
	it->h = h;
	add_counters(&h->pending, &it->take, 1);
	alloc_reposition(a, h);
	pthread_mutex_unlock(&a->mu);
	return true;
}

void alloc_finish(struct loam_allocator *a, struct item *it)
{
	pthread_mutex_lock(&a->mu);
	add_counters(&it->h->pending, &it->take, -1);
	if (it->committed)
		alloc_store_committed(it->h, &it->after);
	alloc_reposition(a, it->h);
	pthread_mutex_unlock(&a->mu);
}

void alloc_fill_result(const struct item *it, struct loam_alloc_result *res)
{
	snprintf(res->host_id, sizeof(res->host_id), "%s", it->h->id);
	snprintf(res->host_name, sizeof(res->host_name), "%s", it->h->name);
	res->cores = (unsigned)it->take.cores;
	res->hugepages = it->hugepages;
}

/*
 * No host fits: the index may miss capacity that another process added or
 * freed without telling us, so look again, at most once per call and once
 * per RELOAD_EVERY_MS, so that a full fleet does not turn every request
 * into a scan. True when it reloaded (*err cleared).
 */
static bool reload_after_miss(struct loam_allocator *a, struct loam_db *db, const struct want *w,
			      bool *reloaded, loam_err *err)
{
	if (*reloaded || !alloc_reload_due(a))
		return false;
	loam_err_free(err);
	*reloaded = true;
	return alloc_reload(a, db, w->location, err) == 0;
}

int alloc_place_one(struct loam_allocator *a, struct loam_db *db,
		    const struct loam_alloc_request *req, struct loam_alloc_result *res,
		    loam_err *err)
{
	struct item it = {.req = req};
	loam_err vm_err = NULL;
	if (alloc_apply_dirty(a, db, err) < 0 || alloc_load_wants(db, &it, 1, &vm_err, err) < 0)
		return -1;
	if (vm_err) {
		loam_err_free(err);
		*err = vm_err;
		return -1;
	}
	if (it.placed_on[0])
		return alloc_existing_result(db, req->vm_id, res, err);
	bool reloaded = false;
	for (int attempt = 0; attempt < STALE_RETRIES; attempt++) {
		if (!alloc_pick(a, &it, err)) {
			if (!reload_after_miss(a, db, &it.w, &reloaded, err))
				return -1;
			continue;
		}
		cleanup_err loam_err txerr = NULL;
		if (alloc_commit(a, db, &it, 1, &txerr) < 0) {
			loam_err_free(err);
			*err = loam_steal(&txerr);
			return loam_err_wrap(err, "place VM %s", req->vm_id);
		}
		if (it.outcome == PLACED) {
			alloc_fill_result(&it, res);
			return 0;
		}
		if (it.outcome == ALREADY)
			return alloc_existing_result(db, req->vm_id, res, err);
		if (alloc_refresh_host(a, db, it.h->id, false, err) < 0)
			return -1;
	}
	return loam_fail(err, LOAM_E_UNAVAILABLE,
			 "place VM %s: hosts kept changing under the allocator; retry", req->vm_id);
}
