/*
 * The "vm" prog: one strand per VM (strand id = VM id) that takes a VM row
 * from a request to a running guest and keeps it there (docs/vm.md):
 *
 *   start (place; FIFO queue per location+arch while nothing fits)
 *     → prep (pins artifacts; vm-prep as a detached job on the host)
 *     → run (vm-start) → wait_ready (LOAM-READY on the serial log)
 *     → wait (periodic checkup; signals stop/start/reboot)
 *   stop → stopped → run;  reboot → run;  failed (until start/destroy)
 *   a stop before the guest boots (queued, prep, run) parks it in stopped,
 *   and a later start resumes at the label it left
 *   destroy (from any label: cancel the prep job, vm-purge, release the
 *   allocation once, delete the rows)
 *   net (a changed firewall or egress, from any label after prep: vm-net,
 *   then back; vm_net.c)
 *
 * This file holds the label table, the before hook every label runs after
 * (it loads the VM row, takes destroy, ends the strand when the row has
 * gone, parks a VM stopped before it booted) and what the labels share.
 * No label holds a worker for longer than one short agent call: waiting
 * on a host is a nap that the host watcher (watch.h) cuts short.
 *
 * Every label is idempotent: the agent verbs are, placement and release
 * work on the VM row, and the DB writes are upserts or guarded updates, so
 * a label re-run after a crash repeats nothing.
 */
#include <stdlib.h>
#include <string.h>

#include "lib/cleanup.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "progs/vm_prog.h"

int vm_set_state(struct loam_strand_ctx *ctx, enum loam_vm_state state, const char *reason,
		 loam_err *err)
{
	return loam_vm_set_state(ctx->db, ctx->id, state, reason, err);
}

int vm_fail(struct loam_strand_ctx *ctx, const char *reason, const char *resume,
	    struct loam_outcome *out, loam_err *err)
{
	log_warn("vm %s failed: %s", ctx->id, reason);
	if (vm_set_state(ctx, LOAM_VM_FAILED, reason, err) < 0)
		return -1;
	json_object_set_new(ctx->frame, VM_FRAME_RESUME, json_string(resume));
	*out = loam_hop(VM_FAILED);
	return 0;
}

const char *vm_take_any(struct loam_strand_ctx *ctx, const char *const *names)
{
	for (; *names; names++)
		if (loam_strand_take_signal(ctx, *names))
			return *names;
	return NULL;
}

char *vm_reason_with_tail(const char *what, const struct loam_vm_status *st)
{
	const char *tail = st->serial_tail;
	return xasprintf("%s; serial console tail:\n%s", what, tail && *tail ? tail : "(empty)");
}

/* ---- the agent on the VM's host ---- */

void vm_agent_close(struct vm_agent *a)
{
	loam_host_disconnect(&a->conn);
	loam_host_row_free(&a->row);
}

static void vm_agent_init(struct loam_strand_ctx *ctx, struct vm_agent *a)
{
	a->agent =
	    (struct loam_agent){.t = a->conn.t,
				.path = a->row.agent_path,
				.state_dir = a->row.state_dir,
				.timeout_ms = vm_app(ctx) ? vm_app(ctx)->agent_timeout_ms : 0};
}

int vm_agent_open(struct loam_strand_ctx *ctx, const char *host_id, struct vm_agent *a,
		  loam_err *err)
{
	if (loam_host_row_load(ctx->db, host_id, &a->row, err) < 0)
		return -1;
	if (!a->row.agent_path)
		return loam_fail(err, LOAM_E_CONFLICT, "host %s has no agent yet", a->row.name);
	if (loam_host_connect(ctx, &a->row, &a->conn, err) < 0)
		return -1;
	vm_agent_init(ctx, a);
	return 0;
}

int vm_purge_on_host(struct loam_strand_ctx *ctx, const struct loam_vm *v, loam_err *err)
{
	cleanup_vm_agent struct vm_agent a = {0};
	if (loam_host_row_load(ctx->db, v->host_id, &a.row, err) < 0)
		return -1;
	if (!a.row.agent_path)
		return 0; /* the host never ran anything of this VM */
	if (loam_host_connect(ctx, &a.row, &a.conn, err) < 0)
		return -1;
	vm_agent_init(ctx, &a);
	char job[64];
	loam_agent_vm_prep_job_name(ctx->id, job);
	/* a prep still running would make again what the purge removes */
	if (loam_agent_job_cancel(&a.agent, job, NULL, err) < 0)
		return -1;
	return loam_agent_vm_purge(&a.agent, ctx->id, NULL, err);
}

/* ---- the before hook ---- */

static bool label_in(const char *label, const char *const *set)
{
	for (; *set; set++)
		if (strcmp(label, *set) == 0)
			return true;
	return false;
}

static const char *const before_boot[] = {VM_START, VM_PREP, VM_RUN, NULL};
static const char *const on_a_host[] = {VM_PREP, VM_RUN, VM_WAIT_READY, VM_WAIT, NULL};

/*
 * Before the guest boots, a stop parks the VM in 'stopped' and remembers
 * where a later start resumes (a VM stopped in the queue leaves it, so it
 * never blocks the VMs behind it); a reboot is dropped, as the guest is
 * about to boot fresh anyway, and so is a start: it is on its way. Returns
 * 1 when it parked the VM.
 */
static int park_early(struct loam_strand_ctx *ctx, struct loam_outcome *out, loam_err *err)
{
	loam_strand_take_signal(ctx, LOAM_SIGNAL_REBOOT);
	loam_strand_take_signal(ctx, LOAM_SIGNAL_START);
	if (!loam_strand_take_signal(ctx, LOAM_SIGNAL_STOP))
		return 0;
	if (vm_set_state(ctx, LOAM_VM_STOPPED, "stopped before it booted", err) < 0)
		return -1;
	json_object_set_new(ctx->frame, VM_FRAME_RESUME, json_string(ctx->label));
	if (strcmp(ctx->label, VM_START) == 0)
		vm_wake_queue_head(ctx, vm_of(ctx));
	*out = loam_hop(VM_STOPPED);
	return 1;
}

static void vm_subject_free(void *subject)
{
	loam_vm_free(subject);
	free(subject);
}

static int vm_before(struct loam_strand_ctx *ctx, struct loam_outcome *out, loam_err *err)
{
	bool destroying = strcmp(ctx->label, VM_DESTROY) == 0;
	if (!destroying && loam_strand_take_signal(ctx, LOAM_SIGNAL_DESTROY)) {
		*out = loam_hop(VM_DESTROY);
		return 1;
	}
	struct loam_vm *v = xcalloc(1, sizeof(*v));
	int found = loam_vm_load(ctx->db, ctx->id, v, err);
	if (found <= 0) {
		free(v);
		if (found < 0 || destroying)
			return found < 0 ? -1 : 0;
		*out = loam_pop(json_pack("{s:s}", "state", "gone"));
		return 1;
	}
	ctx->subject = v;
	if (label_in(ctx->label, before_boot)) {
		int parked = park_early(ctx, out, err);
		if (parked != 0)
			return parked;
	}
	if (label_in(ctx->label, on_a_host) && !v->host_id) {
		*out = loam_hop(VM_START);
		return 1;
	}
	return vm_net_signal(ctx, out);
}

static const struct loam_label vm_labels[] = {
    {VM_START, vm_label_start, 0, LOAM_NEXT(VM_PREP, VM_STOPPED, VM_DESTROY)},
    {VM_PREP, vm_label_prep, 900, LOAM_NEXT(VM_RUN, VM_FAILED, VM_STOPPED, VM_DESTROY, VM_START)},
    {VM_RUN, vm_label_run, 300,
     LOAM_NEXT(VM_WAIT_READY, VM_FAILED, VM_STOPPED, VM_DESTROY, VM_START, VM_NET)},
    {VM_WAIT_READY, vm_label_wait_ready, 600,
     LOAM_NEXT(VM_WAIT, VM_STOP, VM_FAILED, VM_DESTROY, VM_START, VM_NET)},
    {VM_WAIT, vm_label_wait, 0,
     LOAM_NEXT(VM_STOP, VM_REBOOT, VM_FAILED, VM_DESTROY, VM_START, VM_NET)},
    {VM_STOP, vm_label_stop, 300, LOAM_NEXT(VM_STOPPED, VM_DESTROY, VM_NET)},
    {VM_STOPPED, vm_label_parked, 0, LOAM_NEXT(VM_START, VM_PREP, VM_RUN, VM_DESTROY, VM_NET)},
    {VM_REBOOT, vm_label_reboot, 300, LOAM_NEXT(VM_RUN, VM_DESTROY, VM_NET)},
    {VM_FAILED, vm_label_parked, 0, LOAM_NEXT(VM_START, VM_PREP, VM_RUN, VM_DESTROY, VM_NET)},
    {VM_DESTROY, vm_label_destroy, 900, LOAM_NEXT_NONE},
    {VM_NET, vm_label_net, 300,
     LOAM_NEXT(VM_RUN, VM_WAIT_READY, VM_WAIT, VM_STOP, VM_STOPPED, VM_REBOOT, VM_FAILED,
	       VM_DESTROY, VM_START)},
    {0},
};

const struct loam_prog loam_prog_vm = {LOAM_PROG_VM, vm_labels, vm_before, vm_subject_free};
