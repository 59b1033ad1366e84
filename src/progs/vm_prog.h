/*
 * Shared between the files of the "vm" prog (vm.c: the label table, the
 * before hook and what every label uses; vm_place.c: placement and the
 * queue; vm_prepare.c: pins and the vm-prep job; vm_boot.c: start and the
 * readiness wait; vm_life.c: running, stop, reboot, parked, destroy).
 */
#ifndef LOAM_PROGS_VM_PROG_H
#define LOAM_PROGS_VM_PROG_H

#include "db/net.h"
#include "db/vm.h"
#include "engine/engine.h"
#include "progs/hostops.h"
#include "progs/progs.h"
#include "proto/client.h"

/* The labels; docs/vm.md draws how they connect. */
#define VM_START      "start"
#define VM_PREP	      "prep"
#define VM_RUN	      "run"
#define VM_WAIT_READY "wait_ready"
#define VM_WAIT	      "wait"
#define VM_STOP	      "stop"
#define VM_STOPPED    "stopped"
#define VM_REBOOT     "reboot"
#define VM_FAILED     "failed"
#define VM_DESTROY    "destroy"
#define VM_NET	      "net"

/* Frame keys: where a parked VM's start resumes, and when the running
 * VM's first checkup is due. */
#define VM_FRAME_RESUME	    "resume"
#define VM_FRAME_CHECKUP_AT "checkup_at"
#define VM_FRAME_BOOT	    "boot"
/* When a booting guest that has not printed its readiness line fails (ms). */
#define VM_FRAME_BOOT_DEADLINE "boot_deadline"
/* The label the "net" label returns to. */
#define VM_FRAME_NET_RETURN "net_return"

#define VM_PREP_MAX_TRIES 5
/* How long a label waits for an event the host watcher reports (it wakes
 * the strand at once): the fallback when no report comes. */
#define VM_WATCHED_NAP_MS 5000

/* The VM row the before hook loaded; NULL only in destroy, when gone. */
static inline struct loam_vm *vm_of(struct loam_strand_ctx *ctx)
{
	return ctx->subject;
}

int vm_set_state(struct loam_strand_ctx *ctx, enum loam_vm_state state, const char *reason,
		 loam_err *err);
/* 'failed' with the reason; a later start resumes at `resume`. */
int vm_fail(struct loam_strand_ctx *ctx, const char *reason, const char *resume,
	    struct loam_outcome *out, loam_err *err);
/* The first of names raised (and takes it), or NULL. */
const char *vm_take_any(struct loam_strand_ctx *ctx, const char *const *names);

/* The agent on the VM's host for one label. */
struct vm_agent {
	struct loam_host_row row;
	struct loam_host_conn conn;
	struct loam_agent agent;
};
void vm_agent_close(struct vm_agent *a);
#define cleanup_vm_agent __attribute__((cleanup(vm_agent_close)))
/* LOAM_E_CONFLICT when the host has no agent yet. */
int vm_agent_open(struct loam_strand_ctx *ctx, const char *host_id, struct vm_agent *a,
		  loam_err *err);
/* Cancels the VM's prep job and purges it on its host; nothing when the
 * host never got an agent. */
int vm_purge_on_host(struct loam_strand_ctx *ctx, const struct loam_vm *v, loam_err *err);
/* Stops the VM's QEMU on its host (QMP quit); nothing without a host. */
int vm_stop_vmm(struct loam_strand_ctx *ctx, loam_err *err);
/* "what; serial console tail:\n..." (the caller frees). */
char *vm_reason_with_tail(const char *what, const struct loam_vm_status *st);

static inline struct loamd_app *vm_app(struct loam_strand_ctx *ctx)
{
	return ctx->app;
}

int vm_label_start(struct loam_strand_ctx *ctx, struct loam_outcome *out, loam_err *err);
int vm_label_prep(struct loam_strand_ctx *ctx, struct loam_outcome *out, loam_err *err);
int vm_label_run(struct loam_strand_ctx *ctx, struct loam_outcome *out, loam_err *err);
int vm_label_wait_ready(struct loam_strand_ctx *ctx, struct loam_outcome *out, loam_err *err);
int vm_label_wait(struct loam_strand_ctx *ctx, struct loam_outcome *out, loam_err *err);
int vm_label_stop(struct loam_strand_ctx *ctx, struct loam_outcome *out, loam_err *err);
int vm_label_reboot(struct loam_strand_ctx *ctx, struct loam_outcome *out, loam_err *err);
int vm_label_parked(struct loam_strand_ctx *ctx, struct loam_outcome *out, loam_err *err);
int vm_label_destroy(struct loam_strand_ctx *ctx, struct loam_outcome *out, loam_err *err);
int vm_label_net(struct loam_strand_ctx *ctx, struct loam_outcome *out, loam_err *err);

/* ---- the VM's network (vm_net.c) ---- */

struct loam_host;
/* vm-prep's "net", what it points to, and the seed's network-config. */
struct vm_net_build {
	struct loam_vm_net_spec spec;
	struct loam_vm_net addr;
	struct loam_vm_port *ports;
	size_t nports;
	struct loam_vm_net_port *wire;
	char pool[LOAM_CIDR_STRLEN], host_prefix[LOAM_CIDR_STRLEN];
	char *network_config;
};
void vm_net_build_free(struct vm_net_build *b);
#define cleanup_vm_net_build __attribute__((cleanup(vm_net_build_free)))
/* Assigns the VM its addresses on its host (once) and builds the spec. */
int vm_net_build(struct loam_strand_ctx *ctx, const struct loam_vm *v, const struct loam_host *h,
		 struct vm_net_build *b, loam_err *err);
/* False when the host's learned facts say it cannot give a VM its network
 * (emulation_missing names nftables: a userland under qemu-user); its VMs
 * then get no NIC and no addresses. */
bool vm_net_host_can(const struct loam_host *h);
/* The before hook's part: takes the "net" signal; 1 when it hopped to the
 * net label (*out set). */
int vm_net_signal(struct loam_strand_ctx *ctx, struct loam_outcome *out);

/* ---- the NoCloud seed (vm_seed.c) ---- */

struct loam_vm_login;
/* "#cloud-config" + the user-data as JSON (the caller frees). */
char *vm_seed_user_data(const char *hostname, const struct loam_vm_login *l);

/* Wakes the VM now at the head of its (location, arch) queue, so that the
 * queue moves without waiting for its nap. */
void vm_wake_queue_head(struct loam_strand_ctx *ctx, const struct loam_vm *v);

#endif
