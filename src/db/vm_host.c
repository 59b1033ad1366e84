/*
 * What the VM prog needs to know of the host a VM was placed on (db/vm.h):
 * its learned shape (for the guest's CPU topology), whether KVM is usable,
 * and whether the operator allowed TCG or emulating the VM's arch there.
 */
#include <stdlib.h>

#include "db/vm.h"
#include "lib/cleanup.h"
#include "lib/xalloc.h"

int loam_vm_host_load(struct loam_db *db, const char *host_id, const char *vm_arch,
		      struct loam_vm_host *h, loam_err *err)
{
	cleanup_rows struct loam_db_rows *r = NULL;
	if (loam_db_query(
		db,
		"SELECT name, arch, kvm, allow_tcg, (SELECT COUNT(*) FROM host_emulation "
		"e WHERE e.host_id = host.id AND e.arch = ?), sockets, dies, "
		"total_cores, threads_per_core, total_hugepages_1g FROM host WHERE id = ?",
		DB_ARGS(DB_TEXT(vm_arch), DB_TEXT(host_id)), &r, err) < 0)
		return -1;
	if (loam_db_rows_count(r) == 0)
		return loam_fail(err, LOAM_E_NOTFOUND, "no host with id %s", host_id);
	if (loam_db_rows_null(r, 0, 1))
		return loam_fail(err, LOAM_E_INTERNAL, "host %s has no arch yet",
				 loam_db_rows_text(r, 0, 0));
	*h = (struct loam_vm_host){.name = xstrdup(loam_db_rows_text(r, 0, 0)),
				   .arch = xstrdup(loam_db_rows_text(r, 0, 1)),
				   .kvm = loam_db_rows_int(r, 0, 2) != 0,
				   .allow_tcg = loam_db_rows_int(r, 0, 3) != 0,
				   .emulates = loam_db_rows_int(r, 0, 4) > 0,
				   .sockets = loam_db_rows_int(r, 0, 5),
				   .dies = loam_db_rows_int(r, 0, 6),
				   .cores = loam_db_rows_int(r, 0, 7),
				   .threads_per_core = loam_db_rows_int(r, 0, 8),
				   .hugepages_1g = loam_db_rows_int(r, 0, 9)};
	return 0;
}

void loam_vm_host_free(struct loam_vm_host *h)
{
	free(h->name);
	free(h->arch);
	*h = (struct loam_vm_host){0};
}
