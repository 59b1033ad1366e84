/*
 * The cloudify prog's writes to its host row (src/progs/cloudify.c): the
 * arch, the agent's path, the learned facts, the arches the host emulates,
 * and opening it for VMs. Each is idempotent and bumps the row's
 * generation, which tells the allocator to read it again.
 */
#ifndef LOAM_DB_CLOUDIFY_H
#define LOAM_DB_CLOUDIFY_H

#include <stdbool.h>
#include <stdint.h>

#include "db/db.h"
#include "lib/err.h"

/* What `loam-host learn` reported, as the host row keeps it. */
struct loam_host_learned {
	const char *arch;
	int64_t cpus, cores, sockets, dies, threads_per_core, numa_nodes, memory_gib;
	int64_t hugepages_1g_total, storage_total_gib, storage_available_gib;
	bool kvm;
	const char *cpu_model, *os, *kernel; /* NULL: unknown */
	const char *raw;		     /* the whole JSON object */
};

int loam_host_set_arch(struct loam_db *db, const char *id, const char *arch, loam_err *err);
int loam_host_set_agent(struct loam_db *db, const char *id, const char *path, const char *sha256,
			loam_err *err);
/* Stores the facts; accel is "kvm", "tcg" or "none". */
int loam_host_store_facts(struct loam_db *db, const char *id, const struct loam_host_learned *f,
			  const char *accel, loam_err *err);
/* The foreign arches the host is opted in to emulate, by name, into out
 * (max slots, NULL-terminated; the strings are the caller's to free). */
int loam_host_emulated_arches(struct loam_db *db, const char *id, char **out, size_t max,
			      loam_err *err);
/* 'accepting' with the reason cleared, only from 'unprepared': an
 * operator's 'draining' stays. */
int loam_host_accept(struct loam_db *db, const char *id, loam_err *err);

#endif
