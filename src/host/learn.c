/*
 * The walk behind `loam-host learn`: reads every fact from a root (this
 * host's / or a copied tree), judges KVM through the arch interface, and
 * builds the one JSON object the control plane stores. Key names are a
 * contract with loamd; add keys, never rename them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include "host/learn.h"

#include "host/jail.h"
#include "proto/agent.h"
#include "lib/cleanup.h"
#include "lib/json.h"

#define CPU_MODEL_LEN 128

struct learn_ctx {
	const struct learn_root *root;
	json_t *facts, *sources;
	struct learn_cpuinfo cpuinfo;
	const struct loam_arch *arch;
};

static void put_int(struct learn_ctx *c, const char *key, long long v, const char *source)
{
	json_object_set_new(c->facts, key, json_integer(v));
	if (source)
		json_object_set_new(c->sources, key, json_string(source));
}

static void put_str(struct learn_ctx *c, const char *key, const char *v, const char *source)
{
	json_object_set_new(c->facts, key, json_string(v ? v : ""));
	if (source)
		json_object_set_new(c->sources, key, json_string(source));
}

/* A one-line file of the tree, trailing newline dropped; NULL if unreadable. */
static char *read_line(const struct learn_root *root, const char *rel)
{
	char *buf = NULL;
	cleanup_err loam_err err = NULL;
	if (learn_read(root, rel, 256, &buf, NULL, &err) < 0)
		return NULL;
	buf[strcspn(buf, "\n")] = '\0';
	return buf;
}

static const struct loam_arch *arch_from_cpuinfo(const struct learn_cpuinfo *ci)
{
	for (size_t i = 0; ci->n && loam_arches[i]; i++)
		if (loam_arches[i]->cpuinfo_signature_key &&
		    learn_cpuinfo_get(&ci->blocks[0], loam_arches[i]->cpuinfo_signature_key))
			return loam_arches[i];
	return NULL;
}

/* The arch, uname_machine and kernel: uname(2) on this host; from the tree
 * under --root when it says (the kernel's own arch file, else a cpuinfo key
 * only one arch has), else uname(2). */
static int learn_system(struct learn_ctx *c, loam_err *err)
{
	struct utsname u;
	if (uname(&u) < 0)
		return loam_fail_errno(err, "uname");
	const char *machine = u.machine, *arch_source = "uname(2)";
	cleanup_free char *tree_machine = NULL, *tree_release = NULL;
	if (!c->root->is_host) {
		if ((tree_machine = read_line(c->root, "proc/sys/kernel/arch"))) {
			machine = tree_machine;
			arch_source = "/proc/sys/kernel/arch";
		} else if ((c->arch = arch_from_cpuinfo(&c->cpuinfo))) {
			machine = c->arch->uname_machine;
			arch_source = "/proc/cpuinfo";
		}
		tree_release = read_line(c->root, "proc/sys/kernel/osrelease");
	}
	if (!c->arch && !(c->arch = loam_arch_normalize(machine, err)))
		return loam_err_wrap(err, "arch of %s", c->root->dir);
	put_str(c, LOAM_KEY_ARCH, c->arch->name, arch_source);
	put_str(c, "uname_machine", machine, arch_source);
	if (c->root->is_host)
		put_str(c, LOAM_FACT_KERNEL, u.release, "uname(2)");
	else
		put_str(c, LOAM_FACT_KERNEL, tree_release ? tree_release : "",
			tree_release ? "/proc/sys/kernel/osrelease" : "unavailable");
	return 0;
}

static int read_cpulist(const struct learn_root *root, const char *rel, struct learn_cpuset *set,
			loam_err *err)
{
	cleanup_free char *buf = NULL;
	if (learn_read(root, rel, 0, &buf, NULL, err) < 0 || learn_cpulist_parse(buf, set, err) < 0)
		return loam_err_wrap(err, "%s", rel);
	return 0;
}

/* Present and online: "possible" lists CPUs that may never exist. */
static int learn_cpuset(struct learn_ctx *c, struct learn_cpuset *set, loam_err *err)
{
	struct learn_cpuset online;
	cleanup_err loam_err e1 = NULL, e2 = NULL;
	int have_present = read_cpulist(c->root, "sys/devices/system/cpu/present", set, &e1);
	int have_online = read_cpulist(c->root, "sys/devices/system/cpu/online", &online, &e2);
	if (have_present < 0 && have_online < 0) {
		*err = loam_steal(&e1);
		return loam_err_wrap(err, "learn CPUs");
	}
	if (have_present < 0)
		*set = online;
	else if (have_online == 0)
		learn_cpuset_and(set, &online);
	if (learn_cpuset_count(set) == 0)
		return loam_fail(err, LOAM_E_INVALID,
				 "learn CPUs: no CPU is both present and online");
	return 0;
}

static void put_core_types(struct learn_ctx *c, const struct learn_cpu_topo *cpus, size_t n)
{
	json_t *types = json_array();
	for (size_t i = 0; i < n;) {
		size_t j = i;
		while (j < n && strcmp(cpus[j].model, cpus[i].model) == 0 &&
		       cpus[j].capacity == cpus[i].capacity)
			j++;
		json_t *t =
		    json_pack("{s:s, s:I, s:I}", "model", cpus[i].model, "cpus",
			      (json_int_t)(j - i), "capacity", (json_int_t)cpus[i].capacity);
		json_array_append_new(types, t);
		i = j;
	}
	json_object_set_new(c->facts, "core_types", types);
}

static void put_topology(struct learn_ctx *c, const struct learn_topo_summary *s)
{
	const char *topo = "/sys/devices/system/cpu/cpu*/topology";
	put_int(c, LOAM_FACT_CPUS, s->cpus, "/sys/devices/system/cpu/present ∩ online");
	put_int(c, LOAM_FACT_CORES, s->cores, topo);
	put_int(c, LOAM_FACT_SOCKETS, s->sockets, topo);
	put_int(c, LOAM_FACT_DIES, s->dies, topo);
	put_int(c, "clusters", s->clusters, topo);
	put_int(c, LOAM_FACT_THREADS_PER_CORE, s->threads_per_core, topo);
	json_object_set_new(c->facts, "threads_per_core_uniform", json_boolean(s->threads_uniform));
	json_object_set_new(c->facts, "heterogeneous",
			    json_boolean(!s->threads_uniform || s->core_types > 1));
}

static int learn_cpus(struct learn_ctx *c, loam_err *err)
{
	cleanup_free struct learn_cpuset *set = malloc(sizeof(*set));
	cleanup_free struct learn_cpu_topo *cpus = NULL;
	size_t n = 0;
	if (!set)
		return loam_fail(err, LOAM_E_INTERNAL, "out of memory");
	if (learn_cpuset(c, set, err) < 0 || learn_topology_read(c->root, set, &cpus, &n, err) < 0)
		return -1;
	cleanup_free char(*models)[CPU_MODEL_LEN] = calloc(n, CPU_MODEL_LEN);
	if (!models)
		return loam_fail(err, LOAM_E_INTERNAL, "out of memory");
	for (size_t i = 0; i < n; i++) {
		const void *block = learn_cpuinfo_for_cpu(&c->cpuinfo, cpus[i].cpu);
		if (c->arch->cpu_model)
			c->arch->cpu_model(learn_cpuinfo_get, block, models[i], CPU_MODEL_LEN);
		cpus[i].model = models[i];
	}
	/* The model of the lowest CPU, before summarizing reorders them. */
	put_str(c, LOAM_FACT_CPU_MODEL, cpus[0].model, "/proc/cpuinfo");
	struct learn_topo_summary s;
	learn_topology_summarize(cpus, n, &s);
	put_topology(c, &s);
	put_core_types(c, cpus, n);
	return 0;
}

static int count_dir(const char *name, void *ctx)
{
	(void)name;
	(*(unsigned *)ctx)++;
	return 0;
}

/* node* directories, gaps allowed; a kernel without NUMA has one node. */
static void learn_numa(struct learn_ctx *c)
{
	unsigned nodes = 0;
	cleanup_err loam_err err = NULL;
	learn_each_dir(c->root, "sys/devices/system/node", "node", false, count_dir, &nodes, &err);
	put_int(c, LOAM_FACT_NUMA_NODES, nodes ? nodes : 1,
		nodes ? "/sys/devices/system/node/node*" : "no NUMA nodes listed: one node");
}

static int learn_mem(struct learn_ctx *c, loam_err *err)
{
	struct learn_memory m;
	if (learn_memory(c->root, &m, err) < 0)
		return -1;
	put_int(c, LOAM_FACT_MEMORY_GIB, (long long)m.gib, m.path);
	put_str(c, "memory_source", m.source, NULL);
	long total, avail;
	learn_hugepages_1g(c->root, &total, &avail);
	const char *hp = "/sys/kernel/mm/hugepages/hugepages-1048576kB";
	put_int(c, LOAM_FACT_HUGEPAGES_TOTAL, total, hp);
	put_int(c, LOAM_FACT_HUGEPAGES_FREE, avail, hp);
	return 0;
}

static int learn_disk(struct learn_ctx *c, const char *storage_dir, loam_err *err)
{
	uint64_t total, avail;
	if (learn_storage(storage_dir, &total, &avail, err) < 0)
		return -1;
	put_str(c, "storage_dir", storage_dir, NULL);
	put_int(c, LOAM_FACT_STORAGE_TOTAL, (long long)total, "statvfs(storage_dir)");
	put_int(c, LOAM_FACT_STORAGE_AVAILABLE, (long long)avail, "statvfs(storage_dir)");
	return 0;
}

static void learn_kvm(struct learn_ctx *c)
{
	const void *first = c->cpuinfo.n ? &c->cpuinfo.blocks[0] : NULL;
	const char *key = c->arch->cpuinfo_flags_key;
	const char *flags = key ? learn_cpuinfo_get(first, key) : NULL;
	char module[64];
	struct loam_kvm_probe probe;
	learn_kvm_probe(c->root, flags, &probe, module, sizeof(module));
	const char *reason = "";
	bool usable = c->arch->kvm_usable(&probe, &reason);
	json_object_set_new(c->facts, LOAM_FACT_KVM, json_boolean(usable));
	json_object_set_new(c->facts, "kvm_reason", json_string(reason));
	json_object_set_new(c->facts, "kvm_module", json_string(module));
	json_object_set_new(c->sources, "kvm",
			    json_string("/dev/kvm ioctls, /sys/module/kvm_*, /proc/cpuinfo flags"));
}

static void learn_os(struct learn_ctx *c)
{
	cleanup_free char *buf = NULL, *pretty = NULL;
	cleanup_err loam_err err = NULL;
	const char *paths[] = {"etc/os-release", "usr/lib/os-release"};
	for (size_t i = 0; i < 2; i++) {
		loam_err_free(&err);
		if (learn_read(c->root, paths[i], 0, &buf, NULL, &err) == 0 &&
		    learn_os_release_pretty(buf, &pretty, &err) == 0) {
			char source[32];
			snprintf(source, sizeof(source), "/%s", paths[i]);
			put_str(c, LOAM_FACT_OS, pretty, source);
			return;
		}
	}
	put_str(c, LOAM_FACT_OS, "", "unavailable");
}

/* The jail's active parts, and each part left out with its reason. */
static void learn_jail(struct learn_ctx *c)
{
	char jail[256];
	jail_support(jail, sizeof(jail));
	put_str(c, LOAM_FACT_JAIL, jail, "clone and pivot_root in a child, /sys/fs/cgroup");
	const struct jail_caps *caps = jail_caps();
	json_t *missing = json_array();
	for (size_t i = 0; i < caps->n_missing; i++)
		json_array_append_new(missing, json_string(caps->missing[i]));
	json_object_set_new(c->facts, LOAM_FACT_JAIL_MISSING, missing);
}

static int learn_all(struct learn_ctx *c, const char *storage_dir, loam_err *err)
{
	cleanup_free char *buf = NULL;
	size_t len = 0;
	if (learn_read(c->root, "proc/cpuinfo", 16u << 20, &buf, &len, err) < 0 ||
	    learn_cpuinfo_parse(buf, len, &c->cpuinfo, err) < 0)
		return loam_err_wrap(err, "learn CPU model");
	if (learn_system(c, err) < 0 || learn_cpus(c, err) < 0)
		return -1;
	learn_numa(c);
	if (c->root->is_host)
		learn_emulation(c->arch, arch_from_cpuinfo(&c->cpuinfo), c->facts, c->sources);
	if (learn_mem(c, err) < 0 || learn_disk(c, storage_dir, err) < 0)
		return -1;
	learn_kvm(c);
	learn_os(c);
	if (c->root->is_host)
		learn_jail(c);
	else
		json_object_set_new(c->facts, "root", json_string(c->root->dir));
	json_object_set(c->facts, "sources", c->sources);
	return 0;
}

int learn_facts(const struct learn_root *root, const char *storage_dir, json_t **out, loam_err *err)
{
	struct learn_ctx c = {.root = root, .facts = json_object(), .sources = json_object()};
	int rc = learn_all(&c, storage_dir, err);
	learn_cpuinfo_free(&c.cpuinfo);
	json_decref(c.sources);
	if (rc < 0) {
		json_decref(c.facts);
		return -1;
	}
	*out = c.facts;
	return 0;
}
