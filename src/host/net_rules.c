/*
 * nftables for a VM's network (docs/network.md "Rules"). In the VM's
 * namespace, replaced as a whole in one `nft -f` transaction each time:
 *   - netdev loam_guard, on the tap's ingress: the guest may send only
 *     from its own MAC and addresses (ARP, IPv4, IPv6), only DHCP from
 *     0.0.0.0, no DHCP or router advertisements of its own, nothing but
 *     IPv4, IPv6 and ARP; drops count in the counter "spoofed";
 *   - inet loam_fw: to the namespace itself only DHCP, DNS and ICMP; to
 *     the guest, rules with a source first (they may let other VMs in),
 *     then the host's other VMs are dropped (counter "from_vms"), then
 *     SSH, the open ports and ping; from the guest, with egress off
 *     nothing new leaves (counter "egress_off"), with egress on all but
 *     the host's VMs and link addresses.
 * On the host, with egress on, inet loam_egress_<tag> masquerades the
 * pool and the VMs' prefixes out of the uplink and drops VM to VM
 * forwarding. Every value comes from a checked spec.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "host/net_internal.h"
#include "lib/cleanup.h"
#include "lib/fs.h"
#include "lib/sha256.h"
#include "lib/xalloc.h"

#define RULES_MAX ((size_t)32 * 1024)

/* Every frame from the guest carries its MAC and goes through from_guest;
 * any other MAC is dropped. The namespace's own multicast (its router
 * advertisements), looped back to the tap's ingress, has no link-layer
 * header, matches neither, and passes. */
static void guard(char *t, const struct vm_net *n)
{
	char v4[LOAM_INET_STRLEN], v6[LOAM_CIDR_STRLEN];
	loam_inet4_format(n->ipv4, v4);
	loam_net6_format(&n->prefix, v6);
	net_appendf(t, RULES_MAX,
		    "table netdev loam_guard {\n"
		    "\tcounter spoofed {}\n"
		    "\tchain tap_in {\n"
		    "\t\ttype filter hook ingress device \"%s\" priority -500; policy accept;\n"
		    "\t\tether saddr %s jump from_guest\n"
		    "\t\tether saddr != %s counter name \"spoofed\" drop\n"
		    "\t}\n",
		    NET_TAP, n->mac, n->mac);
	net_appendf(t, RULES_MAX,
		    "\tchain from_guest {\n"
		    "\t\tmeta protocol != { ip, ip6, arp } counter name \"spoofed\" drop\n");
	net_appendf(
	    t, RULES_MAX,
	    "\t\tmeta protocol arp arp saddr ether != %s counter name \"spoofed\" drop\n"
	    "\t\tmeta protocol arp arp saddr ip != { %s, 0.0.0.0 } counter name \"spoofed\" "
	    "drop\n",
	    n->mac, v4);
	net_appendf(
	    t, RULES_MAX,
	    "\t\tmeta protocol ip ip saddr 0.0.0.0 udp dport != %d counter name \"spoofed\" drop\n"
	    "\t\tmeta protocol ip ip saddr != { %s, 0.0.0.0 } counter name \"spoofed\" drop\n"
	    "\t\tmeta protocol ip udp sport %d counter name \"spoofed\" drop\n",
	    NET_DHCP4_PORT, v4, NET_DHCP4_PORT);
	net_appendf(
	    t, RULES_MAX,
	    "\t\tmeta protocol ip6 ip6 saddr != { %s, fe80::/10, :: } counter name \"spoofed\" "
	    "drop\n"
	    "\t\tmeta protocol ip6 udp sport %d counter name \"spoofed\" drop\n"
	    "\t\tmeta protocol ip6 icmpv6 type { nd-router-advert, nd-redirect } counter name "
	    "\"spoofed\" drop\n",
	    v6, NET_DHCP6_PORT);
	net_appendf(t, RULES_MAX, "\t}\n}\n");
}

static void port_match(char *t, const struct vm_net_port *p)
{
	char from[LOAM_CIDR_STRLEN];
	if (p->family == 4) {
		loam_net4_format(&p->from4, from);
		net_appendf(t, RULES_MAX, "\t\tip saddr %s ", from);
	} else if (p->family == 6) {
		loam_net6_format(&p->from6, from);
		net_appendf(t, RULES_MAX, "\t\tip6 saddr %s ", from);
	} else {
		net_appendf(t, RULES_MAX, "\t\t");
	}
	net_appendf(t, RULES_MAX, "%s dport %u accept\n", p->proto, p->port);
}

/* To the guest: sourced rules, then no other VM, then the public ports. */
static void inbound(char *t, const struct vm_net *n)
{
	char host0[LOAM_CIDR_STRLEN];
	struct loam_net6 subnet0;
	loam_net6_subnet(&n->host_prefix, 64, 0, &subnet0);
	loam_net6_format(&subnet0, host0);
	net_appendf(t, RULES_MAX, "\tchain inbound {\n");
	for (size_t i = 0; i < n->nports; i++)
		if (n->ports[i].family)
			port_match(t, &n->ports[i]);
	net_appendf(t, RULES_MAX,
		    "\t\tip saddr @vms counter name \"from_vms\" drop\n"
		    "\t\tip6 saddr != %s ip6 saddr @vms6 counter name \"from_vms\" drop\n"
		    "\t\ttcp dport 22 accept\n",
		    host0);
	for (size_t i = 0; i < n->nports; i++)
		if (!n->ports[i].family)
			port_match(t, &n->ports[i]);
	net_appendf(t, RULES_MAX,
		    "\t\ticmp type echo-request accept\n"
		    "\t\ticmpv6 type echo-request accept\n"
		    "\t}\n");
}

/* From the guest: nothing new without egress; with it, all but the VMs. */
static void outbound(char *t, const struct vm_net *n)
{
	net_appendf(t, RULES_MAX, "\tchain outbound {\n");
	if (!n->egress) {
		net_appendf(t, RULES_MAX, "\t\tcounter name \"egress_off\" drop\n\t}\n");
		return;
	}
	net_appendf(t, RULES_MAX,
		    "\t\tip daddr @vms drop\n"
		    "\t\tip daddr " NET_LINK4 " drop\n"
		    "\t\tip6 daddr @vms6 drop\n"
		    "\t\tip6 daddr fe80::/10 drop\n"
		    "\t\taccept\n"
		    "\t}\n");
}

static void firewall(char *t, const struct vm_net *n)
{
	char pool[LOAM_CIDR_STRLEN], host6[LOAM_CIDR_STRLEN];
	loam_net4_format(&n->pool, pool);
	loam_net6_format(&n->host_prefix, host6);
	net_appendf(t, RULES_MAX,
		    "table inet loam_fw {\n"
		    "\tcounter from_vms {}\n"
		    "\tcounter egress_off {}\n"
		    "\tset vms { type ipv4_addr; flags interval; elements = { %s } }\n"
		    "\tset vms6 { type ipv6_addr; flags interval; elements = { %s } }\n",
		    pool, host6);
	net_appendf(t, RULES_MAX,
		    "\tchain input {\n"
		    "\t\ttype filter hook input priority filter; policy drop;\n"
		    "\t\tct state established,related accept\n"
		    "\t\tiif \"lo\" accept\n"
		    "\t\tiifname \"%s\" udp dport { %d, %d, %d } accept\n"
		    "\t\tiifname \"%s\" tcp dport %d accept\n"
		    "\t\tmeta l4proto { icmp, ipv6-icmp } accept\n"
		    "\t}\n",
		    NET_TAP, NET_DNS_PORT, NET_DHCP4_PORT, NET_DHCP6_PORT, NET_TAP, NET_DNS_PORT);
	net_appendf(t, RULES_MAX,
		    "\tchain forward {\n"
		    "\t\ttype filter hook forward priority filter; policy drop;\n"
		    "\t\tct state established,related accept\n"
		    "\t\tct state invalid drop\n"
		    "\t\tiifname \"%s\" oifname \"%s\" jump inbound\n"
		    "\t\tiifname \"%s\" oifname \"%s\" jump outbound\n"
		    "\t}\n",
		    NET_VETH_NS, NET_TAP, NET_TAP, NET_VETH_NS);
	inbound(t, n);
	outbound(t, n);
	net_appendf(t, RULES_MAX, "}\n");
}

char *net_rules_text(const struct vm_net *n)
{
	char *t = xcalloc(1, RULES_MAX);
	net_appendf(t, RULES_MAX,
		    "# loam: the rules of VM %s (rewritten by vm-prep and vm-net)\nflush ruleset\n",
		    n->id);
	guard(t, n);
	firewall(t, n);
	return t;
}

int net_rules_apply(const struct net_paths *p, const struct vm_net *n, loam_err *err)
{
	cleanup_free char *text = net_rules_text(n);
	if (net_write_file(p->nft, text, err) < 0)
		return -1;
	int back = -1;
	if (net_ns_switch(n->netns, &back, err) < 0)
		return -1;
	const char *argv[] = {"nft", "-f", p->nft, NULL};
	int rc = net_run(argv, NULL, false, err);
	if (net_ns_return(back, rc < 0 ? NULL : err) < 0)
		return -1;
	return rc < 0 ? loam_err_wrap(err, "load the rules of VM %s", n->id) : 0;
}

/* ---- the host's egress table ---- */

char *net_egress_text(const struct vm_net *n, const char *uplink, const char *table)
{
	char pool[LOAM_CIDR_STRLEN], host6[LOAM_CIDR_STRLEN];
	loam_net4_format(&n->pool, pool);
	loam_net6_format(&n->host_prefix, host6);
	char *t = xcalloc(1, RULES_MAX);
	net_appendf(t, RULES_MAX,
		    "table inet %s\ndelete table inet %s\n"
		    "table inet %s {\n"
		    "\tchain postrouting {\n"
		    "\t\ttype nat hook postrouting priority srcnat; policy accept;\n"
		    "\t\toifname \"%s\" ip saddr { %s, %s } masquerade\n"
		    "\t\toifname \"%s\" ip6 saddr %s masquerade\n"
		    "\t}\n",
		    table, table, table, uplink, pool, NET_GW4, uplink, host6);
	net_appendf(t, RULES_MAX,
		    "\tchain forward {\n"
		    "\t\ttype filter hook forward priority filter; policy accept;\n"
		    "\t\tiifname \"lvh*\" oifname \"lvh*\" drop\n"
		    "\t}\n"
		    "}\n");
	return t;
}

/* One table per state dir, so two agents on one machine keep theirs. */
static int egress_table(const char *state_dir, char out[32], loam_err *err)
{
	char hex[LOAM_SHA256_HEX_LEN + 1];
	if (loam_sha256_buf(state_dir, strlen(state_dir), hex, err) < 0)
		return -1;
	snprintf(out, 32, "loam_egress_%.8s", hex);
	return 0;
}

/* Forwarding on the host, on with egress; the value it had before is kept
 * in D/net/forwarding and put back when egress goes off. */
static int host_forwarding(const char *root, bool on, loam_err *err)
{
	char saved[VM_NET_PATH_MAX + 16];
	snprintf(saved, sizeof(saved), "%s/forwarding", root);
	const char *sysctl = "/proc/sys/net/ipv4/ip_forward";
	cleanup_free char *before = NULL;
	loam_err ignored = NULL;
	bool have_saved = loam_read_file(saved, 16, &before, NULL, &ignored) == 0;
	loam_err_free(&ignored);
	if (on && !have_saved) {
		cleanup_free char *now = NULL;
		if (loam_read_file(sysctl, 16, &now, NULL, err) < 0 ||
		    net_write_file(saved, now, err) < 0)
			return -1;
	}
	const char *value = on ? "1" : have_saved ? before : NULL;
	if (!value)
		return 0;
	cleanup_close int fd = open(sysctl, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, value, strlen(value)) < 0)
		return loam_fail_errno(err, "write %s", sysctl);
	if (!on)
		unlink(saved);
	return 0;
}

int net_egress_host(const char *state_dir, const struct vm_net *n, loam_err *err)
{
	char table[32], uplink[16];
	struct net_paths p;
	if (egress_table(state_dir, table, err) < 0 ||
	    net_paths_init(state_dir, n->id, &p, err) < 0)
		return -1;
	/* Made before the table is loaded and removed once it is deleted: no
	 * marker, no table, and a VM without egress spares an nft run. (An
	 * agent before the marker left only D/net/forwarding with a table.) */
	char marker[VM_NET_PATH_MAX + 16], saved[VM_NET_PATH_MAX + 16];
	snprintf(marker, sizeof(marker), "%s/egress-table", p.root);
	snprintf(saved, sizeof(saved), "%s/forwarding", p.root);
	if (!n->egress) {
		if (access(marker, F_OK) < 0 && access(saved, F_OK) < 0)
			return 0;
		char del[64];
		snprintf(del, sizeof(del), "delete table inet %s\n", table);
		const char *argv[] = {"nft", "-f", "-", NULL};
		if (net_run(argv, del, true, err) < 0 || host_forwarding(p.root, false, err) < 0)
			return -1;
		unlink(marker);
		return 0;
	}
	net_uplink(uplink);
	if (!*uplink)
		return loam_fail(err, LOAM_E_CONFLICT,
				 "egress is on but this host has no IPv4 default route to NAT "
				 "through");
	cleanup_free char *text = net_egress_text(n, uplink, table);
	const char *argv[] = {"nft", "-f", "-", NULL};
	if (net_write_file(marker, table, err) < 0 || net_run(argv, text, false, err) < 0)
		return loam_err_wrap(err, "load the host's egress table");
	return host_forwarding(p.root, true, err);
}
