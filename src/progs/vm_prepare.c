/*
 * The vm prog's "prep" label: KVM or TCG (or a refusal that says which
 * `loam host set` to run), the artifact versions the VM is pinned to, and
 * vm-prep's spec, which runs on the host as a detached job. The label
 * starts the job and naps; the host watcher wakes it when the job has
 * ended, and asking again with the same spec only reads the result, so a
 * prep that takes seconds never holds a worker. Failures are retried by
 * the engine with backoff; the fifth makes the VM failed, and what the
 * tries left on the host is purged. The spec's network (its addresses,
 * assigned on the first prep, the open ports and the host's egress) and
 * the seed's network-config come from vm_net.c, its user-data (the VM's
 * login) from vm_seed.c.
 */
#include <stdlib.h>
#include <string.h>

#include "arch/arch.h"
#include "artifact/vm_pins.h"
#include "db/host.h"
#include "db/vm_guest.h"
#include "lib/cleanup.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "progs/vm_prog.h"
#include "progs/watch.h"
#include "proto/agent.h"

/* Without a watcher, how often a running prep job is asked about. */
#define PREP_POLL_MS 1000

static bool emulates(const struct loam_host *h, const char *arch)
{
	for (size_t i = 0; i < h->emulate.n; i++)
		if (strcmp(h->emulate.v[i], arch) == 0)
			return true;
	return false;
}

/*
 * KVM only where the host learned it usable for its own arch; otherwise
 * TCG, and only where the operator opted the host in. Returns 1 with a
 * reason in *why when the VM cannot run there at all.
 */
static int choose_accel(const struct loam_host *h, const char *vm_arch, bool *kvm, char **why)
{
	bool own = strcmp(h->arch, vm_arch) == 0;
	*kvm = own && h->kvm;
	if (*kvm || (own && h->allow_tcg) || (!own && emulates(h, vm_arch)))
		return 0;
	*why = own ? xasprintf("host %s cannot run %s guests: KVM is not usable there and TCG "
			       "is not allowed; allow it with: loam host set %s --allow-tcg",
			       h->name, vm_arch, h->name)
		   : xasprintf("host %s (%s) does not emulate %s; opt it in with: loam host set "
			       "%s --emulate %s --allow-tcg",
			       h->name, h->arch, vm_arch, h->name, vm_arch);
	return 1;
}

/* The guest's shape, scaled down from the host's learned one; an emulated
 * arch gets no SMT siblings: the host's threads are not its own. */
static int topology(const struct loam_host *h, const char *vm_arch, unsigned vcpus,
		    struct loam_topology *t, loam_err *err)
{
	unsigned tpc = strcmp(h->arch, vm_arch) == 0 && h->threads_per_core > 0
			   ? (unsigned)h->threads_per_core
			   : 1;
	unsigned sockets = h->sockets > 0 ? (unsigned)h->sockets : 1;
	struct loam_host_topology ht;
	return loam_host_topology_from_learned(sockets, h->dies > 0 ? (unsigned)h->dies : sockets,
					       h->total_cores > 0 ? (unsigned)h->total_cores : 1,
					       tpc, &ht, err) < 0
		   ? -1
		   : loam_topology_scale(&ht, vcpus, t, err);
}

/* Pins, once, the exact version of each component the VM starts with; a
 * re-run keeps what was pinned first. What `loam vm upgrade` recorded
 * becomes the pins here, at the VM's start (artifact/vm_pins.h). */
static int pin_artifacts(struct loam_strand_ctx *ctx, const struct loam_vm *v,
			 const struct loam_host *h, loam_err *err)
{
	struct loam_artifact_vm a = {.id = ctx->id,
				     .name = v->name,
				     .host_id = v->host_id,
				     .host_name = h->name,
				     .arch = v->arch,
				     .image = v->boot_image ? v->boot_image : "loam-tiny"};
	if (loam_artifact_pin_vm(ctx->db, &a, err) < 0)
		return loam_err_wrap(err, "pin the artifacts of VM %s", v->name);
	return 0;
}

/* The spec and the strings it points to. */
struct prep {
	struct loam_vm_prep_spec s;
	char *image, *fw_code, *fw_vars, *kernel, *initrd, *meta, *user_data, *vmm_dir,
	    *storage_dir;
	struct vm_net_build net;
};

static void prep_free(struct prep *p)
{
	free(p->image);
	free(p->fw_code);
	free(p->fw_vars);
	free(p->kernel);
	free(p->initrd);
	free(p->meta);
	free(p->user_data);
	vm_net_build_free(&p->net);
	free(p->vmm_dir);
	free(p->storage_dir);
}
#define cleanup_prep __attribute__((cleanup(prep_free)))

/* Why the VM has no installed dir for component: nothing to pin there, or
 * a pinned version the host no longer has. */
static int not_installed(struct loam_strand_ctx *ctx, const struct loam_vm *v,
			 const char *component, loam_err *err)
{
	struct loam_vm_pin *pins = NULL;
	size_t n = 0;
	cleanup_err loam_err ignored = NULL;
	const char *version = NULL;
	if (loam_vm_pins(ctx->db, ctx->id, &pins, &n, &ignored) == 0)
		for (size_t i = 0; i < n && !version; i++)
			version =
			    strcmp(pins[i].component, component) == 0 ? pins[i].version : NULL;
	if (version)
		loam_fail(err, LOAM_E_CONFLICT,
			  "the %s version %s that VM %s is pinned to is not installed on its host; "
			  "see: loam artifact ls%s%s",
			  component, version, v->name,
			  strcmp(component, "image") != 0 ? "; move it with: loam vm upgrade " : "",
			  strcmp(component, "image") != 0 ? v->name : "");
	else
		loam_fail(err, LOAM_E_CONFLICT,
			  "no %s for %s is installed on the VM's host; see: loam host show",
			  component, v->arch);
	loam_vm_pins_free(pins, n);
	return -1;
}

static char *pinned_dir(struct loam_strand_ctx *ctx, const struct loam_vm *v, const char *component,
			bool *is_file, loam_err *err)
{
	char *dir = NULL;
	int found =
	    loam_vm_pinned_path(ctx->db, ctx->id, v->host_id, component, &dir, is_file, err);
	if (found == 0)
		not_installed(ctx, v, component, err);
	return found > 0 ? dir : NULL;
}

/* The boot disk of the pinned image: a "file" image is the disk itself (a
 * .qcow2 one is qcow2: debian-12), a tarball holds <name>.<arch suffix>,
 * raw (loam-tiny's ESP). */
static void image_disk(const struct loam_vm *v, const struct loam_arch *arch, const char *img,
		       bool is_file, struct prep *p)
{
	size_t n = strlen(img);
	bool qcow2 = is_file && n > 6 && strcmp(img + n - 6, ".qcow2") == 0;
	p->image = is_file ? xstrdup(img)
			   : xasprintf("%s/%s.%s", img, v->boot_image ? v->boot_image : "loam-tiny",
				       arch->image_suffix);
	p->s.image_format = qcow2 ? "qcow2" : "raw";
}

/* The pinned image and firmware files and the pinned VMM's and storage
 * daemon's install dirs (the agent runs their binaries from there); with
 * boot=kernel, the image's own kernel and initrd through QEMU's -kernel
 * without UEFI (the agent prepends the arch's console=). */
static int add_files(struct loam_strand_ctx *ctx, const struct loam_vm *v, struct prep *p,
		     loam_err *err)
{
	const struct loam_arch *arch = loam_arch_by_name(v->arch);
	if (!arch)
		return loam_fail(err, LOAM_E_INTERNAL, "VM %s has unknown arch %s", v->name,
				 v->arch);
	bool img_is_file = false;
	cleanup_free char *img = pinned_dir(ctx, v, "image", &img_is_file, err);
	cleanup_free char *fw = img ? pinned_dir(ctx, v, "firmware", NULL, err) : NULL;
	p->vmm_dir = fw ? pinned_dir(ctx, v, "vmm", NULL, err) : NULL;
	p->storage_dir = p->vmm_dir ? pinned_dir(ctx, v, "storage", NULL, err) : NULL;
	if (!p->storage_dir)
		return -1;
	image_disk(v, arch, img, img_is_file, p);
	p->fw_code = xasprintf("%s/%s", fw, arch->firmware_code);
	p->fw_vars = xasprintf("%s/%s", fw, arch->firmware_vars);
	const char *boot = json_string_value(json_object_get(ctx->frame, VM_FRAME_BOOT));
	if (boot && strcmp(boot, "kernel") == 0 && !img_is_file) {
		p->kernel = xasprintf("%s/vmlinuz", img);
		p->initrd = xasprintf("%s/initrd.img", img);
		p->s.cmdline = "panic=-1 quiet";
		p->s.kernel_firmware = false;
	}
	return 0;
}

static int build_spec(struct loam_strand_ctx *ctx, const struct loam_vm *v,
		      const struct loam_host *h, bool kvm, struct prep *p, loam_err *err)
{
	p->s = (struct loam_vm_prep_spec){.id = ctx->id,
					  .name = v->name,
					  .arch = v->arch,
					  .vcpus = (unsigned)v->vcpus,
					  .memory_mib = (unsigned)v->memory_gib * 1024,
					  .disk_gib = (unsigned)v->storage_gib,
					  .hugepages = v->hugepages,
					  .kvm = kvm,
					  .image_format = "raw"};
	cleanup_vm_login struct loam_vm_login login = {0};
	bool net = vm_net_host_can(h);
	if (topology(h, v->arch, (unsigned)v->vcpus, &p->s.topo, err) < 0 ||
	    add_files(ctx, v, p, err) < 0 || (net && vm_net_build(ctx, v, h, &p->net, err) < 0) ||
	    loam_vm_login_load(ctx->db, ctx->id, &login, err) < 0)
		return -1;
	p->user_data = vm_seed_user_data(v->name, &login);
	p->s.user_data = p->user_data;
	p->s.net = net ? &p->net.spec : NULL;
	p->s.network_config = net ? p->net.network_config : NULL;
	p->meta = xasprintf("instance-id: %s\nlocal-hostname: %s\n", ctx->id, v->name);
	p->s.meta_data = p->meta;
	p->s.image = p->image;
	p->s.fw_code = p->fw_code;
	p->s.fw_vars = p->fw_vars;
	p->s.kernel = p->kernel;
	p->s.initrd = p->initrd;
	p->s.vmm_dir = p->vmm_dir;
	p->s.storage_dir = p->storage_dir;
	return 0;
}

/*
 * Prep failed: retried by the engine with backoff, then the VM fails. What
 * the tries left on the host (user, dir, files) is purged then, so a failed
 * VM holds nothing there; a host that cannot be reached keeps it until the
 * VM is started again (prep redoes it) or destroyed (purges it).
 */
static int prep_failed(struct loam_strand_ctx *ctx, const struct loam_vm *v,
		       struct loam_outcome *out, loam_err *err)
{
	if (ctx->tries + 1 < VM_PREP_MAX_TRIES)
		return -1;
	cleanup_err loam_err purge = NULL;
	bool purged = vm_purge_on_host(ctx, v, &purge) == 0;
	if (!purged)
		log_warn("vm %s: the half-done prep stays until destroy: %s", ctx->id,
			 loam_err_msg(purge));
	cleanup_free char *reason =
	    xasprintf("prep failed after %d tries: %s%s", ctx->tries + 1, loam_err_msg(*err),
		      purged ? "" : " (what it made on the host is removed on destroy)");
	loam_err_free(err);
	return vm_fail(ctx, reason, VM_PREP, out, err);
}

/* Starts the job or asks how it does: 1 when it succeeded, 0 when it
 * runs (*out is the nap), -1 with *err when it failed or cannot be asked. */
static int run_prep_job(struct loam_strand_ctx *ctx, const struct loam_vm *v, const struct prep *p,
			struct loam_outcome *out, loam_err *err)
{
	cleanup_vm_agent struct vm_agent a = {0};
	cleanup_job_status struct loam_job_status st = {0};
	if (vm_agent_open(ctx, v->host_id, &a, err) < 0 ||
	    loam_agent_vm_prep_job(&a.agent, &p->s, loam_agent_job_wait_ms(ctx->idle_workers), &st,
				   err) < 0)
		return -1;
	if (st.state == LOAM_JOB_IS_RUNNING) {
		struct loam_watch *w = vm_app(ctx) ? vm_app(ctx)->watch : NULL;
		char job[64];
		loam_agent_vm_prep_job_name(ctx->id, job);
		if (w)
			loam_watch_job(w, v->host_id, job, ctx->id);
		*out = loam_nap(w ? VM_WATCHED_NAP_MS : PREP_POLL_MS);
		return 0;
	}
	return loam_job_succeeded(&st) ? 1 : loam_job_fail(&a.agent, &st, LOAM_VERB_VM_PREP, err);
}

int vm_label_prep(struct loam_strand_ctx *ctx, struct loam_outcome *out, loam_err *err)
{
	struct loam_vm *v = vm_of(ctx);
	cleanup_host struct loam_host h = {0};
	if (loam_host_load(ctx->db, v->host_id, &h, err) < 0)
		return -1;
	if (!h.arch)
		return loam_fail(err, LOAM_E_INTERNAL, "host %s has no arch yet", h.name);
	bool kvm = false;
	cleanup_free char *why = NULL;
	if (choose_accel(&h, v->arch, &kvm, &why))
		return vm_fail(ctx, why, VM_PREP, out, err);
	if ((v->state != LOAM_VM_PREPARING &&
	     vm_set_state(ctx, LOAM_VM_PREPARING, NULL, err) < 0) ||
	    pin_artifacts(ctx, v, &h, err) < 0)
		return prep_failed(ctx, v, out, err);
	cleanup_prep struct prep p = {0};
	if (build_spec(ctx, v, &h, kvm, &p, err) < 0)
		return prep_failed(ctx, v, out, err);
	int done = run_prep_job(ctx, v, &p, out, err);
	if (done < 0)
		return prep_failed(ctx, v, out, err);
	if (done > 0)
		*out = loam_hop(VM_RUN);
	return 0;
}
