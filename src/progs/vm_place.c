/*
 * The vm prog's "start" label: placement with the process's allocator,
 * first come first served per (location, arch). Only the oldest unplaced
 * VM of a queue asks the allocator; the others nap with a reason that
 * names the VM ahead of them. A placed VM wakes the next one, so a queue
 * of VMs created together moves at the allocator's pace, not the nap's.
 */
#include <string.h>

#include "alloc/alloc.h"
#include "lib/cleanup.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "progs/vm_prog.h"

#define QUEUE_NAP_MS 2000

void vm_wake_queue_head(struct loam_strand_ctx *ctx, const struct loam_vm *v)
{
	cleanup_free char *head_id = NULL, *head_name = NULL;
	cleanup_err loam_err err = NULL;
	if (loam_vm_queue_head(ctx->db, v->location, v->arch, &head_id, &head_name, &err) < 0 ||
	    (head_id && strcmp(head_id, ctx->id) != 0 &&
	     loam_strand_wake(ctx->db, head_id, &err) < 0))
		log_warn("vm %s: the queue waits for its nap: %s", v->name, loam_err_msg(err));
}

static int wait_in_queue(struct loam_strand_ctx *ctx, const char *reason, struct loam_outcome *out,
			 loam_err *err)
{
	if (loam_vm_set_waiting(ctx->db, ctx->id, reason, err) < 0)
		return -1;
	*out = loam_nap(QUEUE_NAP_MS);
	return 0;
}

static int place(struct loam_strand_ctx *ctx, const struct loam_vm *v, struct loam_outcome *out,
		 loam_err *err)
{
	struct loamd_app *app = vm_app(ctx);
	if (!app || !app->alloc)
		return loam_fail(err, LOAM_E_UNAVAILABLE, "no allocator in this process");
	struct loam_alloc_request req = {.vm_id = ctx->id};
	struct loam_alloc_result res;
	if (loam_alloc_place(app->alloc, ctx->db, &req, &res, err) == 0) {
		log_info("vm %s (%s) placed on %s", v->name, ctx->id, res.host_name);
		vm_wake_queue_head(ctx, v);
		*out = loam_hop(VM_PREP);
		return 0;
	}
	if (loam_err_kind_of(*err) != LOAM_E_NOCAPACITY)
		return -1;
	cleanup_free char *reason = xasprintf("waiting for capacity: %s", loam_err_msg(*err));
	loam_err_free(err);
	return wait_in_queue(ctx, reason, out, err);
}

int vm_label_start(struct loam_strand_ctx *ctx, struct loam_outcome *out, loam_err *err)
{
	struct loam_vm *v = vm_of(ctx);
	if (v->host_id) { /* placed already (a re-run after a crash) */
		*out = loam_hop(VM_PREP);
		return 0;
	}
	cleanup_free char *head_id = NULL, *head_name = NULL;
	if (loam_vm_queue_head(ctx->db, v->location, v->arch, &head_id, &head_name, err) < 0)
		return -1;
	if (!head_id || strcmp(head_id, ctx->id) == 0)
		return place(ctx, v, out, err);
	cleanup_free char *reason =
	    xasprintf("waiting in the %s/%s queue behind VM %s", v->location, v->arch, head_name);
	return wait_in_queue(ctx, reason, out, err);
}
