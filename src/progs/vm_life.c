/*
 * The vm prog's labels of a VM that has booted: "wait" (running: signals
 * and a checkup every few seconds), "stop" and "reboot", the parked
 * "stopped" and "failed" (idle until start or destroy), and "destroy",
 * which every label reaches through the before hook.
 */
#include <string.h>

#include "alloc/alloc.h"
#include "lib/cleanup.h"
#include "lib/fault.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "progs/vm_prog.h"

#define CHECKUP_MS  5000
#define IDLE_NAP_MS 60000

static const char *const running_signals[] = {LOAM_SIGNAL_STOP, LOAM_SIGNAL_REBOOT, NULL};

/* What the checkup found wrong with a running VM, or NULL. Its storage
 * daemon's supervisor restarts the daemon by itself; the VM fails when the
 * supervisor gave up or is gone. */
static char *checkup_problem(const struct loam_vm_status *st)
{
	if (!st->running)
		return vm_reason_with_tail("the VMM died", st);
	if (st->storage_failed)
		return xasprintf("%s", st->storage_failed);
	if (st->has_storage && !st->storage_supervised)
		return xasprintf("the storage daemon's supervisor is gone (restart the VM)");
	return NULL;
}

/* Running: a checkup every few seconds; a VMM or storage daemon that died
 * for good fails the VM. An unreachable host is the heartbeat's business,
 * not a VM failure. */
int vm_label_wait(struct loam_strand_ctx *ctx, struct loam_outcome *out, loam_err *err)
{
	const char *sig = vm_take_any(ctx, running_signals);
	loam_strand_take_signal(ctx, LOAM_SIGNAL_START); /* running already */
	if (sig) {
		*out = loam_hop(strcmp(sig, LOAM_SIGNAL_STOP) == 0 ? VM_STOP : VM_REBOOT);
		return 0;
	}
	int64_t due = json_integer_value(json_object_get(ctx->frame, VM_FRAME_CHECKUP_AT));
	int64_t now = loam_db_now_ms();
	if (due > now) {
		*out = loam_nap((int)(due - now));
		return 0;
	}
	struct loam_vm *v = vm_of(ctx);
	cleanup_err loam_err check = NULL;
	cleanup_vm_agent struct vm_agent a = {0};
	cleanup_vm_status struct loam_vm_status st = {0};
	if (vm_agent_open(ctx, v->host_id, &a, &check) == 0 &&
	    loam_agent_vm_wait_ready(&a.agent, ctx->id, 0, &st, &check) == 0) {
		cleanup_free char *reason = checkup_problem(&st);
		/* A guest whose disk is gone for good does not keep its VMM. */
		cleanup_err loam_err stop = NULL;
		if (reason && st.running && vm_stop_vmm(ctx, &stop) < 0)
			log_warn("vm %s: stop after a storage failure: %s", v->name,
				 loam_err_msg(stop));
		if (reason)
			return vm_fail(ctx, reason, VM_RUN, out, err);
	}
	if (check)
		log_warn("vm %s: checkup failed: %s", v->name, loam_err_msg(check));
	*out = loam_nap(CHECKUP_MS);
	return 0;
}

int vm_stop_vmm(struct loam_strand_ctx *ctx, loam_err *err)
{
	struct loam_vm *v = vm_of(ctx);
	if (!v->host_id)
		return 0;
	cleanup_vm_agent struct vm_agent a = {0};
	/* timeout 0: the guest init has no ACPI power button; QMP quit is clean */
	if (vm_agent_open(ctx, v->host_id, &a, err) < 0 ||
	    loam_agent_vm_stop(&a.agent, ctx->id, 0, NULL, err) < 0)
		return -1;
	return 0;
}

int vm_label_stop(struct loam_strand_ctx *ctx, struct loam_outcome *out, loam_err *err)
{
	if (vm_stop_vmm(ctx, err) < 0 || vm_set_state(ctx, LOAM_VM_STOPPED, NULL, err) < 0)
		return -1;
	json_object_set_new(ctx->frame, VM_FRAME_RESUME, json_string(VM_RUN));
	*out = loam_hop(VM_STOPPED);
	return 0;
}

int vm_label_reboot(struct loam_strand_ctx *ctx, struct loam_outcome *out, loam_err *err)
{
	if (vm_stop_vmm(ctx, err) < 0 || vm_set_state(ctx, LOAM_VM_REBOOTING, NULL, err) < 0)
		return -1;
	*out = loam_hop(VM_RUN);
	return 0;
}

/* stopped and failed: idle until start or destroy; other signals are
 * dropped. A start resumes at start when the VM was never placed, else at
 * prep: prep is idempotent, and it is where the versions `loam vm upgrade`
 * recorded become the VM's pins, so they take effect at every start. */
int vm_label_parked(struct loam_strand_ctx *ctx, struct loam_outcome *out, loam_err *err)
{
	loam_strand_take_signal(ctx, LOAM_SIGNAL_STOP);
	loam_strand_take_signal(ctx, LOAM_SIGNAL_REBOOT);
	if (!loam_strand_take_signal(ctx, LOAM_SIGNAL_START)) {
		*out = loam_nap(IDLE_NAP_MS);
		return 0;
	}
	const char *resume = json_string_value(json_object_get(ctx->frame, VM_FRAME_RESUME)) ?: "";
	/* literals: the outcome keeps the label pointer past the frame */
	const char *label = strcmp(resume, VM_START) == 0 ? VM_START : VM_PREP;
	if (vm_set_state(ctx, LOAM_VM_STARTING, NULL, err) < 0)
		return -1;
	*out = loam_hop(label);
	return 0;
}

/* Purges on the host first (while the row still names it), then releases
 * the counters (a no-op once done), then deletes the rows. */
int vm_label_destroy(struct loam_strand_ctx *ctx, struct loam_outcome *out, loam_err *err)
{
	struct loam_vm *v = vm_of(ctx);
	if (v && vm_set_state(ctx, LOAM_VM_DESTROYING, NULL, err) < 0)
		return -1;
	if (v && v->host_id) {
		if (vm_purge_on_host(ctx, v, err) < 0)
			return loam_err_wrap(err, "destroy VM %s", v->name);
		loam_fault_point("vm-destroy-purged");
		struct loamd_app *app = vm_app(ctx);
		if (!app || !app->alloc)
			return loam_fail(err, LOAM_E_UNAVAILABLE, "no allocator in this process");
		if (loam_alloc_release(app->alloc, ctx->db, ctx->id, err) < 0)
			return -1;
	}
	if (v && loam_vm_delete(ctx->db, ctx->id, err) < 0)
		return -1;
	if (v && !v->host_id)
		vm_wake_queue_head(ctx, v); /* it may have been the head of its queue */
	log_info("vm %s destroyed", ctx->id);
	*out = loam_pop(json_pack("{s:s}", "state", "destroyed"));
	return 0;
}
