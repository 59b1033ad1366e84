/*
 * Helpers for allocator tests: write hosts and VMs straight into a
 * migrated database, and read back what the allocator did.
 */
#ifndef LOAM_TEST_FLEET_H
#define LOAM_TEST_FLEET_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/db.h"
#include "db/records.h"

struct thost {
	const char *name, *location, *arch, *state, *accel;
	int tpc, cores, mem, huge, storage;
	double overcommit;
	const char *emulate; /* an arch, or NULL */
};

static inline struct thost thost_default(const char *name)
{
	return (struct thost){.name = name,
			      .location = "hel1",
			      .arch = "x64",
			      .state = "accepting",
			      .accel = "kvm",
			      .tpc = 2,
			      .cores = 32,
			      .mem = 256,
			      .huge = 0,
			      .storage = 4000,
			      .overcommit = 1.0};
}

static inline void die_on(int rc, loam_err *err, const char *what)
{
	if (rc < 0) {
		fprintf(stderr, "%s: %s\n", what, loam_err_msg(*err));
		abort();
	}
}

/* id_out may be NULL; ids can be given to make two databases identical. */
static inline void fleet_add_host(struct loam_db *db, const struct thost *h, const char *id)
{
	char gen[27];
	if (!id) {
		loam_db_new_id(gen);
		id = gen;
	}
	loam_err err = NULL;
	die_on(loam_db_exec(db,
			    "INSERT INTO host (id, name, transport, location, arch, "
			    "allocation_state, accel, threads_per_core, total_cores, cpus, "
			    "total_mem_gib, total_hugepages_1g, total_storage_gib, "
			    "available_storage_gib, cpu_overcommit, created_at) "
			    "VALUES (?, ?, 'ssh', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)",
			    DB_ARGS(DB_TEXT(id), DB_TEXT(h->name), DB_TEXT(h->location),
				    DB_TEXT(h->arch), DB_TEXT(h->state), DB_TEXT(h->accel),
				    DB_INT(h->tpc), DB_INT(h->cores), DB_INT(h->cores * h->tpc),
				    DB_INT(h->mem), DB_INT(h->huge), DB_INT(h->storage),
				    DB_INT(h->storage), DB_REAL(h->overcommit)),
			    NULL, &err),
	       &err, "add host");
	if (h->emulate)
		die_on(loam_db_exec(db, "INSERT INTO host_emulation (host_id, arch) VALUES (?, ?)",
				    DB_ARGS(DB_TEXT(id), DB_TEXT(h->emulate)), NULL, &err),
		       &err, "add emulation");
}

/* A VM through the validated path; returns its id in a static ring. */
static inline const char *fleet_add_vm(struct loam_db *db, const char *name, const char *arch,
				       const char *size, const char *location)
{
	static char ids[64][27];
	static unsigned next;
	char *id = ids[next++ % 64];
	struct loam_vm_spec spec = {.name = name, .arch = arch, .size = size, .location = location};
	loam_err err = NULL;
	die_on(loam_vm_insert(db, &spec, id, &err), &err, "add vm");
	return id;
}

static inline int64_t q_int(struct loam_db *db, const char *sql, const char *arg)
{
	struct loam_db_rows *r = NULL;
	loam_err err = NULL;
	int rc = arg ? loam_db_query(db, sql, DB_ARGS(DB_TEXT(arg)), &r, &err)
		     : loam_db_query(db, sql, DB_NOARGS, &r, &err);
	die_on(rc, &err, sql);
	int64_t v = loam_db_rows_null(r, 0, 0) ? -1 : loam_db_rows_int(r, 0, 0);
	loam_db_rows_free(r);
	return v;
}

#endif
