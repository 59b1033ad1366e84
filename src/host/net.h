/*
 * A VM's network on its host (docs/network.md): a network namespace of its
 * own, a veth pair that joins it to the host, a tap inside it owned by the
 * VM's user (vnet_hdr; multiqueue when the VM has more than one vCPU), a
 * dnsmasq in it that serves DHCPv4, router advertisements, DHCPv6 and DNS
 * as that user, and nftables rules in it for anti-spoofing and the
 * firewall. Everything is idempotent: setting up twice changes nothing the
 * second time, and purging what is not there is fine.
 *
 * What root writes for it (the saved spec, the dnsmasq config, the nft
 * rules, dnsmasq's pid file) lives in D/net/<id>/, root's alone (0700),
 * never in the VM's own folder, which its user can write.
 *
 * For the VMM's launcher: vm_net_load() reads the saved network of a VM
 * (prepared by vm-prep), vm_net_ensure() re-creates it if the host lost it
 * (a reboot clears namespaces), vm_net_enter() moves the calling process
 * into the namespace (call it in the child, before dropping privileges
 * and exec), vm_net_open_tap() opens its tap there, and vm_net_qemu_args()
 * adds the tap netdev and the virtio-net device.
 */
#ifndef LOAM_HOST_NET_H
#define LOAM_HOST_NET_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/argv.h"
#include "lib/err.h"
#include "lib/inet.h"

#define VM_NET_PORTS_MAX  64
#define VM_NET_QUEUES_MAX 16
#define VM_NET_PATH_MAX	  512

/* One inbound rule: a port open to everyone outside the host's VMs, or
 * (with a source) to that prefix only, other VMs included. */
struct vm_net_port {
	unsigned port;
	char proto[4]; /* "tcp" or "udp" */
	int family;    /* 0: any source; 4 or 6: from4 or from6 */
	struct loam_net4 from4;
	struct loam_net6 from6;
};

struct vm_net {
	char id[64];
	char netns[80]; /* "loam-<id>" */
	char veth[16];	/* the host end: "lvh" + 12 hex digits of SHA-256(id) */
	char mac[LOAM_MAC_STRLEN];
	unsigned queues; /* tap queues: 1, or the vCPUs (at most VM_NET_QUEUES_MAX) */
	uint32_t ipv4;
	struct loam_net4 pool; /* the host's IPv4 pool */
	uint8_t ipv6[16];
	struct loam_net6 prefix;      /* the VM's /64 */
	struct loam_net6 host_prefix; /* the host's prefix, whose subnet 0 is the host's */
	bool egress;
	struct vm_net_port ports[VM_NET_PORTS_MAX];
	size_t nports;
	json_t *json; /* the spec as sent (owned) */
};

void vm_net_free(struct vm_net *n);
#define cleanup_vm_net __attribute__((cleanup(vm_net_free)))

/* The names of a VM's namespace and host-side veth. */
int vm_net_names(const char *id, char netns[80], char veth[16], loam_err *err);
/* Checks and reads the "net" object of a VM spec (takes a reference).
 * LOAM_E_INVALID, changing nothing, for anything out of place. */
int vm_net_parse(const char *id, json_t *net, struct vm_net *n, loam_err *err);
/* The network vm-prep saved for the VM: 1 with *n, 0 when it has none. */
int vm_net_load(const char *state_dir, const char *id, struct vm_net *n, loam_err *err);

/* Makes everything (namespace, veth, tap, addresses, routes, rules,
 * dnsmasq) and saves the spec; what exists already is kept, so a running
 * guest keeps its tap and its lease. uid/gid: the VM's user. */
int vm_net_setup(const char *state_dir, const struct vm_net *n, uid_t uid, gid_t gid,
		 loam_err *err);
/* vm_net_setup unless the namespace, the veth and dnsmasq are all there. */
int vm_net_ensure(const char *state_dir, const struct vm_net *n, uid_t uid, gid_t gid,
		  loam_err *err);
/* Applies a changed spec (open ports, egress) to a prepared network. */
int vm_net_update(const char *state_dir, const struct vm_net *n, uid_t uid, gid_t gid,
		  loam_err *err);
/* Stops dnsmasq and deletes the namespace (the veth and the tap go with
 * it) and D/net/<id>. Fine when nothing is there. */
int vm_net_purge(const char *state_dir, const char *id, loam_err *err);

/* D from D/vms (struct vm_paths' `vms`). */
void vm_net_state_dir_of(const char *vms_dir, char out[VM_NET_PATH_MAX]);
/* The saved network of the VM whose D/vms is vms_dir: 1, 0 (none), -1. */
int vm_net_load_vm(const char *vms_dir, const char *id, struct vm_net *n, loam_err *err);

/* The VM's own dnsmasq (the VM's D/vms is vms_dir), or 0: the pid its pid
 * file names (in root's D/net/<id>/, out of the VM user's reach), running
 * a program named dnsmasq with this VM's config. It runs as the VM's user, and
 * vm-start spares it when it ends the user's leftover processes. */
pid_t vm_net_dnsmasq_of(const char *vms_dir, const char *id);

/* setns() of the calling process into the VM's namespace. */
int vm_net_enter(const struct vm_net *n, loam_err *err);
/* -netdev tap,... -device virtio-net-pci,... for the tap in the namespace:
 * by name when first_fd <= 0 (QEMU opens /dev/net/tun, so it must be root),
 * else through the fds first_fd.. (one per queue) of vm_net_open_tap. */
void vm_net_qemu_args(const struct vm_net *n, int first_fd, struct loam_argv *argv);
/* In the jail's child, inside the namespace and still root: opens the tap
 * once per queue and puts the fds at first_fd... -1 with errno on failure. */
int vm_net_open_tap(const struct vm_net *n, int first_fd);
/* What vm-prep reports of the network: {"netns", "tap", "veth", "mac",
 * "ipv4", "ipv6"}. */
json_t *vm_net_report(const struct vm_net *n);

#endif
