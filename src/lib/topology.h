/*
 * Guest CPU topology scaled down from the host's (docs/design.md §2): a VM gets
 * the host's threads per core, then fills one die before adding dies, and
 * one package before adding packages, so a small VM looks like a slice of
 * its host and the guest scheduler sees real SMT siblings and cache domains.
 * Common code: the shape is data, no arch is named here.
 */
#ifndef LOAM_TOPOLOGY_H
#define LOAM_TOPOLOGY_H

#include <stdbool.h>

#include "lib/err.h"

/* Guest CPU topology: packages x dies x cores x threads == vcpus. */
struct loam_topology {
	unsigned packages, dies, cores, threads;
};

/* The host's shape as `learn` reports it. */
struct loam_host_topology {
	unsigned sockets;
	unsigned dies_per_socket;
	unsigned cores_per_die;
	unsigned threads_per_core;
};

/*
 * Scales host down to vcpus: out->packages * dies * cores * threads == vcpus.
 * Threads per core are the host's; when vcpus is not a multiple of them the
 * largest smaller thread count that divides vcpus is used (1 at worst) and
 * a warning is logged. A VM larger than its host's shape keeps the host's
 * die size and grows in dies and packages. Fails (LOAM_E_INVALID) on a zero
 * count or absurd sizes.
 */
int loam_topology_scale(const struct loam_host_topology *host, unsigned vcpus,
			struct loam_topology *out, loam_err *err);

/*
 * The host's shape from the totals `loam-host learn` reports (sockets,
 * dies, physical cores, threads per core; dies are totals over all
 * sockets, and at least one per socket). Uneven splits round down, never
 * below 1. Fails on a zero count.
 */
int loam_host_topology_from_learned(unsigned sockets, unsigned dies, unsigned cores,
				    unsigned threads_per_core, struct loam_host_topology *out,
				    loam_err *err);

/* True when the shape is non-zero everywhere and multiplies to vcpus. */
bool loam_topology_valid(const struct loam_topology *t, unsigned vcpus);

#endif
