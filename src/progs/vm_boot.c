/*
 * The vm prog's "run" and "wait_ready" labels: start the VMM (vm-start is
 * one short call: QEMU daemonizes once set up), then wait for the guest's
 * readiness line without holding a worker. wait_ready asks the agent once
 * (no QMP: a booting guest is left alone), and when the guest is not up
 * yet it tells the host watcher and naps; the watcher long-polls the host
 * and wakes the strand within tens of milliseconds of the line, with the
 * status in hand, so the label needs no second call.
 */
#include <string.h>

#include "artifact/manifest.h"
#include "db/vm.h"
#include "db/vm_guest.h"
#include "lib/cleanup.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/metrics.h"
#include "lib/xalloc.h"
#include "progs/vm_prog.h"
#include "progs/watch.h"

/* Without a watcher, how often a booting guest is asked about. */
#define READY_POLL_MS 500
/* The first checkup of a VM that just came up. */
#define FIRST_CHECKUP_MS 5000

static unsigned image_boot_timeout(const struct loam_artifact_manifest *m,
				   const struct loam_vm_pin *pin)
{
	for (size_t i = 0; i < m->count; i++) {
		const struct loam_artifact_entry *e = &m->entries[i];
		if (e->component == LOAM_ARTIFACT_IMAGE && strcmp(e->name, pin->name) == 0 &&
		    strcmp(e->version, pin->version) == 0 && strcmp(e->arch, pin->arch) == 0)
			return e->boot_timeout_s;
	}
	return 0;
}

static struct loam_watch *watch_of(struct loam_strand_ctx *ctx)
{
	return vm_app(ctx) ? vm_app(ctx)->watch : NULL;
}

/* How long the VM's pinned image may take to boot (its manifest entry's
 * boot_timeout_s: a debian-12 guest under TCG takes minutes). */
static long long boot_timeout_s(struct loam_strand_ctx *ctx)
{
	const struct loam_artifact_manifest *m = vm_app(ctx) ? vm_app(ctx)->manifest : NULL;
	struct loam_vm_pin *pins = NULL;
	size_t n = 0;
	cleanup_err loam_err ignored = NULL;
	unsigned t = 0;
	if (m && loam_vm_pins(ctx->db, ctx->id, &pins, &n, &ignored) == 0)
		for (size_t i = 0; i < n; i++)
			if (strcmp(pins[i].component, "image") == 0)
				t = image_boot_timeout(m, &pins[i]);
	loam_vm_pins_free(pins, n);
	return t ? t : LOAM_ARTIFACT_BOOT_TIMEOUT_DEFAULT;
}

int vm_label_run(struct loam_strand_ctx *ctx, struct loam_outcome *out, loam_err *err)
{
	struct loam_vm *v = vm_of(ctx);
	if (watch_of(ctx)) /* what it saw of an earlier boot is not this one's */
		loam_watch_forget(watch_of(ctx), ctx->id);
	cleanup_vm_agent struct vm_agent a = {0};
	if (vm_agent_open(ctx, v->host_id, &a, err) < 0)
		return -1;
	if (loam_agent_vm_start(&a.agent, ctx->id, NULL, NULL, err) < 0) {
		if (ctx->tries + 1 < VM_PREP_MAX_TRIES)
			return -1;
		cleanup_free char *reason =
		    xasprintf("the VMM did not start: %s", loam_err_msg(*err));
		loam_err_free(err);
		return vm_fail(ctx, reason, VM_RUN, out, err);
	}
	if (vm_set_state(ctx, LOAM_VM_BOOTING, NULL, err) < 0)
		return -1;
	json_object_set_new(ctx->frame, VM_FRAME_BOOT_DEADLINE,
			    json_integer(loam_db_now_ms() + boot_timeout_s(ctx) * 1000LL));
	*out = loam_hop(VM_WAIT_READY);
	return 0;
}

/* The guest's state now: what the watcher saw, or one call to the agent. */
static int boot_status(struct loam_strand_ctx *ctx, const struct loam_vm *v,
		       struct loam_vm_status *st, loam_err *err)
{
	if (watch_of(ctx) && loam_watch_take(watch_of(ctx), ctx->id, st))
		return 0;
	cleanup_vm_agent struct vm_agent a = {0};
	if (vm_agent_open(ctx, v->host_id, &a, err) < 0)
		return -1;
	return loam_agent_vm_wait_ready(&a.agent, ctx->id, 0, st, err);
}

/* The host keys the guest printed this boot (a first boot; a later one
 * prints none and the stored ones stay), so that `loam vm ssh` pins them.
 * The agent passed only lines that parse as keys; should one still not,
 * the VM runs without them rather than not at all. */
static void store_host_keys(struct loam_strand_ctx *ctx, const struct loam_vm *v,
			    const struct loam_vm_status *st)
{
	if (st->nhost_keys == 0)
		return;
	cleanup_err loam_err err = NULL;
	if (loam_vm_host_keys_set(ctx->db, ctx->id, (const char *const *)st->host_keys,
				  st->nhost_keys, &err) < 0)
		log_warn("vm %s: its guest's host keys are not stored: %s", v->name,
			 loam_err_msg(err));
}

static int came_up(struct loam_strand_ctx *ctx, const struct loam_vm *v,
		   const struct loam_vm_status *st, struct loam_outcome *out, loam_err *err)
{
	store_host_keys(ctx, v, st);
	if (loam_vm_set_running(ctx->db, ctx->id, st->guest_machine, err) < 0)
		return -1;
	if (v->provisioned_at < 0) /* the first time: request to running */
		LOAM_METRIC_OBSERVE(LOAM_METRIC_TIME_TO_RUNNING_SECONDS,
				    (double)(loam_db_now_ms() - v->created_at) / 1000.0, v->arch,
				    v->boot_image ? v->boot_image : "");
	log_info("vm %s (%s) running: guest reports %s", v->name, ctx->id, st->guest_machine);
	json_object_set_new(ctx->frame, VM_FRAME_CHECKUP_AT,
			    json_integer(loam_db_now_ms() + FIRST_CHECKUP_MS));
	*out = loam_hop(VM_WAIT);
	return 0;
}

static bool past_deadline(struct loam_strand_ctx *ctx)
{
	json_t *d = json_object_get(ctx->frame, VM_FRAME_BOOT_DEADLINE);
	return json_is_integer(d) && loam_db_now_ms() > json_integer_value(d);
}

/* No readiness line in time: the VMM is stopped (a later start boots
 * afresh) and the reason quotes the console. */
static int boot_timed_out(struct loam_strand_ctx *ctx, const struct loam_vm_status *st,
			  struct loam_outcome *out, loam_err *err)
{
	struct loam_vm *v = vm_of(ctx);
	cleanup_err loam_err stop = NULL;
	if (vm_stop_vmm(ctx, &stop) < 0)
		log_warn("vm %s: stopping the VMM after the boot timeout: %s", v->name,
			 loam_err_msg(stop));
	cleanup_free char *what = xasprintf(
	    "no readiness line from the guest within %lld s of its start", boot_timeout_s(ctx));
	cleanup_free char *reason = vm_reason_with_tail(what, st);
	return vm_fail(ctx, reason, VM_RUN, out, err);
}

/* Booting: a stop stops the VMM; a reboot is dropped (the guest is booting
 * fresh), and so is a start. */
int vm_label_wait_ready(struct loam_strand_ctx *ctx, struct loam_outcome *out, loam_err *err)
{
	loam_strand_take_signal(ctx, LOAM_SIGNAL_REBOOT);
	loam_strand_take_signal(ctx, LOAM_SIGNAL_START);
	if (loam_strand_take_signal(ctx, LOAM_SIGNAL_STOP)) {
		*out = loam_hop(VM_STOP);
		return 0;
	}
	struct loam_vm *v = vm_of(ctx);
	cleanup_vm_status struct loam_vm_status st = {0};
	if (boot_status(ctx, v, &st, err) < 0)
		return -1;
	if (!st.running) {
		cleanup_free char *reason = vm_reason_with_tail("the VMM exited during boot", &st);
		return vm_fail(ctx, reason, VM_RUN, out, err);
	}
	if (st.ready)
		return came_up(ctx, v, &st, out, err);
	if (past_deadline(ctx))
		return boot_timed_out(ctx, &st, out, err);
	if (watch_of(ctx))
		loam_watch_vm(watch_of(ctx), v->host_id, ctx->id, ctx->id);
	*out = loam_nap(watch_of(ctx) ? VM_WATCHED_NAP_MS : READY_POLL_MS);
	return 0;
}
