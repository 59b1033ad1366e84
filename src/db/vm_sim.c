/*
 * Simulated hosts (db/vm_sim.h), in one transaction each.
 */
#include "db/vm_sim.h"

#include "lib/cleanup.h"
#include "lib/xalloc.h"

static int add_artifact(struct loam_db *db, const struct loam_vm_sim_host *h, const char *component,
			const char *name, const char *kind, const char *path, loam_err *err)
{
	return loam_db_exec(db,
			    "INSERT INTO host_artifact (host_id, component, name, version, arch, "
			    "kind, path, state, installed_at, updated_at) VALUES (?, ?, ?, '1', "
			    "'x64', ?, ?, 'installed', 1, 1)",
			    DB_ARGS(DB_TEXT(h->name), DB_TEXT(component), DB_TEXT(name),
				    DB_TEXT(kind), DB_TEXT(path)),
			    NULL, err);
}

static int add_tx(struct loam_db *db, void *ctx, loam_err *err)
{
	const struct loam_vm_sim_host *h = ctx;
	cleanup_free char *img = xasprintf("%s/artifacts/image", h->state_dir);
	cleanup_free char *fw = xasprintf("%s/artifacts/firmware", h->state_dir);
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
	return add_artifact(db, h, "image", "loam-guest", "tarball", img, err) < 0 ||
		       add_artifact(db, h, "firmware", "edk2", "tarball", fw, err) < 0 ||
		       add_artifact(db, h, "vmm", "qemu", "debian-package", "qemu-system-x86",
				    err) < 0 ||
		       add_artifact(db, h, "storage", "qemu-storage-daemon", "debian-package",
				    "qemu-storage-daemon", err) < 0
		   ? -1
		   : 0;
}

int loam_vm_sim_host_add(struct loam_db *db, const struct loam_vm_sim_host *h, loam_err *err)
{
	return loam_db_tx(db, add_tx, (void *)h, err);
}
