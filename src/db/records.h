/*
 * Validated writes of the core records that more than one part creates:
 * the arch and size tables (from the arch modules) and new VM rows.
 * Everything is checked before anything is written, so bad input changes
 * nothing.
 */
#ifndef LOAM_DB_RECORDS_H
#define LOAM_DB_RECORDS_H

#include "arch/arch.h"
#include "db/db.h"
#include "lib/err.h"

/* Disk per VM: 10 GiB per vCPU, so standard-2 gets 20 GiB (a thin qcow2
 * overlay; two standard-2 VMs must fit a small development disk). */
#define LOAM_STORAGE_GIB_PER_VCPU 10
unsigned loam_size_storage_gib(const struct loam_size *size);

/* Mirrors the arch registry (loam_arches[]): adds every arch to the `arch`
 * table, which every arch column references (names already there stay),
 * then upserts the `size` table from every arch's size table.
 * loam_db_migrate runs it. */
int loam_db_sync_sizes(struct loam_db *db, loam_err *err);
/* The storage the size table records for arch/name: 1 with *gib set, 0 when
 * it has no such size. */
int loam_db_size_storage_gib(struct loam_db *db, const char *arch, const char *name, int64_t *gib,
			     loam_err *err);

struct loam_vm_spec {
	const char *name;	/* a DNS label, see lib/valid.h */
	const char *arch;	/* any spelling loam_arch_normalize accepts */
	const char *size;	/* "standard-2" ... */
	const char *location;	/* must be the location of at least one host */
	const char *boot_image; /* NULL or a name */
	const char *project_id; /* NULL: the default project */
};

/*
 * Inserts a VM in state 'creating' with its size's vCPUs, memory and
 * storage, in its project. Unknown arch, size or location, or a bad name,
 * fail with LOAM_E_INVALID and a message listing what is valid; a name the
 * project has taken fails with LOAM_E_CONFLICT. Quotas are the caller's
 * (loam_quota_check, db/project.h). id_out (may be NULL) receives the new
 * id.
 */
int loam_vm_insert(struct loam_db *db, const struct loam_vm_spec *spec, char id_out[27],
		   loam_err *err);

#endif
