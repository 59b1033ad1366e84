/*
 * The host model: a host row as a struct (with the arches it emulates and,
 * for the API's views, its VM count and cloudify strand), reading one or
 * all of them in one query, and every write the API and the progs make to
 * a host. The allocator keeps its own view (src/alloc/), refreshed through
 * loam_alloc_host_changed after these writes.
 *
 * host.c reads, host_write.c holds the operator's writes (add, set, rm)
 * and host_state.c the progs' (cloudify's steps and the heartbeat). Writes
 * take the host id; none of them checks that the host exists unless it
 * says so, so run them inside the transaction that loaded it.
 */
#ifndef LOAM_DB_HOST_H
#define LOAM_DB_HOST_H

#include <stdbool.h>
#include <stdint.h>

#include "db/db.h"
#include "db/strand_view.h"
#include "lib/argv.h"
#include "lib/err.h"

/* allocation_state; the schema's CHECK holds the same list. */
enum loam_host_state {
	LOAM_HOST_UNPREPARED, /* added; cloudify has not finished */
	LOAM_HOST_ACCEPTING,  /* takes new VMs */
	LOAM_HOST_DRAINING,   /* keeps its VMs, takes no new ones */
	LOAM_HOST_UNREACHABLE,
	LOAM_HOST_FAILED,
};

/* "unprepared", ... */
const char *loam_host_state_name(enum loam_host_state s);
/* 0 with *out set, or -1 (LOAM_E_INVALID) for a name not in the list. */
int loam_host_state_parse(const char *name, enum loam_host_state *out, loam_err *err);

struct loam_host {
	char *id, *name;
	char *transport; /* "local" or "ssh" */
	char *address, *ssh_user, *ssh_key_file, *host_key, *state_dir, *location;
	int64_t ssh_port;
	char *arch; /* NULL until learned */
	enum loam_host_state state;
	char *state_reason, *state_before_unreachable;
	/* learned by loam-host learn; facts is its whole JSON */
	int64_t cpus, total_cores, sockets, dies, threads_per_core, numa_nodes;
	int64_t total_mem_gib, total_hugepages_1g, total_storage_gib, available_storage_gib;
	bool kvm;
	char *cpu_model, *os, *kernel, *facts;
	char *agent_path, *agent_sha256;
	char *accel; /* "kvm", "tcg" or "none" */
	bool allow_tcg;
	double cpu_overcommit;
	int64_t used_cores, used_memory_gib, used_hugepages_1g, generation;
	int64_t created_at, last_seen_at;
	bool seen; /* last_seen_at is set */
	/* its network (db/net.h): ipv6_prefix NULL means its own ULA /48 */
	char *ipv4_pool, *ipv6_prefix;
	bool egress;
	int64_t ipv4_total, ipv4_used;
	struct loam_argv emulate; /* arches run under TCG, sorted */
	/* Only in the API's views (loam_host_list, loam_host_view): */
	int64_t vms;			/* VMs placed on it */
	struct loam_strand_view strand; /* its cloudify strand, when has_strand */
	bool has_strand;
};

void loam_host_free(struct loam_host *h);
#define cleanup_host __attribute__((cleanup(loam_host_free)))

struct loam_hosts {
	struct loam_host *v;
	size_t n;
};

void loam_hosts_free(struct loam_hosts *l);
#define cleanup_hosts __attribute__((cleanup(loam_hosts_free)))

/* One host by id or by name: 1 when found, 0 when there is none, -1 on a
 * database error. */
int loam_host_get(struct loam_db *db, const char *id, struct loam_host *out, loam_err *err);
int loam_host_get_by_name(struct loam_db *db, const char *name, struct loam_host *out,
			  loam_err *err);
/* The same by name with the view fields (vms, strand) filled. */
int loam_host_view(struct loam_db *db, const char *name, struct loam_host *out, loam_err *err);
/* Every host with its view fields, ordered by name, in one query. */
int loam_host_list(struct loam_db *db, struct loam_hosts *out, loam_err *err);
/* The same, a page of them (page->after: a host name). */
int loam_host_list_page(struct loam_db *db, const struct loam_db_page *page, struct loam_hosts *out,
			loam_err *err);

/* ---- the operator's writes (host_write.c) ---- */

struct loam_host_new {
	const char *id, *name;
	bool local;
	const char *address, *ssh_user, *ssh_key_file; /* address, key: NULL for none */
	int64_t ssh_port;
	const char *state_dir, *location;
	const char *host_key; /* pinned before first contact ("TYPE BASE64"), or NULL */
};

/* Inserts an 'unprepared' host created now. */
int loam_host_insert(struct loam_db *db, const struct loam_host_new *h, loam_err *err);
/* The name of a host that a new host (name, local or not) would clash
 * with: one of that name, or for a local host the local host there is.
 * 1 with *other set (the caller frees), 0 when none. */
int loam_host_find_clash(struct loam_db *db, const char *name, bool local, char **other,
			 loam_err *err);

int loam_host_set_state(struct loam_db *db, const char *id, enum loam_host_state state,
			loam_err *err);
int loam_host_set_location(struct loam_db *db, const char *id, const char *location, loam_err *err);
/* Replaces the emulated arches with arches (n names). */
int loam_host_set_emulation(struct loam_db *db, const char *id, const char *const *arches, size_t n,
			    loam_err *err);
/* allow_tcg, and accel from it: kvm when KVM is usable, else tcg if allowed,
 * else none. */
int loam_host_set_allow_tcg(struct loam_db *db, const char *id, bool allow, loam_err *err);
int loam_host_set_overcommit(struct loam_db *db, const char *id, double factor, loam_err *err);
/* Marks the row changed for the allocator (generation + 1). */
int loam_host_bump_generation(struct loam_db *db, const char *id, loam_err *err);

int loam_host_count_vms(struct loam_db *db, const char *id, int64_t *n, loam_err *err);
/* Deletes the host, its cloudify strand and the strand's signals (its
 * emulation and artifact rows go by cascade). */
int loam_host_delete(struct loam_db *db, const char *id, loam_err *err);

/* ---- the progs' writes (host_state.c) ---- */

/* Pins the SSH host key seen at first contact. The update changes exactly
 * one row or fails: when another connection pinned a key meanwhile, it is
 * fine if that is this key, and LOAM_E_AUTH ("host key changed during
 * first contact") if not, so two first contacts that saw different keys
 * never both go on. */
int loam_host_pin_key(struct loam_db *db, const char *id, const char *key, loam_err *err);
int loam_host_record_arch(struct loam_db *db, const char *id, const char *arch, loam_err *err);
int loam_host_record_agent(struct loam_db *db, const char *id, const char *path, const char *sha256,
			   loam_err *err);

/* What loam-host learn reports, as cloudify stores it. */
struct loam_host_facts {
	int64_t cpus, cores, sockets, dies, threads_per_core, numa_nodes;
	int64_t memory_gib, hugepages_1g, storage_gib, available_storage_gib;
	bool kvm;
	const char *cpu_model, *os, *kernel; /* NULL for unknown */
	const char *json;		     /* the whole report */
	const char *accel;		     /* "kvm", "tcg" or "none" */
};

int loam_host_record_facts(struct loam_db *db, const char *id, const struct loam_host_facts *f,
			   loam_err *err);
/* 'unprepared' → 'accepting' (a host an operator drains stays so). */
int loam_host_record_accepting(struct loam_db *db, const char *id, loam_err *err);
/* 'failed' with a reason. */
int loam_host_record_failed(struct loam_db *db, const char *id, const char *reason, loam_err *err);
/* An accepting or draining host becomes 'unreachable' (remembering its
 * state) and its running and allocated VMs 'unavailable' (remembering
 * theirs); *changed tells whether the host changed. Run in a transaction. */
int loam_host_record_unreachable(struct loam_db *db, const char *id, const char *reason,
				 bool *changed, loam_err *err);
/* The reverse: the VMs and the host get their remembered states back and
 * the host is seen now. Run in a transaction. */
int loam_host_record_reachable(struct loam_db *db, const char *id, bool *changed, loam_err *err);
int loam_host_record_seen(struct loam_db *db, const char *id, loam_err *err);

#endif
