/*
 * The vm prog's "start" label: placement with the process's allocator,
 * first come first served per (location, arch). Only the oldest unplaced
 * VM of a queue (its head) asks the allocator, every QUEUE_NAP_MS while
 * nothing fits. The VMs behind it wait without writing: they record their
 * reason once (it names the VM ahead only when that VM is of the same
 * project: a queue mixes projects) and nap for long; whatever moves the
 * queue wakes the new head at once (the head placed, parked by a stop, or
 * destroyed). The head places the VMs behind it too, in order, until one
 * does not fit, and wakes them: a queue of VMs created together is placed
 * in a few transactions instead of one label run, with its lease and its
 * nap, per VM.
 */
#include <string.h>

#include "alloc/alloc.h"
#include "lib/cleanup.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "progs/vm_prog.h"

#define QUEUE_NAP_MS 2000
/* A VM behind the head is woken when the queue moves; this nap is only the
 * backstop for a wake lost to a crash. */
#define BEHIND_NAP_MS (10 * 60 * 1000)
/* How many VMs of its queue the head places in one run. */
#define PLACE_BATCH 32

static void wake(struct loam_strand_ctx *ctx, const char *id, const char *name)
{
	cleanup_err loam_err err = NULL;
	if (loam_strand_wake(ctx->db, id, &err) < 0)
		log_warn("vm %s waits for its nap: %s", name, loam_err_msg(err));
}

void vm_wake_queue_head(struct loam_strand_ctx *ctx, const struct loam_vm *v)
{
	struct loam_vm_queued *q = NULL;
	size_t n = 0;
	cleanup_err loam_err err = NULL;
	if (loam_vm_queue(ctx->db, v->location, v->arch, 1, &q, &n, &err) < 0)
		log_warn("vm %s: the queue waits for its nap: %s", v->name, loam_err_msg(err));
	if (n && strcmp(q[0].id, ctx->id) != 0)
		wake(ctx, q[0].id, q[0].name);
	loam_vm_queue_free(q, n);
}

/* Waits with reason, written only when it is news (state or text), so a
 * queue that does not move writes nothing but the naps. */
static int wait_in_queue(struct loam_strand_ctx *ctx, const char *reason, int nap_ms,
			 struct loam_outcome *out, loam_err *err)
{
	const struct loam_vm *v = vm_of(ctx);
	bool news =
	    v->state != LOAM_VM_WAITING || !v->state_reason || strcmp(v->state_reason, reason) != 0;
	if (news && loam_vm_set_waiting(ctx->db, ctx->id, reason, err) < 0)
		return -1;
	*out = loam_nap(nap_ms);
	return 0;
}

/* Places the queued VMs behind the head, in order, until one does not fit
 * (it is the new head: woken, it learns why itself). Returns whether all
 * were placed (then the head past them is still to be woken). */
static bool place_behind(struct loam_strand_ctx *ctx, struct loam_allocator *alloc,
			 const struct loam_vm_queued *q, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct loam_alloc_request req = {.vm_id = q[i].id};
		struct loam_alloc_result res;
		cleanup_err loam_err err = NULL;
		int rc = loam_alloc_place(alloc, ctx->db, &req, &res, &err);
		if (rc == 0)
			log_info("vm %s (%s) placed on %s", q[i].name, q[i].id, res.host_name);
		wake(ctx, q[i].id, q[i].name);
		if (rc < 0)
			return false;
	}
	return true;
}

static int place(struct loam_strand_ctx *ctx, const struct loam_vm *v,
		 const struct loam_vm_queued *q, size_t n, struct loam_outcome *out, loam_err *err)
{
	struct loamd_app *app = vm_app(ctx);
	if (!app || !app->alloc)
		return loam_fail(err, LOAM_E_UNAVAILABLE, "no allocator in this process");
	struct loam_alloc_request req = {.vm_id = ctx->id};
	struct loam_alloc_result res;
	if (loam_alloc_place(app->alloc, ctx->db, &req, &res, err) == 0) {
		log_info("vm %s (%s) placed on %s", v->name, ctx->id, res.host_name);
		if (place_behind(ctx, app->alloc, q, n))
			vm_wake_queue_head(ctx, v); /* past the batch */
		*out = loam_hop(VM_PREP);
		return 0;
	}
	if (loam_err_kind_of(*err) != LOAM_E_NOCAPACITY)
		return -1;
	cleanup_free char *reason = xasprintf("waiting for capacity: %s", loam_err_msg(*err));
	loam_err_free(err);
	return wait_in_queue(ctx, reason, QUEUE_NAP_MS, out, err);
}

/* Names the VM ahead only when it is of the same project. */
static char *behind_reason(const struct loam_vm *v, const struct loam_vm_queued *head)
{
	if (v->project_id && strcmp(head->project_id, v->project_id) == 0)
		return xasprintf("waiting in the %s/%s queue behind VM %s", v->location, v->arch,
				 head->name);
	return xasprintf("waiting in the %s/%s queue behind a VM of another project", v->location,
			 v->arch);
}

int vm_label_start(struct loam_strand_ctx *ctx, struct loam_outcome *out, loam_err *err)
{
	struct loam_vm *v = vm_of(ctx);
	if (v->host_id) { /* placed already (by the queue's head, or a re-run) */
		*out = loam_hop(VM_PREP);
		return 0;
	}
	struct loam_vm_queued *q = NULL;
	size_t n = 0;
	if (loam_vm_queue(ctx->db, v->location, v->arch, PLACE_BATCH, &q, &n, err) < 0)
		return -1;
	int rc;
	if (n == 0 || strcmp(q[0].id, ctx->id) == 0) {
		rc = place(ctx, v, n ? q + 1 : q, n ? n - 1 : 0, out, err);
	} else {
		cleanup_free char *reason = behind_reason(v, &q[0]);
		rc = wait_in_queue(ctx, reason, BEHIND_NAP_MS, out, err);
	}
	loam_vm_queue_free(q, n);
	return rc;
}
