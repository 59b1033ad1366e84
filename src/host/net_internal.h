/*
 * What the files of a VM's network share (net.h is the interface): the
 * paths under D/net/<id>/, running `ip` and `nft`, doing work inside the
 * VM's namespace, and the fixed link addresses every namespace uses:
 *
 *   169.254.0.1   the namespace: the guest's gateway and DNS server (tap0)
 *                 and the host's next hop to the guest (veth0)
 *   169.254.0.2   the host's end of every VM's veth
 *   fe80::1       the namespace on tap0 and veth0 (the guest's IPv6 router)
 *   fe80::2       the host's end of every veth
 *   <host prefix>:0::1   the host's IPv6 source towards its VMs (subnet 0)
 *
 * Files: net.c (setup, purge, the launcher's calls), net_spec.c (the spec),
 * net_link.c (namespace, veth, tap, addresses, routes), net_rules.c
 * (nftables), net_dnsmasq.c (dnsmasq).
 */
#ifndef LOAM_HOST_NET_INTERNAL_H
#define LOAM_HOST_NET_INTERNAL_H

#include "host/net.h"

#define NET_TAP	       "tap0"
#define NET_VETH_NS    "veth0"
#define NET_GW4	       "169.254.0.1"
#define NET_HOST4      "169.254.0.2"
#define NET_LINK4      "169.254.0.0/16"
#define NET_GW6	       "fe80::1"
#define NET_HOST6_LL   "fe80::2"
#define NET_NETNS_DIR  "/run/netns"
#define NET_TOOL_MS    30000
#define NET_DNS_PORT   53
#define NET_DHCP4_PORT 67
#define NET_DHCP6_PORT 547

struct net_paths {
	char root[VM_NET_PATH_MAX]; /* D/net */
	char dir[VM_NET_PATH_MAX];  /* D/net/<id> */
	char spec[VM_NET_PATH_MAX];
	char nft[VM_NET_PATH_MAX];
	char dnsmasq_conf[VM_NET_PATH_MAX];
	char dnsmasq_pid[VM_NET_PATH_MAX];
	char dnsmasq_log[VM_NET_PATH_MAX];
};

/* Appends printf-style text to buf (cap bytes, NUL-terminated; the end
 * is cut, never overrun): the ip batches, nft rules and dnsmasq config. */
void net_appendf(char *buf, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

int net_paths_init(const char *state_dir, const char *id, struct net_paths *p, loam_err *err);
/* Makes D/net and D/net/<id>, root's and 0700. */
int net_make_dirs(const struct net_paths *p, loam_err *err);
/* Writes text to path through path.tmp and a rename (no fsync: a host
 * that crashes loses its namespaces too, and vm-start makes all again). */
int net_write_file(const char *path, const char *text, loam_err *err);
/* 1 when path holds exactly text, else 0. */
int net_file_equals(const char *path, const char *text);

/* Runs a tool (ip, nft, dnsmasq) by argv, with text on its stdin when
 * given; ok_fail lets a non-zero exit pass (for "delete if present"). */
int net_run(const char *const *argv, const char *input, bool ok_fail, loam_err *err);

/* The namespace is there (an nsfs mount at /run/netns/<name>). */
bool net_ns_exists(const char *netns);
/* Moves the process into the namespace and back (fds from net_ns_open). */
int net_ns_switch(const char *netns, int *back_fd, loam_err *err);
int net_ns_return(int back_fd, loam_err *err);

/* net_link.c: the namespace, veth, tap, addresses, routes and forwarding. */
int net_links_setup(const struct vm_net *n, uid_t uid, gid_t gid, loam_err *err);
/* Adds or removes the namespace's default route (egress). */
int net_links_egress(const struct vm_net *n, loam_err *err);
int net_ns_delete(const char *netns, const char *veth, loam_err *err);
/* The host's uplink: the device of its IPv4 default route ("" if none). */
void net_uplink(char out[16]);

/* net_rules.c: the namespace's ruleset and the host's egress table. */
char *net_rules_text(const struct vm_net *n);
int net_rules_apply(const struct net_paths *p, const struct vm_net *n, loam_err *err);
char *net_egress_text(const struct vm_net *n, const char *uplink, const char *table);
int net_egress_host(const char *state_dir, const struct vm_net *n, loam_err *err);

/* net_dnsmasq.c */
char *net_dnsmasq_text(const struct vm_net *n, const struct net_paths *p, const char *user,
		       const char *const *upstreams);
/* Starts dnsmasq in the namespace (after net_links_setup) unless one with
 * this config runs already; a changed config replaces it. */
int net_dnsmasq_ensure(const struct net_paths *p, const struct vm_net *n, loam_err *err);
/* The running dnsmasq's pid, 0 when none. */
pid_t net_dnsmasq_pid(const struct net_paths *p);
int net_dnsmasq_stop(const struct net_paths *p, loam_err *err);
/* The nameservers of the host's resolv.conf that a namespace can reach
 * (not loopback), at most max; for egress. */
size_t net_host_nameservers(char out[][LOAM_INET_STRLEN], size_t max);

#endif
