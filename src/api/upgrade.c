/*
 * POST /v1/hosts/NAME/upgrade and POST /v1/vms/NAME/upgrade (issue 14
 * items 3-5). A host upgrade answers at once: it checks everything, marks
 * the store's versions the host is to install 'installing' and signals the
 * host's cloudify strand, whose install step runs the agent's install as a
 * detached job (the same one cloudify uses); `loam host upgrade --wait`
 * follows the rows. A VM upgrade records, in one transaction, the versions
 * the VM moves to at its next start (artifact/vm_pins.h). See docs/api.md
 * and docs/artifacts.md.
 */
#include "api/internal.h"

#include <string.h>

#include "artifact/host_install.h"
#include "artifact/upgrade.h"
#include "artifact/vm_pins.h"
#include "db/vm.h"
#include "engine/engine.h"
#include "lib/cleanup.h"
#include "lib/json.h"
#include "lib/valid.h"
#include "lib/xalloc.h"
#include "progs/progs.h"

/* ---- POST /v1/hosts/NAME/upgrade ---- */

struct host_upgrade {
	const char *name, *component, *version;
	struct loam_artifact_manifest store, picked;
	const char *arches[9];
	json_t *marked;
};

static void host_upgrade_free(struct host_upgrade *u)
{
	loam_artifact_manifest_free(&u->store);
	free(u->picked.entries);
	json_decref(u->marked);
}

/* Fails (conflict) unless cloudify has put the agent there. */
static int check_prepared(const struct loam_host *h, loam_err *err)
{
	if (h->state == LOAM_HOST_FAILED)
		return loam_fail(err, LOAM_E_CONFLICT, "host %s has failed; see loam host show %s",
				 h->name, h->name);
	if (!h->agent_path || !h->arch)
		return loam_fail(err, LOAM_E_CONFLICT,
				 "host %s is not prepared yet (no agent); wait until loam host "
				 "show %s says accepting",
				 h->name, h->name);
	return 0;
}

/* The host's own arch, then the arches it emulates (NULL-terminated). */
static void served_arches(const struct loam_host *h, const char **out, size_t max)
{
	size_t n = 0;
	out[n++] = h->arch;
	for (size_t i = 0; i < h->emulate.n && n + 1 < max; i++)
		if (strcmp(h->emulate.v[i], h->arch) != 0)
			out[n++] = h->emulate.v[i];
	out[n] = NULL;
}

static int load_store(struct api_req *r, struct loam_artifact_manifest *m, loam_err *err)
{
	if (!r->api->artifact_store)
		return loam_fail(err, LOAM_E_CONFLICT,
				 "this loamd has no artifact store; start it with "
				 "--artifact-store DIR");
	cleanup_free char *path = xasprintf("%s/manifest.json", r->api->artifact_store);
	return loam_artifact_manifest_load(path, m, err) < 0 ? loam_err_wrap(err, "artifact store")
							     : 0;
}

/* Refuses a version GC is removing: its files may be going right now. */
static int check_marked(const struct host_upgrade *u, loam_err *err)
{
	const json_t *e;
	size_t i;
	json_array_foreach(u->marked, i, e)
	{
		if (strcmp(json_string_value(json_object_get(e, "state")), "removing") == 0)
			return loam_fail(err, LOAM_E_CONFLICT,
					 "%s %s %s on host %s is being removed by loam artifact "
					 "gc; run loam artifact gc to finish, then upgrade again",
					 json_string_value(json_object_get(e, "component")),
					 json_string_value(json_object_get(e, "name")),
					 json_string_value(json_object_get(e, "version")), u->name);
	}
	return 0;
}

/* Marks the versions, then signals the host's strand, all or nothing. */
static int host_upgrade_tx(struct loam_db *db, void *ctx, loam_err *err)
{
	struct host_upgrade *u = ctx;
	cleanup_host struct loam_host h = {0};
	int found = loam_host_get_by_name(db, u->name, &h, err);
	if (found <= 0)
		return found < 0 ? -1 : api_host_not_found(u->name, err);
	json_decref(u->marked); /* the transaction may run again */
	u->marked = NULL;
	bool live = false;
	if (loam_artifact_install_mark(db, h.id, &u->picked, u->arches, &u->marked, err) < 0 ||
	    check_marked(u, err) < 0 || loam_strand_live(db, h.id, &live, err) < 0)
		return -1;
	if (!live)
		return loam_fail(err, LOAM_E_CONFLICT,
				 "host %s has no running cloudify strand to install with; see: "
				 "loam host show %s",
				 u->name, u->name);
	return loam_strand_signal(db, h.id, LOAM_SIGNAL_UPGRADE, err);
}

/* Everything checked before anything changes: the body, the host, the
 * store and the selection. */
static int host_upgrade_prepare(struct api_req *r, struct host_upgrade *u, loam_err *err)
{
	static const char *const allowed[] = {"component", "version", NULL};
	if (api_body_check(r, allowed, true, err) < 0 ||
	    api_body_str(r, "component", 32, &u->component, err) < 0 ||
	    api_body_str(r, "version", 128, &u->version, err) < 0)
		return -1;
	cleanup_host struct loam_host h = {0};
	int found = loam_host_get_by_name(r->db, u->name, &h, err);
	if (found <= 0)
		return found < 0 ? -1 : api_host_not_found(u->name, err);
	if (check_prepared(&h, err) < 0 || load_store(r, &u->store, err) < 0)
		return -1;
	/* The arches point into h: copy them (there are few and short). */
	const char *arches[9] = {0};
	served_arches(&h, arches, 9);
	for (size_t i = 0; arches[i]; i++) {
		const struct loam_arch *a = loam_arch_by_name(arches[i]);
		u->arches[i] = a ? a->name : "";
	}
	return loam_artifact_upgrade_select(&u->store, u->arches, u->component, u->version,
					    &u->picked, err);
}

int api_hosts_upgrade(struct api_req *r, loam_err *err)
{
	struct host_upgrade u = {.name = r->seg[1]};
	int rc =
	    host_upgrade_prepare(r, &u, err) < 0 || loam_db_tx(r->db, host_upgrade_tx, &u, err) < 0
		? -1
		: 0;
	if (rc == 0)
		r->out = json_pack("{s:s, s:O, s:s}", "host", u.name, "requested", u.marked,
				   "follow", "loam host upgrade --wait, or loam host show");
	host_upgrade_free(&u);
	return rc < 0 ? loam_err_wrap(err, "upgrade host %s", r->seg[1]) : 0;
}

/* ---- POST /v1/vms/NAME/upgrade ---- */

int api_vms_upgrade(struct api_req *r, loam_err *err)
{
	static const char *const allowed[] = {"component", NULL};
	const char *component = NULL;
	if (api_body_check(r, allowed, true, err) < 0 ||
	    api_body_str(r, "component", 32, &component, err) < 0)
		return -1;
	cleanup_vm struct loam_vm vm = {0};
	if (api_vm_lookup(r, r->seg[1], &vm, err) < 0)
		return -1;
	struct loam_artifact_vm a = {.id = vm.id,
				     .name = vm.name,
				     .host_id = vm.host_id,
				     .host_name = vm.host_name,
				     .arch = vm.arch,
				     .image = vm.boot_image};
	json_t *changes = NULL;
	if (loam_artifact_vm_upgrade(r->db, &a, component, &changes, err) < 0)
		return loam_err_wrap(err, "upgrade VM %s", vm.name);
	r->out = json_pack("{s:s, s:o, s:s}", "vm", vm.name, "artifacts", changes, "effective",
			   "at the VM's next start (loam vm stop, then loam vm start)");
	return 0;
}
