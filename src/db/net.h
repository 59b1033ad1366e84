/*
 * The network model (docs/network.md): a host's IPv4 pool, IPv6 prefix and
 * egress switch; the addresses a VM gets on its host (vm_net: slot n of the
 * pool and of the prefix, and a MAC from its id); the inbound ports its
 * user opened (vm_port). The allocator counts a host's addresses
 * (ipv4_total, ipv4_used), so a VM is placed only where one is free; the
 * address itself is assigned when the VM is prepared and deleted in the
 * transaction that releases the VM from its host (src/alloc/release.c).
 */
#ifndef LOAM_DB_NET_H
#define LOAM_DB_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db/db.h"
#include "lib/err.h"
#include "lib/inet.h"

/* A host's pool unless the operator sets another (loam host set H
 * --ipv4-pool CIDR); the migration's column default says the same. */
#define LOAM_NET_DEFAULT_POOL "10.200.0.0/16"
#define LOAM_NET_POOL_MIN_LEN 8
#define LOAM_NET_POOL_MAX_LEN 30
/* A host's IPv6 prefix holds a /64 per VM and the host's own /64. */
#define LOAM_NET_PREFIX_MIN_LEN 16
#define LOAM_NET_PREFIX_MAX_LEN 60

/* Parses and checks an IPv4 pool / a host IPv6 prefix as the operator
 * gives them (not loopback, link-local, multicast or reserved). */
int loam_net_pool_parse(const char *cidr, struct loam_net4 *out, loam_err *err);
int loam_net_prefix_parse(const char *cidr, struct loam_net6 *out, loam_err *err);
/* The host's prefix: the configured one (NULL: none), else a ULA /48 made
 * from its id. */
int loam_net_host_prefix(const char *host_id, const char *configured, struct loam_net6 *out,
			 loam_err *err);
/* How many VMs a pool and a prefix hold together: the pool's addresses but
 * its network and broadcast ones, and the prefix's /64s but the first. */
int64_t loam_net_capacity(const struct loam_net4 *pool, const struct loam_net6 *prefix);

/* ---- the operator's settings (run in the transaction that loaded the
 * host; a pool or prefix change is refused while VMs on the host hold
 * addresses, since theirs would move) ---- */
int loam_host_set_ipv4_pool(struct loam_db *db, const char *host_id, const char *cidr,
			    loam_err *err);
/* cidr NULL: back to the host's own ULA /48. */
int loam_host_set_ipv6_prefix(struct loam_db *db, const char *host_id, const char *cidr,
			      loam_err *err);
int loam_host_set_egress(struct loam_db *db, const char *host_id, bool on, loam_err *err);
/* The ids of the VMs placed on the host (to tell each of a change). */
int loam_host_vm_ids(struct loam_db *db, const char *host_id, char ***ids, size_t *n,
		     loam_err *err);

/* ---- a VM's addresses ---- */

struct loam_vm_net {
	char *host_id, *mac, *ipv4, *ipv6, *ipv6_prefix;
	int64_t slot;
};
void loam_vm_net_free(struct loam_vm_net *n);
#define cleanup_vm_net_row __attribute__((cleanup(loam_vm_net_free)))

/* 1 with *out, 0 when the VM has no addresses (yet). */
int loam_vm_net_get(struct loam_db *db, const char *vm_id, struct loam_vm_net *out, loam_err *err);
/* The VM's addresses on host_id: the ones it has, or the lowest free slot
 * of the host, recorded now. LOAM_E_NOCAPACITY when the host has none
 * free (the allocator prevents that). */
int loam_vm_net_assign(struct loam_db *db, const char *vm_id, const char *host_id,
		       struct loam_vm_net *out, loam_err *err);
/* Deletes the VM's addresses; for the release transaction. */
int loam_vm_net_release(struct loam_db *db, const char *vm_id, loam_err *err);

/* ---- the VM's open ports ---- */

struct loam_vm_port {
	unsigned port;
	char proto[4];	 /* "tcp" or "udp" */
	char source[64]; /* "" for any address outside the host's VMs, else a CIDR */
};

/* "80", "80/tcp" or "53/udp", and an optional source CIDR (NULL or ""). */
int loam_vm_port_parse(const char *rule, const char *source, struct loam_vm_port *out,
		       loam_err *err);
/* "80/tcp" or "80/tcp from 10.0.0.0/8". */
void loam_vm_port_format(const struct loam_vm_port *p, char *buf, size_t size);
/* The VM's ports, by port, proto and source. */
int loam_vm_ports(struct loam_db *db, const char *vm_id, struct loam_vm_port **out, size_t *n,
		  loam_err *err);
/* *changed: false when the rule was there already (add) or absent (rm). */
int loam_vm_port_add(struct loam_db *db, const char *vm_id, const struct loam_vm_port *p,
		     bool *changed, loam_err *err);
int loam_vm_port_rm(struct loam_db *db, const char *vm_id, const struct loam_vm_port *p,
		    bool *changed, loam_err *err);

#endif
