/*
 * The links of a VM's network (docs/network.md): its namespace, the veth
 * pair from the host into it, the tap inside it, their addresses and
 * routes, and forwarding in the namespace. Links are created only when
 * missing (a running guest keeps its tap); addresses and routes are set
 * with `ip ... replace`, which is idempotent, in one `ip -batch` per
 * namespace. Every word comes from a checked spec (lib/inet.h) or a fixed
 * name, and `ip` reads it by argv or as batch lines, never through a
 * shell. The guest has no route out unless its host has egress on.
 */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "host/net_internal.h"
#include "host/vm.h"
#include "lib/cleanup.h"
#include "lib/fs.h"
#include "lib/spawn.h"
#include "lib/xalloc.h"

#define NSFS_MAGIC_NUMBER 0x6e736673 /* linux/magic.h's NSFS_MAGIC */
#define BATCH_MAX	  4096

int net_run(const char *const *argv, const char *input, bool ok_fail, loam_err *err)
{
	char tool[PATH_MAX];
	if (vm_tool(argv[0], tool, err) < 0)
		return -1;
	const char *words[24] = {tool};
	for (size_t i = 1; i < 23 && argv[i]; i++)
		words[i] = argv[i];
	struct loam_spawn_opts o = {.argv = words,
				    .stdin_data = input,
				    .stdin_len = input ? strlen(input) : 0,
				    .timeout_ms = NET_TOOL_MS};
	struct loam_spawn_result r;
	int rc = ok_fail ? loam_spawn(&o, &r, err) : loam_spawn_ok(&o, &r, err);
	if (rc == 0)
		loam_spawn_result_free(&r);
	return rc;
}

static void ns_path(const char *netns, char out[VM_NET_PATH_MAX])
{
	snprintf(out, VM_NET_PATH_MAX, NET_NETNS_DIR "/%s", netns);
}

bool net_ns_exists(const char *netns)
{
	char path[VM_NET_PATH_MAX];
	ns_path(netns, path);
	struct statfs fs;
	return statfs(path, &fs) == 0 && (unsigned long)fs.f_type == NSFS_MAGIC_NUMBER;
}

int net_ns_switch(const char *netns, int *back_fd, loam_err *err)
{
	char path[VM_NET_PATH_MAX];
	ns_path(netns, path);
	cleanup_close int target = open(path, O_RDONLY | O_CLOEXEC);
	if (target < 0)
		return loam_fail_errno(err, "open the namespace %s", path);
	*back_fd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (*back_fd < 0)
		return loam_fail_errno(err, "open /proc/self/ns/net");
	if (setns(target, CLONE_NEWNET) < 0) {
		loam_fail_errno(err, "enter the namespace %s", netns);
		close(*back_fd);
		*back_fd = -1;
		return -1;
	}
	return 0;
}

int net_ns_return(int back_fd, loam_err *err)
{
	int rc = setns(back_fd, CLONE_NEWNET);
	close(back_fd);
	return rc < 0 ? loam_fail_errno(err, "return to the host's namespace") : 0;
}

/* `ip netns add`, after removing a file left by a creation that crashed
 * before its mount; *made tells whether it is new (and so empty). */
static int make_ns(const struct vm_net *n, bool *made, loam_err *err)
{
	*made = false;
	if (net_ns_exists(n->netns))
		return 0;
	char path[VM_NET_PATH_MAX];
	ns_path(n->netns, path);
	unlink(path);
	const char *argv[] = {"ip", "netns", "add", n->netns, NULL};
	*made = net_run(argv, NULL, false, err) == 0;
	return *made ? 0 : -1;
}

/* In the namespace: the tap, owned by the VM's user, with vnet_hdr, and
 * multiqueue for more than one queue (QEMU must ask for the same); a
 * line of ns_side's batch when it is not there yet. */
static void add_tap(char *b, const struct vm_net *n, uid_t uid, gid_t gid)
{
	if (if_nametoindex(NET_TAP) != 0)
		return;
	net_appendf(b, BATCH_MAX, "tuntap add dev %s mode tap user %u group %u vnet_hdr%s\n",
		    NET_TAP, (unsigned)uid, (unsigned)gid, n->queues > 1 ? " multi_queue" : "");
}

/* The host's end: the veth pair (its peer made in the namespace) when it
 * is not there yet, its link addresses, and the routes to the guest's
 * address and /64 through the namespace. One ip run: each is a spawn. */
static int host_side(const struct vm_net *n, loam_err *err)
{
	char v4[LOAM_INET_STRLEN], v6[LOAM_CIDR_STRLEN], host6[LOAM_INET_STRLEN];
	uint8_t h6[16];
	struct loam_net6 subnet0;
	loam_net6_subnet(&n->host_prefix, 64, 0, &subnet0);
	loam_net6_host(&subnet0, 1, h6);
	loam_inet6_format(h6, host6);
	loam_inet4_format(n->ipv4, v4);
	loam_net6_format(&n->prefix, v6);
	cleanup_free char *b = xcalloc(1, BATCH_MAX);
	if (if_nametoindex(n->veth) == 0)
		net_appendf(b, BATCH_MAX, "link add %s type veth peer name %s netns %s\n", n->veth,
			    NET_VETH_NS, n->netns);
	net_appendf(b, BATCH_MAX, "link set dev %s addrgenmode none\n", n->veth);
	net_appendf(b, BATCH_MAX, "addr replace %s/32 dev %s\n", NET_HOST4, n->veth);
	net_appendf(b, BATCH_MAX, "addr replace %s/64 dev %s nodad\n", NET_HOST6_LL, n->veth);
	net_appendf(b, BATCH_MAX, "addr replace %s/128 dev %s nodad\n", host6, n->veth);
	net_appendf(b, BATCH_MAX, "link set dev %s up\n", n->veth);
	net_appendf(b, BATCH_MAX, "route replace %s/32 via %s dev %s onlink src %s\n", v4, NET_GW4,
		    n->veth, NET_HOST4);
	net_appendf(b, BATCH_MAX, "route replace %s via %s dev %s src %s\n", v6, NET_GW6, n->veth,
		    host6);
	const char *argv[] = {"ip", "-batch", "-", NULL};
	return net_run(argv, b, false, err);
}

/* Inside the namespace: the tap's gateway addresses (the pool's network
 * address, without its route, only gives dnsmasq a DHCP context for the
 * guest's /32), the veth's, and the routes to the guest and the host. */
static int ns_side(const struct vm_net *n, uid_t uid, gid_t gid, loam_err *err)
{
	char v4[LOAM_INET_STRLEN], pool[LOAM_CIDR_STRLEN], gw6[LOAM_INET_STRLEN];
	char host6[LOAM_INET_STRLEN];
	uint8_t a[16];
	struct loam_net6 subnet0;
	loam_inet4_format(n->ipv4, v4);
	loam_net4_format(&n->pool, pool);
	loam_net6_host(&n->prefix, 1, a);
	loam_inet6_format(a, gw6);
	loam_net6_subnet(&n->host_prefix, 64, 0, &subnet0);
	loam_net6_host(&subnet0, 1, a);
	loam_inet6_format(a, host6);
	cleanup_free char *b = xcalloc(1, BATCH_MAX);
	add_tap(b, n, uid, gid);
	net_appendf(b, BATCH_MAX, "link set dev lo up\n");
	for (int i = 0; i < 2; i++) {
		const char *dev = i ? NET_TAP : NET_VETH_NS;
		net_appendf(b, BATCH_MAX, "link set dev %s addrgenmode none\n", dev);
		net_appendf(b, BATCH_MAX, "addr replace %s/32 dev %s\n", NET_GW4, dev);
		net_appendf(b, BATCH_MAX, "addr replace %s/64 dev %s nodad\n", NET_GW6, dev);
	}
	net_appendf(b, BATCH_MAX, "addr replace %s dev %s noprefixroute\n", pool, NET_TAP);
	net_appendf(b, BATCH_MAX, "addr replace %s/64 dev %s nodad\n", gw6, NET_TAP);
	net_appendf(b, BATCH_MAX, "link set dev %s up\nlink set dev %s up\n", NET_VETH_NS, NET_TAP);
	net_appendf(b, BATCH_MAX, "route replace %s/32 dev %s\n", NET_HOST4, NET_VETH_NS);
	net_appendf(b, BATCH_MAX, "route replace %s/128 via %s dev %s\n", host6, NET_HOST6_LL,
		    NET_VETH_NS);
	net_appendf(b, BATCH_MAX, "route replace %s/32 dev %s\n", v4, NET_TAP);
	const char *argv[] = {"ip", "-batch", "-", NULL};
	return net_run(argv, b, false, err);
}

static int write_sysctl(const char *path, const char *value, loam_err *err)
{
	cleanup_close int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, value, strlen(value)) < 0)
		return loam_fail_errno(err, "write %s", path);
	return 0;
}

/* With egress, a default route to the host; without, none: the guest's
 * packets to anywhere else have nowhere to go. In the namespace; a new
 * one has no default route to delete. */
static int egress_routes(const struct vm_net *n, bool new_ns, loam_err *err)
{
	if (n->egress) {
		const char *b =
		    "route replace default via " NET_HOST4 " dev " NET_VETH_NS " onlink\n"
		    "route replace default via " NET_HOST6_LL " dev " NET_VETH_NS "\n";
		const char *argv[] = {"ip", "-batch", "-", NULL};
		return net_run(argv, b, false, err);
	}
	if (new_ns)
		return 0;
	const char *del4[] = {"ip", "route", "del", "default", NULL};
	const char *del6[] = {"ip", "-6", "route", "del", "default", NULL};
	return net_run(del4, NULL, true, err) < 0 || net_run(del6, NULL, true, err) < 0 ? -1 : 0;
}

static int inside(const struct vm_net *n, uid_t uid, gid_t gid, bool new_ns, loam_err *err)
{
	if (ns_side(n, uid, gid, err) < 0 ||
	    write_sysctl("/proc/sys/net/ipv4/ip_forward", "1", err) < 0 ||
	    write_sysctl("/proc/sys/net/ipv6/conf/all/forwarding", "1", err) < 0)
		return -1;
	return egress_routes(n, new_ns, err);
}

int net_links_setup(const struct vm_net *n, uid_t uid, gid_t gid, loam_err *err)
{
	bool new_ns = false;
	if (make_ns(n, &new_ns, err) < 0 || host_side(n, err) < 0)
		return loam_err_wrap(err, "network of VM %s", n->id);
	int back = -1;
	if (net_ns_switch(n->netns, &back, err) < 0)
		return -1;
	int rc = inside(n, uid, gid, new_ns, err);
	if (net_ns_return(back, rc < 0 ? NULL : err) < 0 && rc == 0)
		rc = -1;
	return rc < 0 ? loam_err_wrap(err, "network of VM %s", n->id) : 0;
}

int net_links_egress(const struct vm_net *n, loam_err *err)
{
	int back = -1;
	if (net_ns_switch(n->netns, &back, err) < 0)
		return -1;
	int rc = egress_routes(n, false, err);
	if (net_ns_return(back, rc < 0 ? NULL : err) < 0)
		return -1;
	return rc;
}

/* The veth's host end can outlive `ip netns del` for a moment (the kernel
 * tears the namespace down in the background); wait for it, as a new
 * namespace of the same VM would clash with it. */
static int wait_link_gone(const char *veth, loam_err *err)
{
	for (int i = 0; i < 100 && if_nametoindex(veth) != 0; i++)
		usleep(20 * 1000);
	if (if_nametoindex(veth) == 0)
		return 0;
	const char *argv[] = {"ip", "link", "del", veth, NULL};
	if (net_run(argv, NULL, true, err) < 0)
		return -1;
	return if_nametoindex(veth) == 0
		   ? 0
		   : loam_fail(err, LOAM_E_IO,
			       "the veth %s is still there after its namespace "
			       "was deleted",
			       veth);
}

int net_ns_delete(const char *netns, const char *veth, loam_err *err)
{
	char path[VM_NET_PATH_MAX];
	ns_path(netns, path);
	struct stat st;
	if (lstat(path, &st) == 0) {
		const char *argv[] = {"ip", "netns", "del", netns, NULL};
		if (net_run(argv, NULL, !net_ns_exists(netns), err) < 0)
			return -1;
		unlink(path); /* a file without its mount: ip leaves it */
	}
	return wait_link_gone(veth, err);
}

void net_uplink(char out[16])
{
	out[0] = '\0';
	cleanup_fclose FILE *f = fopen("/proc/net/route", "re");
	char line[256], dev[32];
	unsigned long dest = 1, mask = 1;
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "%31s %lx %*x %*x %*d %*d %*d %lx", dev, &dest, &mask) == 3 &&
		    dest == 0 && mask == 0 && strlen(dev) < 16 &&
		    strspn(dev,
			   "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") ==
			strlen(dev)) {
			snprintf(out, 16, "%s", dev);
			return;
		}
}
