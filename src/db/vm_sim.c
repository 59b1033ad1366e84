/*
 * Simulated hosts (db/vm_sim.h), in one transaction each.
 */
#include "db/vm_sim.h"

#include <string.h>

#include "lib/cleanup.h"
#include "lib/xalloc.h"

static int add_artifact(struct loam_db *db, const struct loam_vm_sim_host *h, const char *component,
			const char *name, const char *path, loam_err *err)
{
	return loam_db_exec(
	    db,
	    "INSERT INTO host_artifact (host_id, component, name, version, arch, "
	    "kind, path, state, installed_at, updated_at) VALUES (?, ?, ?, '1', "
	    "'x64', 'tarball', ?, 'installed', 1, 1)",
	    DB_ARGS(DB_TEXT(h->name), DB_TEXT(component), DB_TEXT(name), DB_TEXT(path)), NULL, err);
}

/* The VMM and the storage daemon are bundles for x64 hosts serving x64
 * and arm64 guests, and the VMM lists the firmware it was tested with. */
static int add_bundle(struct loam_db *db, const struct loam_vm_sim_host *h, const char *component,
		      const char *name, const char *path, loam_err *err)
{
	if (add_artifact(db, h, component, name, path, err) < 0 ||
	    loam_db_exec(db,
			 "INSERT INTO host_artifact_guest_arch (host_id, component, name, version, "
			 "arch, guest_arch) VALUES (?, ?, ?, '1', 'x64', 'x64'), "
			 "(?, ?, ?, '1', 'x64', 'arm64')",
			 DB_ARGS(DB_TEXT(h->name), DB_TEXT(component), DB_TEXT(name),
				 DB_TEXT(h->name), DB_TEXT(component), DB_TEXT(name)),
			 NULL, err) < 0)
		return -1;
	if (strcmp(component, "vmm") != 0)
		return 0;
	return loam_db_exec(
	    db,
	    "INSERT INTO host_artifact_firmware (host_id, component, name, version, "
	    "arch, firmware_name, firmware_version) VALUES (?, 'vmm', ?, '1', "
	    "'x64', 'edk2', '1')",
	    DB_ARGS(DB_TEXT(h->name), DB_TEXT(name)), NULL, err);
}

static int add_tx(struct loam_db *db, void *ctx, loam_err *err)
{
	const struct loam_vm_sim_host *h = ctx;
	cleanup_free char *img = xasprintf("%s/artifacts/image", h->state_dir);
	cleanup_free char *fw = xasprintf("%s/artifacts/firmware", h->state_dir);
	cleanup_free char *vmm = xasprintf("%s/artifacts/vmm", h->state_dir);
	cleanup_free char *storage = xasprintf("%s/artifacts/storage", h->state_dir);
	if (loam_db_exec(
		db,
		"INSERT INTO host (id, name, transport, state_dir, location, arch, "
		"allocation_state, cpus, total_cores, sockets, dies, threads_per_core, "
		"total_mem_gib, total_storage_gib, available_storage_gib, kvm, allow_tcg, accel, "
		"agent_path, created_at) VALUES (?, ?, 'local', ?, 'default', 'x64', 'accepting', "
		"?, ?, 1, 1, 2, ?, 100000, 100000, 0, 1, 'tcg', ?, ?)",
		DB_ARGS(DB_TEXT(h->name), DB_TEXT(h->name), DB_TEXT(h->state_dir),
			DB_INT(2 * h->cores), DB_INT(h->cores), DB_INT(h->memory_gib),
			DB_TEXT(h->agent_path), DB_INT(loam_db_now_ms())),
		NULL, err) < 0)
		return -1;
	return add_artifact(db, h, "image", "loam-tiny", img, err) < 0 ||
		       add_artifact(db, h, "firmware", "edk2", fw, err) < 0 ||
		       add_bundle(db, h, "vmm", "qemu", vmm, err) < 0 ||
		       add_bundle(db, h, "storage", "qemu-storage-daemon", storage, err) < 0
		   ? -1
		   : 0;
}

int loam_vm_sim_host_add(struct loam_db *db, const struct loam_vm_sim_host *h, loam_err *err)
{
	return loam_db_tx(db, add_tx, (void *)h, err);
}
