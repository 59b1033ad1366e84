/*
 * The "vm" prog: one strand per VM (strand id = VM id) that takes a VM row
 * from a request to a running guest and keeps it there (docs/design.md §3):
 *
 *   start (place; FIFO queue per location+arch while nothing fits)
 *     → prep (agent vm-prep: user, dir, disk, VARS, seed; pins artifacts)
 *     → run (vm-start) → wait_ready (LOAM-READY on the serial log)
 *     → wait (periodic checkup; signals stop/start/reboot/destroy)
 *   stop → stopped → run;  reboot → run;  failed (until start/destroy)
 *   a stop before the guest boots (queued, prep, run) parks it in stopped,
 *   and a later start resumes at the label it left
 *   destroy (vm-purge, release the allocation once, delete the rows)
 *
 * Every label is idempotent: the agent verbs are, placement and release
 * work on the VM row, and the DB writes are upserts or guarded updates, so
 * a label re-run after a crash repeats nothing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc/alloc.h"
#include "arch/arch.h"
#include "lib/cleanup.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/topology.h"
#include "progs/hostops.h"

#define QUEUE_NAP_MS	  2000
#define CHECKUP_MS	  5000
#define IDLE_NAP_MS	  60000
#define AGENT_TIMEOUT_MS  120000
#define STATUS_TIMEOUT_MS 30000
/* One vm-wait-ready call; signals are taken between slices. */
#define READY_SLICE_S  "3"
#define PREP_MAX_TRIES 5

/* The columns of the vm row the labels use. */
struct vm_row {
	char *name, *arch, *location, *boot_image, *host_id, *state;
	int64_t vcpus, memory_gib, storage_gib, hugepages;
};

static void vm_row_free(struct vm_row *v)
{
	free(v->name);
	free(v->arch);
	free(v->location);
	free(v->boot_image);
	free(v->host_id);
	free(v->state);
	*v = (struct vm_row){0};
}
#define cleanup_vm_row __attribute__((cleanup(vm_row_free)))

static char *col_dup(const struct loam_db_rows *r, size_t c)
{
	return loam_db_rows_null(r, 0, c) ? NULL : strdup(loam_db_rows_text(r, 0, c));
}

/* Returns 1 when found, 0 when the row is gone, -1 on error. */
static int vm_load(struct loam_db *db, const char *id, struct vm_row *v, loam_err *err)
{
	cleanup_rows struct loam_db_rows *r = NULL;
	if (loam_db_query(db,
			  "SELECT name, arch, location, boot_image, host_id, state, vcpus, "
			  "memory_gib, storage_gib, hugepages FROM vm WHERE id = ?",
			  DB_ARGS(DB_TEXT(id)), &r, err) < 0)
		return -1;
	if (loam_db_rows_count(r) == 0)
		return 0;
	*v = (struct vm_row){.name = col_dup(r, 0),
			     .arch = col_dup(r, 1),
			     .location = col_dup(r, 2),
			     .boot_image = col_dup(r, 3),
			     .host_id = col_dup(r, 4),
			     .state = col_dup(r, 5),
			     .vcpus = loam_db_rows_int(r, 0, 6),
			     .memory_gib = loam_db_rows_int(r, 0, 7),
			     .storage_gib = loam_db_rows_int(r, 0, 8),
			     .hugepages = loam_db_rows_int(r, 0, 9)};
	return 1;
}

static int set_state(struct loam_strand_ctx *ctx, const char *state, const char *reason,
		     loam_err *err)
{
	return loam_db_exec(
	    ctx->db, "UPDATE vm SET state = ?, state_reason = ? WHERE id = ?",
	    DB_ARGS(DB_TEXT(state), reason ? DB_TEXT(reason) : DB_NULL, DB_TEXT(ctx->id)), NULL,
	    err);
}

/* Ends up in 'failed' with the reason; the strand stays for start/destroy.
 * `resume` is where a later start picks up (prep or run). */
static int fail_vm(struct loam_strand_ctx *ctx, const char *reason, const char *resume,
		   struct loam_outcome *out, loam_err *err)
{
	log_warn("vm %s failed: %s", ctx->id, reason);
	if (set_state(ctx, "failed", reason, err) < 0)
		return -1;
	json_object_set_new(ctx->frame, "resume", json_string(resume));
	*out = loam_hop("failed");
	return 0;
}

/* The signal that leaves the current label, in priority order, or NULL. */
static const char *take_any(struct loam_strand_ctx *ctx, const char *const *names)
{
	for (; *names; names++)
		if (loam_strand_take_signal(ctx, *names))
			return *names;
	return NULL;
}

/*
 * Signals taken before the guest boots. stop parks the VM in 'stopped'
 * and remembers where a later start resumes (a VM stopped in the queue
 * leaves it, so it never blocks the VMs behind it); reboot is dropped, as
 * the guest is about to boot fresh anyway. Returns 1 when it hopped, 0
 * when the label goes on, -1 on error.
 */
static int early_signal(struct loam_strand_ctx *ctx, const char *resume, struct loam_outcome *out,
			loam_err *err)
{
	if (loam_strand_take_signal(ctx, "destroy")) {
		*out = loam_hop("destroy");
		return 1;
	}
	loam_strand_take_signal(ctx, "reboot");
	if (!loam_strand_take_signal(ctx, "stop"))
		return 0;
	if (set_state(ctx, "stopped", "stopped before it booted", err) < 0)
		return -1;
	json_object_set_new(ctx->frame, "resume", json_string(resume));
	*out = loam_hop("stopped");
	return 1;
}

/* ---- the agent on the VM's host ---- */

struct vm_host {
	struct loam_host_row row;
	struct loam_host_conn conn;
};

static void vm_host_close(struct vm_host *h)
{
	loam_host_disconnect(&h->conn);
	loam_host_row_free(&h->row);
}
#define cleanup_vm_host __attribute__((cleanup(vm_host_close)))

static int vm_host_open(struct loam_strand_ctx *ctx, const char *host_id, struct vm_host *h,
			loam_err *err)
{
	if (loam_host_row_load(ctx->db, host_id, &h->row, err) < 0)
		return -1;
	if (!h->row.agent_path)
		return loam_fail(err, LOAM_E_CONFLICT, "host %s has no agent yet", h->row.name);
	return loam_host_connect(ctx, &h->row, &h->conn, err);
}

/* Runs `agent VERB [ID] --state-dir DIR [extra...]`, stdin optional, and
 * parses its one JSON object. */
static json_t *agent_call(struct vm_host *h, const char *verb, const char *id, const char *extra,
			  const char *stdin_data, int timeout_ms, loam_err *err)
{
	const char *argv[8] = {h->row.agent_path, verb};
	size_t n = 2;
	if (id)
		argv[n++] = id;
	argv[n++] = "--state-dir";
	argv[n++] = h->row.state_dir;
	if (extra) {
		argv[n++] = "--timeout";
		argv[n++] = extra;
	}
	argv[n] = NULL;
	struct loam_spawn_result res = {0};
	int rc = loam_transport_run_ok(h->conn.t, argv, stdin_data,
				       stdin_data ? strlen(stdin_data) : 0, timeout_ms, &res, err);
	if (rc < 0 && loam_transport_is_broken(h->conn.t))
		h->conn.broken = true;
	json_t *j = rc == 0 ? loam_json_parse(res.out, res.out_len, verb, err) : NULL;
	loam_spawn_result_free(&res);
	if (rc < 0)
		loam_err_wrap(err, "%s on host %s", verb, h->row.name);
	return j;
}

/* vm-status of this VM on its host; NULL with *err when it cannot be asked. */
static json_t *vm_status(struct loam_strand_ctx *ctx, const char *host_id, loam_err *err)
{
	cleanup_vm_host struct vm_host h = {0};
	if (vm_host_open(ctx, host_id, &h, err) < 0)
		return NULL;
	return agent_call(&h, "vm-status", ctx->id, NULL, NULL, STATUS_TIMEOUT_MS, err);
}

static char *reason_with_tail(const char *what, const json_t *status)
{
	const char *tail = json_string_value(json_object_get(status, "serial_tail"));
	char *s = NULL;
	if (asprintf(&s, "%s; serial console tail:\n%s", what, tail && *tail ? tail : "(empty)") <
	    0)
		abort();
	return s;
}

/* ---- start: placement, FIFO per (location, arch) ---- */

/* The oldest unplaced VM of the queue this VM is in. */
static int queue_head(struct loam_strand_ctx *ctx, const struct vm_row *v, char **head_name,
		      bool *is_head, loam_err *err)
{
	cleanup_rows struct loam_db_rows *r = NULL;
	if (loam_db_query(ctx->db,
			  "SELECT id, name FROM vm WHERE host_id IS NULL AND location = ? AND "
			  "arch = ? AND state IN ('creating', 'waiting') "
			  "ORDER BY created_at, id LIMIT 1",
			  DB_ARGS(DB_TEXT(v->location), DB_TEXT(v->arch)), &r, err) < 0)
		return -1;
	*is_head = loam_db_rows_count(r) == 0 || strcmp(loam_db_rows_text(r, 0, 0), ctx->id) == 0;
	*head_name = loam_db_rows_count(r) ? strdup(loam_db_rows_text(r, 0, 1)) : NULL;
	return 0;
}

static int wait_in_queue(struct loam_strand_ctx *ctx, const char *reason, struct loam_outcome *out,
			 loam_err *err)
{
	if (loam_db_exec(ctx->db,
			 "UPDATE vm SET state = 'waiting', state_reason = ? WHERE id = ? AND "
			 "host_id IS NULL",
			 DB_ARGS(DB_TEXT(reason), DB_TEXT(ctx->id)), NULL, err) < 0)
		return -1;
	*out = loam_nap(QUEUE_NAP_MS);
	return 0;
}

static int place(struct loam_strand_ctx *ctx, const struct vm_row *v, struct loam_outcome *out,
		 loam_err *err)
{
	struct loamd_app *app = ctx->app;
	if (!app || !app->alloc)
		return loam_fail(err, LOAM_E_UNAVAILABLE, "no allocator in this process");
	struct loam_alloc_request req = {.vm_id = ctx->id};
	struct loam_alloc_result res;
	if (loam_alloc_place(app->alloc, ctx->db, &req, &res, err) == 0) {
		log_info("vm %s (%s) placed on %s", v->name, ctx->id, res.host_name);
		*out = loam_hop("prep");
		return 0;
	}
	if (loam_err_kind_of(*err) != LOAM_E_NOCAPACITY)
		return -1;
	cleanup_free char *reason = NULL;
	if (asprintf(&reason, "waiting for capacity: %s", loam_err_msg(*err)) < 0)
		abort();
	loam_err_free(err);
	return wait_in_queue(ctx, reason, out, err);
}

static int vm_start(struct loam_strand_ctx *ctx, struct loam_outcome *out, loam_err *err)
{
	int early = early_signal(ctx, "start", out, err);
	if (early != 0)
		return early < 0 ? -1 : 0;
	cleanup_vm_row struct vm_row v = {0};
	int found = vm_load(ctx->db, ctx->id, &v, err);
	if (found <= 0) {
		*out = loam_pop(json_pack("{s:s}", "state", "gone"));
		return found;
	}
	if (v.host_id) { /* placed already (a re-run after a crash) */
		*out = loam_hop("prep");
		return 0;
	}
	cleanup_free char *head = NULL;
	bool is_head = false;
	if (queue_head(ctx, &v, &head, &is_head, err) < 0)
		return -1;
	if (is_head)
		return place(ctx, &v, out, err);
	cleanup_free char *reason = NULL;
	if (asprintf(&reason, "waiting in the %s/%s queue behind VM %s", v.location, v.arch, head) <
	    0)
		abort();
	return wait_in_queue(ctx, reason, out, err);
}

/* ---- prep ---- */

struct host_facts {
	int64_t kvm, sockets, dies, cores, threads_per_core, hugepages;
	char *arch, *name;
	bool allow_tcg, emulates;
};

static char *xstrdup_or_abort(const char *s)
{
	char *d = strdup(s);
	if (!d)
		abort();
	return d;
}

static int host_facts_load(struct loam_db *db, const char *host_id, const char *vm_arch,
			   struct host_facts *f, loam_err *err)
{
	cleanup_rows struct loam_db_rows *r = NULL;
	if (loam_db_query(db,
			  "SELECT kvm, sockets, dies, total_cores, threads_per_core, "
			  "total_hugepages_1g, arch, name, allow_tcg, "
			  "(SELECT COUNT(*) FROM host_emulation e WHERE e.host_id = host.id AND "
			  "e.arch = ?) FROM host WHERE id = ?",
			  DB_ARGS(DB_TEXT(vm_arch), DB_TEXT(host_id)), &r, err) < 0)
		return -1;
	if (loam_db_rows_count(r) == 0)
		return loam_fail(err, LOAM_E_NOTFOUND, "no host with id %s", host_id);
	*f = (struct host_facts){.kvm = loam_db_rows_int(r, 0, 0),
				 .sockets = loam_db_rows_int(r, 0, 1),
				 .dies = loam_db_rows_int(r, 0, 2),
				 .cores = loam_db_rows_int(r, 0, 3),
				 .threads_per_core = loam_db_rows_int(r, 0, 4),
				 .hugepages = loam_db_rows_int(r, 0, 5),
				 .arch = xstrdup_or_abort(loam_db_rows_text(r, 0, 6)),
				 .name = xstrdup_or_abort(loam_db_rows_text(r, 0, 7)),
				 .allow_tcg = loam_db_rows_int(r, 0, 8) != 0,
				 .emulates = loam_db_rows_int(r, 0, 9) > 0};
	return 0;
}

static void host_facts_free(struct host_facts *f)
{
	free(f->arch);
	free(f->name);
}
#define cleanup_host_facts __attribute__((cleanup(host_facts_free)))

/*
 * KVM only where the host learned it usable for its own arch; otherwise
 * TCG, and only where the operator opted the host in. Returns 1 with a
 * reason in *why when the VM cannot run there at all.
 */
static int choose_accel(const struct host_facts *f, const char *vm_arch, bool *kvm, char **why)
{
	bool own = strcmp(f->arch, vm_arch) == 0;
	*kvm = own && f->kvm;
	if (*kvm || (own && f->allow_tcg) || (!own && f->emulates))
		return 0;
	int rc = own ? asprintf(why,
				"host %s cannot run %s guests: KVM is not usable there and TCG "
				"is not allowed; allow it with: loam host set %s --allow-tcg",
				f->name, vm_arch, f->name)
		     : asprintf(why,
				"host %s (%s) does not emulate %s; opt it in with: loam host set "
				"%s --emulate %s --allow-tcg",
				f->name, f->arch, vm_arch, f->name, vm_arch);
	if (rc < 0)
		abort();
	return 1;
}

static json_t *topology_json(const struct host_facts *f, const char *vm_arch, unsigned vcpus,
			     loam_err *err)
{
	/* an emulated arch gets no SMT siblings: the host's threads are not its own */
	unsigned tpc = strcmp(f->arch, vm_arch) == 0 && f->threads_per_core > 0
			   ? (unsigned)f->threads_per_core
			   : 1;
	unsigned sockets = f->sockets > 0 ? (unsigned)f->sockets : 1;
	struct loam_host_topology ht;
	struct loam_topology t;
	if (loam_host_topology_from_learned(sockets, f->dies > 0 ? (unsigned)f->dies : sockets,
					    f->cores > 0 ? (unsigned)f->cores : 1, tpc, &ht,
					    err) < 0 ||
	    loam_topology_scale(&ht, vcpus, &t, err) < 0)
		return NULL;
	return json_pack("{s:i, s:i, s:i, s:i}", "packages", (json_int_t)t.packages, "dies",
			 (json_int_t)t.dies, "cores", (json_int_t)t.cores, "threads",
			 (json_int_t)t.threads);
}

static const char *const pinned_components[] = {"image", "firmware", "vmm", "storage", NULL};

/*
 * Pins, once, the exact version of each component the VM starts with: the
 * newest one installed on its host for its arch (the boot image by name).
 * A re-run keeps what was pinned first.
 */
static int pin_artifacts(struct loam_strand_ctx *ctx, const struct vm_row *v, loam_err *err)
{
	for (const char *const *c = pinned_components; *c; c++) {
		bool image = strcmp(*c, "image") == 0;
		bool files = image || strcmp(*c, "firmware") == 0;
		if (loam_db_exec(
			ctx->db,
			"INSERT INTO vm_artifact (vm_id, component, name, version, arch) "
			"SELECT ?, component, name, version, arch FROM host_artifact "
			"WHERE host_id = ? AND component = ? AND arch = ? AND (? = 0 OR name = ?) "
			"AND (state = 'installed' OR (? = 0 AND state = 'unavailable')) "
			"ORDER BY installed_at DESC, version DESC LIMIT 1 "
			"ON CONFLICT (vm_id, component) DO NOTHING",
			DB_ARGS(DB_TEXT(ctx->id), DB_TEXT(v->host_id), DB_TEXT(*c),
				DB_TEXT(v->arch), DB_INT(image && v->boot_image),
				DB_TEXT(v->boot_image ? v->boot_image : ""), DB_INT(files)),
			NULL, err) < 0)
			return loam_err_wrap(err, "pin the %s of VM %s", *c, v->name);
	}
	return 0;
}

/* The install dir of the pinned component on the host, or NULL. */
static char *pinned_path(struct loam_strand_ctx *ctx, const struct vm_row *v, const char *component,
			 loam_err *err)
{
	cleanup_rows struct loam_db_rows *r = NULL;
	if (loam_db_query(ctx->db,
			  "SELECT h.path FROM vm_artifact a JOIN host_artifact h ON "
			  "h.host_id = ? AND h.component = a.component AND h.name = a.name AND "
			  "h.version = a.version AND h.arch = a.arch AND h.state = 'installed' "
			  "WHERE a.vm_id = ? AND a.component = ?",
			  DB_ARGS(DB_TEXT(v->host_id), DB_TEXT(ctx->id), DB_TEXT(component)), &r,
			  err) < 0)
		return NULL;
	if (loam_db_rows_count(r) == 0 || loam_db_rows_null(r, 0, 0)) {
		loam_fail(err, LOAM_E_CONFLICT,
			  "no %s for %s is installed on the VM's host; see: loam host show",
			  component, v->arch);
		return NULL;
	}
	return strdup(loam_db_rows_text(r, 0, 0));
}

static json_t *path_join(const char *dir, const char *prefix, const char *sep, const char *file)
{
	cleanup_free char *s = NULL;
	if (asprintf(&s, "%s/%s%s%s", dir, prefix, sep, file) < 0)
		abort();
	return json_string(s);
}

static json_t *seed_json(const char *id, const char *name)
{
	char *meta = NULL;
	if (asprintf(&meta, "instance-id: %s\nlocal-hostname: %s\n", id, name) < 0)
		abort();
	json_t *j = json_pack("{s:s, s:s}", "meta-data", meta, "user-data", "#cloud-config\n");
	free(meta);
	return j;
}

/* Adds the file paths of the pinned image and firmware to spec. */
static int add_artifact_paths(struct loam_strand_ctx *ctx, const struct vm_row *v,
			      const struct loam_arch *arch, json_t *spec, loam_err *err)
{
	cleanup_free char *img = pinned_path(ctx, v, "image", err);
	if (!img)
		return -1;
	cleanup_free char *fw = pinned_path(ctx, v, "firmware", err);
	if (!fw)
		return -1;
	json_object_set_new(
	    spec, "image",
	    path_join(img, v->boot_image ? v->boot_image : "loam-guest", ".", arch->image_suffix));
	json_object_set_new(spec, "fw_code", path_join(fw, "", "", arch->firmware_code));
	json_object_set_new(spec, "fw_vars", path_join(fw, "", "", arch->firmware_vars));
	return 0;
}

/*
 * The fast path: the image's own kernel and initrd booted by QEMU without
 * UEFI (vmlinuz is bootable by -kernel on every arch's machine; the agent
 * prepends the arch's console=).
 */
static int add_direct_kernel(struct loam_strand_ctx *ctx, const struct vm_row *v, json_t *spec,
			     loam_err *err)
{
	cleanup_free char *img = pinned_path(ctx, v, "image", err);
	if (!img)
		return -1;
	json_t *dk = json_pack("{s:o, s:o, s:s, s:b}", "kernel", path_join(img, "", "", "vmlinuz"),
			       "initrd", path_join(img, "", "", "initrd.img"), "cmdline",
			       "panic=-1 quiet", "firmware", 0);
	json_object_set_new(spec, "direct_kernel", dk);
	return 0;
}

static json_t *prep_spec(struct loam_strand_ctx *ctx, const struct vm_row *v,
			 const struct host_facts *f, bool kvm, loam_err *err)
{
	const struct loam_arch *arch = loam_arch_by_name(v->arch);
	if (!arch) {
		loam_fail(err, LOAM_E_INTERNAL, "VM %s has unknown arch %s", v->name, v->arch);
		return NULL;
	}
	json_t *topo = topology_json(f, v->arch, (unsigned)v->vcpus, err);
	if (!topo)
		return NULL;
	json_t *spec =
	    json_pack("{s:s, s:s, s:s, s:i, s:i, s:b, s:b, s:o, s:s, s:i, s:o}", "id", ctx->id,
		      "name", v->name, "arch", v->arch, "vcpus", (json_int_t)v->vcpus, "memory_mib",
		      (json_int_t)v->memory_gib * 1024, "hugepages", (int)(v->hugepages != 0),
		      "kvm", (int)kvm, "topology", topo, "image_format", "raw", "disk_gib",
		      (json_int_t)v->storage_gib, "seed", seed_json(ctx->id, v->name));
	if (add_artifact_paths(ctx, v, arch, spec, err) < 0) {
		json_decref(spec);
		return NULL;
	}
	const char *boot = json_string_value(json_object_get(ctx->frame, "boot"));
	if (boot && strcmp(boot, "kernel") == 0 && add_direct_kernel(ctx, v, spec, err) < 0) {
		json_decref(spec);
		return NULL;
	}
	return spec;
}

/* vm-purge on the VM's host. A host without an agent never ran anything
 * of this VM, so there is nothing to purge there. */
static int purge_on_host(struct loam_strand_ctx *ctx, const struct vm_row *v, loam_err *err)
{
	cleanup_vm_host struct vm_host h = {0};
	if (loam_host_row_load(ctx->db, v->host_id, &h.row, err) < 0)
		return -1;
	if (!h.row.agent_path)
		return 0;
	if (loam_host_connect(ctx, &h.row, &h.conn, err) < 0)
		return -1;
	cleanup_json json_t *res =
	    agent_call(&h, "vm-purge", ctx->id, NULL, NULL, AGENT_TIMEOUT_MS, err);
	return res ? 0 : -1;
}

/*
 * Prep failed: retried by the engine with backoff, then the VM fails. What
 * the tries left on the host (user, dir, files) is purged then, so a failed
 * VM holds nothing there; a host that cannot be reached keeps it until the
 * VM is started again (prep redoes it) or destroyed (purges it).
 */
static int prep_failed(struct loam_strand_ctx *ctx, const struct vm_row *v,
		       struct loam_outcome *out, loam_err *err)
{
	if (ctx->tries + 1 < PREP_MAX_TRIES)
		return -1;
	cleanup_err loam_err purge = NULL;
	bool purged = purge_on_host(ctx, v, &purge) == 0;
	if (!purged)
		log_warn("vm %s: the half-done prep stays until destroy: %s", ctx->id,
			 loam_err_msg(purge));
	cleanup_free char *reason = NULL;
	if (asprintf(&reason, "prep failed after %d tries: %s%s", ctx->tries + 1,
		     loam_err_msg(*err),
		     purged ? "" : " (what it made on the host is removed on destroy)") < 0)
		abort();
	loam_err_free(err);
	return fail_vm(ctx, reason, "prep", out, err);
}

static int vm_prep(struct loam_strand_ctx *ctx, struct loam_outcome *out, loam_err *err)
{
	int early = early_signal(ctx, "prep", out, err);
	if (early != 0)
		return early < 0 ? -1 : 0;
	cleanup_vm_row struct vm_row v = {0};
	int found = vm_load(ctx->db, ctx->id, &v, err);
	if (found <= 0 || !v.host_id) {
		if (found == 0)
			*out = loam_pop(json_pack("{s:s}", "state", "gone"));
		else if (found > 0)
			*out = loam_hop("start");
		return found < 0 ? -1 : 0;
	}
	cleanup_host_facts struct host_facts f = {0};
	if (!v.arch)
		return loam_fail(err, LOAM_E_INTERNAL, "VM %s has no arch", ctx->id);
	if (host_facts_load(ctx->db, v.host_id, v.arch, &f, err) < 0)
		return -1;
	if (!f.arch)
		return loam_fail(err, LOAM_E_INTERNAL, "the host of VM %s has no arch", ctx->id);
	bool kvm = false;
	cleanup_free char *why = NULL;
	if (choose_accel(&f, v.arch, &kvm, &why))
		return fail_vm(ctx, why, "prep", out, err);
	if (set_state(ctx, "preparing", NULL, err) < 0 || pin_artifacts(ctx, &v, err) < 0)
		return -1;
	cleanup_json json_t *spec = prep_spec(ctx, &v, &f, kvm, err);
	if (!spec)
		return prep_failed(ctx, &v, out, err);
	cleanup_free char *body = loam_json_dump(spec);
	cleanup_vm_host struct vm_host h = {0};
	if (vm_host_open(ctx, v.host_id, &h, err) < 0)
		return prep_failed(ctx, &v, out, err);
	cleanup_json json_t *res =
	    agent_call(&h, "vm-prep", NULL, NULL, body, AGENT_TIMEOUT_MS, err);
	if (!res)
		return prep_failed(ctx, &v, out, err);
	*out = loam_hop("run");
	return 0;
}

/* ---- run, wait_ready, wait ---- */

static int vm_run(struct loam_strand_ctx *ctx, struct loam_outcome *out, loam_err *err)
{
	int early = early_signal(ctx, "run", out, err);
	if (early != 0)
		return early < 0 ? -1 : 0;
	cleanup_vm_row struct vm_row v = {0};
	int found = vm_load(ctx->db, ctx->id, &v, err);
	if (found <= 0 || !v.host_id) {
		if (found == 0)
			*out = loam_pop(json_pack("{s:s}", "state", "gone"));
		else if (found > 0)
			*out = loam_hop("start");
		return found < 0 ? -1 : 0;
	}
	cleanup_vm_host struct vm_host h = {0};
	if (vm_host_open(ctx, v.host_id, &h, err) < 0)
		return -1;
	cleanup_json json_t *res =
	    agent_call(&h, "vm-start", ctx->id, NULL, NULL, AGENT_TIMEOUT_MS, err);
	if (!res) {
		if (ctx->tries + 1 < PREP_MAX_TRIES)
			return -1;
		cleanup_free char *reason = NULL;
		if (asprintf(&reason, "the VMM did not start: %s", loam_err_msg(*err)) < 0)
			abort();
		loam_err_free(err);
		return fail_vm(ctx, reason, "run", out, err);
	}
	if (set_state(ctx, "booting", NULL, err) < 0)
		return -1;
	*out = loam_hop("wait_ready");
	return 0;
}

static const char *const ready_signals[] = {"destroy", "stop", NULL};

static int vm_wait_ready(struct loam_strand_ctx *ctx, struct loam_outcome *out, loam_err *err)
{
	const char *sig = take_any(ctx, ready_signals);
	if (sig) {
		*out = loam_hop(sig);
		return 0;
	}
	cleanup_vm_row struct vm_row v = {0};
	int found = vm_load(ctx->db, ctx->id, &v, err);
	if (found <= 0 || !v.host_id)
		return found < 0 ? -1 : (*out = loam_hop("start"), 0);
	cleanup_vm_host struct vm_host h = {0};
	if (vm_host_open(ctx, v.host_id, &h, err) < 0)
		return -1;
	cleanup_json json_t *st =
	    agent_call(&h, "vm-wait-ready", ctx->id, READY_SLICE_S, NULL, STATUS_TIMEOUT_MS, err);
	if (!st)
		return -1;
	const char *machine = json_string_value(json_object_get(st, "guest_machine"));
	bool ready = json_is_true(json_object_get(st, "ready")) && machine;
	if (!json_is_true(json_object_get(st, "running"))) {
		cleanup_free char *reason = reason_with_tail("the VMM exited during boot", st);
		return fail_vm(ctx, reason, "run", out, err);
	}
	if (!ready) {
		*out = loam_nap(0);
		return 0;
	}
	if (loam_db_exec(ctx->db,
			 "UPDATE vm SET state = 'running', state_reason = NULL, guest_machine = ?, "
			 "provisioned_at = COALESCE(provisioned_at, ?) WHERE id = ?",
			 DB_ARGS(DB_TEXT(machine), DB_INT(loam_db_now_ms()), DB_TEXT(ctx->id)),
			 NULL, err) < 0)
		return -1;
	log_info("vm %s (%s) running: guest reports %s", v.name, ctx->id, machine);
	*out = loam_hop("wait");
	return 0;
}

static const char *const running_signals[] = {"destroy", "stop", "reboot", NULL};

/* Running: a checkup every few seconds; a VMM that died fails the VM. An
 * unreachable host is the heartbeat's business, not a VM failure. */
static int vm_wait(struct loam_strand_ctx *ctx, struct loam_outcome *out, loam_err *err)
{
	const char *sig = take_any(ctx, running_signals);
	loam_strand_take_signal(ctx, "start"); /* running already */
	if (sig) {
		*out = loam_hop(sig);
		return 0;
	}
	cleanup_vm_row struct vm_row v = {0};
	int found = vm_load(ctx->db, ctx->id, &v, err);
	if (found <= 0 || !v.host_id)
		return found < 0 ? -1 : (*out = loam_hop("start"), 0);
	cleanup_err loam_err check = NULL;
	cleanup_json json_t *st = vm_status(ctx, v.host_id, &check);
	if (st && !json_is_true(json_object_get(st, "running"))) {
		cleanup_free char *reason = reason_with_tail("the VMM died", st);
		return fail_vm(ctx, reason, "run", out, err);
	}
	if (!st)
		log_warn("vm %s: checkup failed: %s", v.name, loam_err_msg(check));
	*out = loam_nap(CHECKUP_MS);
	return 0;
}

/* ---- stop, stopped, reboot, failed ---- */

static int stop_vmm(struct loam_strand_ctx *ctx, loam_err *err)
{
	cleanup_vm_row struct vm_row v = {0};
	int found = vm_load(ctx->db, ctx->id, &v, err);
	if (found <= 0 || !v.host_id)
		return found < 0 ? -1 : 0;
	cleanup_vm_host struct vm_host h = {0};
	if (vm_host_open(ctx, v.host_id, &h, err) < 0)
		return -1;
	/* --timeout 0: the guest init has no ACPI power button; QMP quit is clean */
	cleanup_json json_t *res =
	    agent_call(&h, "vm-stop", ctx->id, "0", NULL, AGENT_TIMEOUT_MS, err);
	return res ? 0 : -1;
}

static int vm_stop(struct loam_strand_ctx *ctx, struct loam_outcome *out, loam_err *err)
{
	if (stop_vmm(ctx, err) < 0 || set_state(ctx, "stopped", NULL, err) < 0)
		return -1;
	json_object_set_new(ctx->frame, "resume", json_string("run"));
	*out = loam_hop("stopped");
	return 0;
}

static int vm_reboot(struct loam_strand_ctx *ctx, struct loam_outcome *out, loam_err *err)
{
	if (stop_vmm(ctx, err) < 0 || set_state(ctx, "rebooting", NULL, err) < 0)
		return -1;
	*out = loam_hop("run");
	return 0;
}

static const char *const idle_signals[] = {"destroy", "start", NULL};

/* Idle until start or destroy; other signals are dropped. */
static int idle(struct loam_strand_ctx *ctx, const char *start_label, struct loam_outcome *out,
		loam_err *err)
{
	const char *sig = take_any(ctx, idle_signals);
	loam_strand_take_signal(ctx, "stop");
	loam_strand_take_signal(ctx, "reboot");
	if (sig && strcmp(sig, "start") == 0) {
		if (set_state(ctx, "starting", NULL, err) < 0)
			return -1;
		*out = loam_hop(start_label);
	} else {
		*out = sig ? loam_hop(sig) : loam_nap(IDLE_NAP_MS);
	}
	return 0;
}

/* stopped and failed: a start resumes at the label the frame names
 * (start or prep when the VM never booted), else at run. */
static int vm_parked(struct loam_strand_ctx *ctx, struct loam_outcome *out, loam_err *err)
{
	const char *resume = json_string_value(json_object_get(ctx->frame, "resume")) ?: "";
	/* literals: the outcome keeps the label pointer past the frame */
	const char *label = strcmp(resume, "start") == 0  ? "start"
			    : strcmp(resume, "prep") == 0 ? "prep"
							  : "run";
	return idle(ctx, label, out, err);
}

/* ---- destroy ---- */

static int delete_rows(struct loam_db *db, void *ctx, loam_err *err)
{
	const char *id = ctx;
	if (loam_db_exec(db, "DELETE FROM vm_artifact WHERE vm_id = ?", DB_ARGS(DB_TEXT(id)), NULL,
			 err) < 0)
		return -1;
	return loam_db_exec(db, "DELETE FROM vm WHERE id = ?", DB_ARGS(DB_TEXT(id)), NULL, err);
}

/* Purges on the host first (while the row still names it), then releases
 * the counters (a no-op once done), then deletes the rows. */
static int vm_destroy(struct loam_strand_ctx *ctx, struct loam_outcome *out, loam_err *err)
{
	cleanup_vm_row struct vm_row v = {0};
	int found = vm_load(ctx->db, ctx->id, &v, err);
	if (found < 0)
		return -1;
	if (found && set_state(ctx, "destroying", NULL, err) < 0)
		return -1;
	if (found && v.host_id) {
		if (purge_on_host(ctx, &v, err) < 0)
			return loam_err_wrap(err, "destroy VM %s", v.name);
		struct loamd_app *app = ctx->app;
		if (!app || !app->alloc)
			return loam_fail(err, LOAM_E_UNAVAILABLE, "no allocator in this process");
		if (loam_alloc_release(app->alloc, ctx->db, ctx->id, err) < 0)
			return -1;
	}
	if (found && loam_db_tx(ctx->db, delete_rows, (void *)ctx->id, err) < 0)
		return -1;
	log_info("vm %s destroyed", ctx->id);
	*out = loam_pop(json_pack("{s:s}", "state", "destroyed"));
	return 0;
}

static const struct loam_label vm_labels[] = {
    {"start", vm_start, 0},
    {"prep", vm_prep, 900},
    {"run", vm_run, 300},
    {"wait_ready", vm_wait_ready, 600},
    {"wait", vm_wait, 0},
    {"stop", vm_stop, 300},
    {"stopped", vm_parked, 0},
    {"reboot", vm_reboot, 300},
    {"failed", vm_parked, 0},
    {"destroy", vm_destroy, 900},
    {0},
};

const struct loam_prog loam_prog_vm = {LOAM_PROG_VM, vm_labels};
