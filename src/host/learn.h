/*
 * Host fact learning for `loam-host learn`: the parsers of /proc and /sys
 * files and the walk that puts them together. Parsers take buffers so that
 * tests and fuzzers call them directly; the walk takes a root so that tests
 * run it on fixture trees (tests/fixtures/learn/) as well as on this host.
 */
#ifndef LOAM_HOST_LEARN_H
#define LOAM_HOST_LEARN_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arch/arch.h"
#include "lib/err.h"

/* CPU numbers above this are refused as malformed. */
#define LEARN_MAX_CPUS 8192

/* ---- the tree facts are read from (learn_fs.c) ---- */

/* "/" for this host, or a copied tree given with --root. Paths inside it are
 * relative ("sys/devices/system/cpu/online"); symlinks resolve inside the
 * root, and loops fail with ELOOP instead of being followed. */
struct learn_root {
	int fd;
	bool is_host;
	char *dir;
};

int learn_root_open(struct learn_root *root, const char *dir, loam_err *err);
void learn_root_close(struct learn_root *root);
/* Opens rel inside the root; returns an fd or -1 with errno set. */
int learn_openat(const struct learn_root *root, const char *rel, int flags);
/* Reads rel (at most max bytes, 0: 1 MiB), NUL-terminated. */
int learn_read(const struct learn_root *root, const char *rel, size_t max, char **out, size_t *len,
	       loam_err *err);
/* Calls fn for each entry of directory rel named prefix + digits (or prefix
 * + anything when any_suffix) that is a real directory, not a symlink. */
int learn_each_dir(const struct learn_root *root, const char *rel, const char *prefix,
		   bool any_suffix, int (*fn)(const char *name, void *ctx), void *ctx,
		   loam_err *err);

/* ---- small sysfs values (learn_cpu.c) ---- */

struct learn_cpuset {
	uint64_t bits[LEARN_MAX_CPUS / 64];
};

/* "0-3,8,10-11\n"; "" and "\n" are the empty set. */
int learn_cpulist_parse(const char *s, struct learn_cpuset *set, loam_err *err);
bool learn_cpuset_has(const struct learn_cpuset *set, unsigned cpu);
void learn_cpuset_and(struct learn_cpuset *set, const struct learn_cpuset *other);
unsigned learn_cpuset_count(const struct learn_cpuset *set);
/* A decimal integer, optionally negative, with optional trailing space. */
int learn_parse_long(const char *s, long *out, loam_err *err);

/* ---- /proc/cpuinfo (learn_cpu.c) ---- */

struct learn_kv {
	char *key, *value;
};

/* One blank-line separated block, normally one "processor". */
struct learn_cpuinfo_block {
	struct learn_kv *kv;
	size_t n;
};

struct learn_cpuinfo {
	struct learn_cpuinfo_block *blocks;
	size_t n;
};

int learn_cpuinfo_parse(const char *buf, size_t len, struct learn_cpuinfo *out, loam_err *err);
void learn_cpuinfo_free(struct learn_cpuinfo *ci);
/* Matches the signature of loam_arch.cpu_model's lookup. */
const char *learn_cpuinfo_get(const void *block, const char *key);
/* The block whose "processor" is cpu, else the first block, else NULL. */
const struct learn_cpuinfo_block *learn_cpuinfo_for_cpu(const struct learn_cpuinfo *ci,
							unsigned cpu);

/* ---- CPU topology (learn_cpu.c) ---- */

/* One present and online CPU. -1 means the file is missing or says -1. */
struct learn_cpu_topo {
	unsigned cpu;
	long package, die, cluster, core;
	long capacity;	   /* arm64 cpu_capacity, for big.LITTLE */
	const char *model; /* from cpuinfo, for core types */
};

struct learn_topo_summary {
	unsigned cpus, cores, sockets, dies, clusters;
	unsigned threads_per_core; /* cpus / cores if uniform, else the most */
	bool threads_uniform;
	unsigned core_types; /* distinct (model, capacity) pairs */
};

/* Cores are distinct (package, die, cluster, core_id): core_id repeats across
 * packages, across dies, and on arm64 across clusters. Reorders cpus. */
void learn_topology_summarize(struct learn_cpu_topo *cpus, size_t n,
			      struct learn_topo_summary *out);
/* Reads sys/devices/system/cpu/cpuN/topology for each CPU of the set. */
int learn_topology_read(const struct learn_root *root, const struct learn_cpuset *set,
			struct learn_cpu_topo **out, size_t *n, loam_err *err);

/* ---- memory (learn_mem.c) ---- */

/* A "Key:   123 kB" line of /proc/meminfo, in KiB. */
int learn_meminfo_kib(const char *buf, const char *key, uint64_t *kib, loam_err *err);
/* MemTotal is installed memory less what firmware and the kernel keep:
 * round up to a whole GiB, then to a size memory is sold in when within
 * 10% (see learn_mem.c). */
unsigned learn_round_memtotal_gib(uint64_t kib);
/* Size in MiB of one SMBIOS type 17 (Memory Device) structure; 0 for an
 * empty slot or an unknown size. Fails on a malformed structure. */
int learn_dmi_memory_device_mib(const unsigned char *raw, size_t len, uint64_t *mib, loam_err *err);
/* A hex number as in memory/block_size_bytes ("8000000"), no 0x needed. */
int learn_parse_hex_u64(const char *s, uint64_t *out, loam_err *err);

/* Installed memory and where it was learned. */
struct learn_memory {
	uint64_t gib;
	const char *source; /* "dmi", "memory-blocks" or "meminfo" */
	const char *path;
};

int learn_memory(const struct learn_root *root, struct learn_memory *out, loam_err *err);
/* 1 GiB hugepages; 0 when the kernel has none configured. */
void learn_hugepages_1g(const struct learn_root *root, long *total, long *avail);

/* ---- OS, kernel, KVM and storage facts (learn_sys.c) ---- */

/* PRETTY_NAME (else NAME) of an os-release file, unquoted; the caller frees. */
int learn_os_release_pretty(const char *buf, char **out, loam_err *err);

/* Fills probe from root's dev/kvm and sys/module; module receives the name
 * of the module behind /dev/kvm (or ""). cpu_flags is kept by pointer. */
void learn_kvm_probe(const struct learn_root *root, const char *cpu_flags,
		     struct loam_kvm_probe *probe, char *module, size_t module_len);
/* Creates dir when missing and reports its file system's size in GiB. */
int learn_storage(const char *dir, uint64_t *total_gib, uint64_t *avail_gib, loam_err *err);

/* When the kernel's arch (from /proc/cpuinfo; NULL when it does not say)
 * is not the userland's, adds the facts emulation and emulation_missing
 * and blanks cpu_model (learn_emu.c). */
void learn_emulation(const struct loam_arch *userland, const struct loam_arch *kernel,
		     json_t *facts, json_t *sources);

/* ---- the walk (learn.c) ---- */

/* Every fact of `loam-host learn` as one JSON object (see verb_learn.c). */
int learn_facts(const struct learn_root *root, const char *storage_dir, json_t **out,
		loam_err *err);

#endif
