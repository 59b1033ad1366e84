/*
 * Guest CPU topology scaling; see topology.h for the rules. Each level takes
 * the smallest count that both fits the host's size for the level below and
 * divides the work evenly, because QEMU's -smp needs a uniform shape.
 */
#include "lib/topology.h"

#include "lib/log.h"

#define TOPOLOGY_MAX_VCPUS 4096

/* Smallest n >= at_least that divides total (total itself at worst). */
static unsigned smallest_divisor_from(unsigned total, unsigned at_least)
{
	for (unsigned n = at_least ? at_least : 1; n < total; n++)
		if (total % n == 0)
			return n;
	return total ? total : 1;
}

static unsigned ceil_div(unsigned a, unsigned b)
{
	return b ? (a + b - 1) / b : a;
}

/* The host's threads per core, or the largest count below it that divides
 * vcpus: an odd VM on an SMT host cannot have uniform sibling pairs. */
static unsigned guest_threads(unsigned host_threads, unsigned vcpus)
{
	unsigned t = host_threads ? host_threads : 1;
	while (t > 1 && vcpus % t != 0)
		t--;
	if (t != host_threads)
		log_warn("topology: %u vCPUs is not a multiple of the host's %u threads per core; "
			 "the guest gets %u thread(s) per core",
			 vcpus, host_threads, t);
	return t;
}

static int check_host(const struct loam_host_topology *h, unsigned vcpus, loam_err *err)
{
	if (!h->sockets || !h->dies_per_socket || !h->cores_per_die || !h->threads_per_core)
		return loam_fail(err, LOAM_E_INVALID,
				 "host topology %ux%ux%ux%u has a zero count; every level of "
				 "sockets x dies x cores x threads must be at least 1",
				 h->sockets, h->dies_per_socket, h->cores_per_die,
				 h->threads_per_core);
	if (vcpus == 0 || vcpus > TOPOLOGY_MAX_VCPUS)
		return loam_fail(err, LOAM_E_INVALID, "vCPU count %u is out of range 1..%u", vcpus,
				 TOPOLOGY_MAX_VCPUS);
	return 0;
}

int loam_topology_scale(const struct loam_host_topology *host, unsigned vcpus,
			struct loam_topology *out, loam_err *err)
{
	if (check_host(host, vcpus, err) < 0)
		return -1;
	unsigned threads = guest_threads(host->threads_per_core, vcpus);
	unsigned cores = vcpus / threads;
	/* Dies in all: as few as hold the cores at the host's die size. */
	unsigned dies = smallest_divisor_from(cores, ceil_div(cores, host->cores_per_die));
	/* Packages: as few as hold those dies at the host's dies per socket. */
	unsigned packages = smallest_divisor_from(dies, ceil_div(dies, host->dies_per_socket));
	if (!packages || !dies) /* cannot happen: divisors are at least 1 */
		return loam_fail(err, LOAM_E_INTERNAL, "topology: no divisor for %u cores", cores);
	*out = (struct loam_topology){
	    .packages = packages,
	    .dies = dies / packages,
	    .cores = cores / dies, /* NOLINT(clang-analyzer-core.DivideZero): dies >= 1 */
	    .threads = threads,
	};
	return 0;
}

int loam_host_topology_from_learned(unsigned sockets, unsigned dies, unsigned cores,
				    unsigned threads_per_core, struct loam_host_topology *out,
				    loam_err *err)
{
	if (!sockets || !cores || !threads_per_core)
		return loam_fail(err, LOAM_E_INVALID,
				 "learned topology has a zero count (sockets %u, cores %u, threads "
				 "per core %u)",
				 sockets, cores, threads_per_core);
	if (dies < sockets) /* arm64 has no die_id: a socket is a die */
		dies = sockets;
	unsigned per_die = cores / dies;
	*out = (struct loam_host_topology){
	    .sockets = sockets,
	    .dies_per_socket = dies / sockets,
	    .cores_per_die = per_die ? per_die : 1,
	    .threads_per_core = threads_per_core,
	};
	return 0;
}

bool loam_topology_valid(const struct loam_topology *t, unsigned vcpus)
{
	if (!t->packages || !t->dies || !t->cores || !t->threads)
		return false;
	if (t->packages > TOPOLOGY_MAX_VCPUS || t->dies > TOPOLOGY_MAX_VCPUS ||
	    t->cores > TOPOLOGY_MAX_VCPUS || t->threads > TOPOLOGY_MAX_VCPUS)
		return false;
	unsigned long long n = (unsigned long long)t->packages * t->dies * t->cores * t->threads;
	return n == vcpus;
}
