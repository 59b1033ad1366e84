/*
 * The pure parts of VM networking (docs/network.md): address arithmetic
 * (lib/inet.h), the operator's pool, prefix and port rules (db/net.h),
 * the agent's check of a VM's "net" spec (host/net.h: bad input changes
 * nothing because it is refused before anything runs), and the texts the
 * agent hands to nftables, dnsmasq and QEMU, read for what they must say:
 * anti-spoofing on the guest's own MAC and addresses, sourced rules before
 * the drop of other VMs, no route and no DNS upstream without egress.
 */
#include <stdlib.h>
#include <string.h>

#include "db/net.h"
#include "host/net_internal.h"
#include "lib/cleanup.h"
#include "lib/inet.h"
#include "lib/json.h"
#include "t.h"

static bool fails(int rc, loam_err *err, const char *needle)
{
	bool ok = rc < 0 && *err && loam_err_kind_of(*err) == LOAM_E_INVALID &&
		  (!needle || strstr(loam_err_msg(*err), needle));
	if (!ok)
		fprintf(stderr, "  got: %s\n", *err ? loam_err_msg(*err) : "(no error)");
	loam_err_free(err);
	return ok;
}

static void test_inet4(void)
{
	loam_err err = NULL;
	struct loam_net4 n;
	char text[LOAM_CIDR_STRLEN];
	CHECK_INT(loam_net4_parse("pool", "10.200.0.0/16", 8, 30, &n, &err), 0);
	loam_net4_format(&n, text);
	CHECK_STR(text, "10.200.0.0/16");
	CHECK_INT(loam_net4_size(&n), 65536);
	CHECK(loam_net4_contains(&n, 0x0ac8ffff));
	CHECK(!loam_net4_contains(&n, 0x0ac90000));
	CHECK(fails(loam_net4_parse("pool", "10.200.0.1/16", 8, 30, &n, &err), &err,
		    "did you mean 10.200.0.0/16"));
	CHECK(fails(loam_net4_parse("pool", "10.0.0.0/31", 8, 30, &n, &err), &err, "/8 to /30"));
	CHECK(fails(loam_net4_parse("pool", "10.0.0.0", 8, 30, &n, &err), &err, NULL));
	CHECK(fails(loam_net4_parse("pool", "10.0.0.0/1x", 8, 30, &n, &err), &err, NULL));
	CHECK(fails(loam_net4_parse("pool", "10.0.0.0/24;reboot", 8, 30, &n, &err), &err, NULL));
	CHECK(fails(loam_net4_parse("pool", "10.0.0.256/24", 8, 30, &n, &err), &err, NULL));
	CHECK(fails(loam_net4_parse("pool", NULL, 8, 30, &n, &err), &err, NULL));
}

static void test_inet6(void)
{
	loam_err err = NULL;
	struct loam_net6 host, sub;
	char text[LOAM_CIDR_STRLEN], addr[LOAM_INET_STRLEN];
	CHECK_INT(loam_net6_parse("prefix", "fd12:3456:789a::/48", 16, 60, &host, &err), 0);
	loam_net6_subnet(&host, 64, 1, &sub);
	loam_net6_format(&sub, text);
	CHECK_STR(text, "fd12:3456:789a:1::/64");
	loam_net6_subnet(&host, 64, 0xbeef, &sub);
	loam_net6_format(&sub, text);
	CHECK_STR(text, "fd12:3456:789a:beef::/64");
	CHECK(loam_net6_contains(&host, sub.addr));
	uint8_t mac[6], a[16];
	CHECK_INT(loam_mac_parse("mac", "02:11:22:33:44:55", mac, &err), 0);
	loam_eui64_address(&sub, mac, a);
	loam_inet6_format(a, addr);
	CHECK_STR(addr, "fd12:3456:789a:beef:11:22ff:fe33:4455");
	CHECK(fails(loam_net6_parse("prefix", "fd12::1/48", 16, 60, &host, &err), &err,
		    "did you mean fd12::/48"));
	CHECK(fails(loam_mac_parse("mac", "03:11:22:33:44:55", mac, &err), &err, "unicast"));
	CHECK(fails(loam_mac_parse("mac", "02:11:22:33:44", mac, &err), &err, NULL));
	CHECK(fails(loam_mac_parse("mac", "02:11:22:33:44:5G", mac, &err), &err, NULL));
}

static void test_derived(void)
{
	loam_err err = NULL;
	char m1[LOAM_MAC_STRLEN], m2[LOAM_MAC_STRLEN];
	uint8_t mac[6];
	CHECK_INT(loam_mac_from_id("01abc", m1, &err), 0);
	CHECK_INT(loam_mac_from_id("01abc", m2, &err), 0);
	CHECK_STR(m1, m2);
	CHECK(strncmp(m1, "02:", 3) == 0);
	CHECK_INT(loam_mac_parse("mac", m1, mac, &err), 0);
	CHECK_INT(loam_mac_from_id("01abd", m2, &err), 0);
	CHECK(strcmp(m1, m2) != 0);
	struct loam_net6 u1, u2;
	CHECK_INT(loam_net_host_prefix("h1", NULL, &u1, &err), 0);
	CHECK_INT(loam_net_host_prefix("h2", NULL, &u2, &err), 0);
	CHECK_INT(u1.len, 48);
	CHECK_INT(u1.addr[0], 0xfd);
	CHECK(memcmp(u1.addr, u2.addr, 16) != 0);
}

static void test_operator_input(void)
{
	loam_err err = NULL;
	struct loam_net4 p;
	struct loam_net6 q;
	CHECK_INT(loam_net_pool_parse("10.201.7.0/30", &p, &err), 0);
	CHECK_INT(loam_net_prefix_parse("2001:db8:1::/48", &q, &err), 0);
	CHECK_INT(loam_net_capacity(&p, &q), 2); /* /30: .1 and .2 */
	CHECK_INT(loam_net_pool_parse(LOAM_NET_DEFAULT_POOL, &p, &err), 0);
	CHECK_INT(loam_net_capacity(&p, &q), 65534);
	CHECK_INT(loam_net_prefix_parse("2001:db8:1::/60", &q, &err), 0);
	CHECK_INT(loam_net_capacity(&p, &q), 15); /* 16 /64s but the host's own */
	CHECK(fails(loam_net_pool_parse("169.254.0.0/16", &p, &err), &err, "overlaps"));
	CHECK(fails(loam_net_pool_parse("127.0.0.0/8", &p, &err), &err, "overlaps"));
	CHECK(fails(loam_net_pool_parse("224.0.0.0/8", &p, &err), &err, "overlaps"));
	CHECK(fails(loam_net_pool_parse("10.0.0.0/31", &p, &err), &err, NULL));
	CHECK(fails(loam_net_prefix_parse("fe80::/48", &q, &err), &err, "link-local"));
	CHECK(fails(loam_net_prefix_parse("ff00::/48", &q, &err), &err, NULL));
	CHECK(fails(loam_net_prefix_parse("fd00::/64", &q, &err), &err, "/16 to /60"));
	struct loam_vm_port r;
	char text[96];
	CHECK_INT(loam_vm_port_parse("80", NULL, &r, &err), 0);
	loam_vm_port_format(&r, text, sizeof(text));
	CHECK_STR(text, "80/tcp");
	CHECK_INT(loam_vm_port_parse("53/udp", "10.0.0.1/8", &r, &err), -1);
	loam_err_free(&err);
	CHECK_INT(loam_vm_port_parse("53/udp", "2001:db8::/32", &r, &err), 0);
	loam_vm_port_format(&r, text, sizeof(text));
	CHECK_STR(text, "53/udp from 2001:db8::/32");
	for (const char *
		 bad[] = {"0", "65536", "80/sctp", "80/", "/tcp", "8o", "-1", "80/tcp;x", NULL},
		**b = bad;
	     *b; b++)
		CHECK(fails(loam_vm_port_parse(*b, NULL, &r, &err), &err, "PORT"));
}

/* A good "net" object; tests break one field at a time. */
static json_t *spec(void)
{
	loam_err err = NULL;
	static const char text[] =
	    "{\"mac\": \"02:11:22:33:44:55\", \"queues\": 2, \"ipv4\": \"10.201.0.1\", "
	    "\"ipv4_pool\": \"10.201.0.0/30\", \"ipv6\": \"fd00:1:2:1:0:11ff:fe22:3344\", "
	    "\"ipv6_prefix\": \"fd00:1:2:1::/64\", \"host_ipv6_prefix\": \"fd00:1:2::/48\", "
	    "\"egress\": false, \"open_ports\": [{\"port\": 80, \"proto\": \"tcp\"}, "
	    "{\"port\": 5432, \"proto\": \"tcp\", \"from\": \"10.201.0.0/30\"}]}";
	return loam_json_parse(text, strlen(text), "spec", &err);
}

static void refuses(const char *key, json_t *value, const char *needle)
{
	cleanup_json json_t *j = spec();
	json_object_set_new(j, key, value);
	struct vm_net n = {0};
	loam_err err = NULL;
	int rc = vm_net_parse("vm1", j, &n, &err);
	if (!fails(rc, &err, needle))
		fprintf(stderr, "  (field %s)\n", key);
	CHECK(n.json == NULL);
}

static void test_spec_checks(void)
{
	cleanup_json json_t *j = spec();
	cleanup_vm_net struct vm_net n = {0};
	loam_err err = NULL;
	CHECK_INT(vm_net_parse("vm1", j, &n, &err), 0);
	CHECK_STR(n.netns, "loam-vm1");
	CHECK_INT(strlen(n.veth), 15);
	CHECK_INT(n.nports, 2);
	CHECK_INT(n.ports[1].family, 4);
	refuses("mac", json_string("02:11:22:33:44:55; reboot"), "net.mac");
	refuses("ipv4", json_string("10.201.0.0"), "host address"); /* the network's */
	refuses("ipv4", json_string("10.201.0.3"), "host address"); /* the broadcast */
	refuses("ipv4", json_string("10.9.0.1"), "host address");
	refuses("ipv4_pool", json_string("10.201.0.0/31"), "/8 to /30");
	refuses("ipv6", json_string("fd00:1:2:2::5"), "must lie in");
	refuses("ipv6_prefix", json_string("fd00:1:2::/64"), "other than its first");
	refuses("ipv6_prefix", json_string("fd00:9::/64"), "must lie in");
	refuses("queues", json_integer(0), "1..16");
	refuses("open_ports", json_pack("[{s:i, s:s}]", "port", 0, "proto", "tcp"), "1..65535");
	refuses("open_ports", json_pack("[{s:i, s:s}]", "port", 80, "proto", "icmp"), "tcp or udp");
	refuses(
	    "open_ports",
	    json_pack("[{s:i, s:s, s:s}]", "port", 80, "proto", "tcp", "from", "10.0.0.0/8 accept"),
	    NULL);
	cleanup_vm_net struct vm_net bad_id = {0};
	CHECK(fails(vm_net_parse("../x", j, &bad_id, &err), &err, "VM id"));
}

static void test_rules(void)
{
	cleanup_json json_t *j = spec();
	cleanup_vm_net struct vm_net n = {0};
	loam_err err = NULL;
	CHECK_INT(vm_net_parse("vm1", j, &n, &err), 0);
	cleanup_free char *off = net_rules_text(&n);
	CHECK_CONTAINS(off, "flush ruleset");
	CHECK_CONTAINS(off, "ether saddr != 02:11:22:33:44:55 counter name \"spoofed\" drop");
	CHECK_CONTAINS(off, "ip saddr != { 10.201.0.1, 0.0.0.0 }");
	CHECK_CONTAINS(off, "ip6 saddr != { fd00:1:2:1::/64, fe80::/10, :: }");
	CHECK_CONTAINS(off, "counter name \"egress_off\" drop");
	CHECK_CONTAINS(off, "tcp dport 22 accept");
	CHECK_CONTAINS(off, "tcp dport 80 accept");
	/* the sourced rule comes before the drop of other VMs; 80 after it */
	const char *sourced = strstr(off, "ip saddr 10.201.0.0/30 tcp dport 5432 accept");
	const char *vms = strstr(off, "ip saddr @vms counter name \"from_vms\" drop");
	const char *p80 = strstr(off, "tcp dport 80 accept");
	CHECK(sourced && vms && p80 && sourced < vms && vms < p80);
	CHECK(!strstr(off, "masquerade"));
	n.egress = true;
	cleanup_free char *on = net_rules_text(&n);
	CHECK(!strstr(on, "name \"egress_off\" drop"));
	CHECK_CONTAINS(on, "ip daddr @vms drop");
	cleanup_free char *nat = net_egress_text(&n, "eth0", "loam_egress_x");
	CHECK_CONTAINS(nat, "oifname \"eth0\" ip saddr { 10.201.0.0/30, 169.254.0.1 } masquerade");
	CHECK_CONTAINS(nat, "iifname \"lvh*\" oifname \"lvh*\" drop");
}

static void test_dnsmasq_and_qemu(void)
{
	cleanup_json json_t *j = spec();
	cleanup_vm_net struct vm_net n = {0};
	loam_err err = NULL;
	struct net_paths p;
	CHECK_INT(vm_net_parse("vm1", j, &n, &err), 0);
	CHECK_INT(net_paths_init("/var/lib/loam", "vm1", &p, &err), 0);
	CHECK_STR(p.dir, "/var/lib/loam/net/vm1");
	cleanup_free char *none = net_dnsmasq_text(&n, &p, "loam-vm-vm1", NULL);
	CHECK_CONTAINS(none, "user=loam-vm-vm1\n");
	CHECK_CONTAINS(none, "no-resolv\n");
	CHECK_CONTAINS(none, "dhcp-host=02:11:22:33:44:55,id:*,10.201.0.1,");
	CHECK_CONTAINS(none, "classless-static-route,169.254.0.1/32,0.0.0.0,0.0.0.0/0,169.254.0.1");
	CHECK_CONTAINS(none, "dhcp-range=fd00:1:2:1:0:11ff:fe22:3344,fd00:1:2:1:0:11ff:fe22:3344,"
			     "slaac,64");
	CHECK(!strstr(none, "server="));
	const char *const up[] = {"192.0.2.53", NULL};
	cleanup_free char *with = net_dnsmasq_text(&n, &p, "loam-vm-vm1", up);
	CHECK_CONTAINS(with, "server=192.0.2.53\n");
	cleanup_argv struct loam_argv a = {0};
	vm_net_qemu_args(&n, 0, &a);
	CHECK_INT(a.n, 4);
	CHECK_STR(a.v[1], "tap,id=net0,ifname=tap0,script=no,downscript=no,vnet_hdr=on,queues=2");
	cleanup_argv struct loam_argv jailed = {0}; /* the jail opens the tap: one fd a queue */
	vm_net_qemu_args(&n, 23, &jailed);
	CHECK_STR(jailed.v[1], "tap,id=net0,fds=23:24");
	CHECK_STR(a.v[3], "virtio-net-pci,netdev=net0,mac=02:11:22:33:44:55,romfile=,mq=on,"
			  "vectors=6");
	n.queues = 1;
	cleanup_argv struct loam_argv b = {0};
	vm_net_qemu_args(&n, 0, &b);
	CHECK(!strstr(b.v[1], "queues") && !strstr(b.v[3], "mq=on"));
	cleanup_argv struct loam_argv one = {0};
	vm_net_qemu_args(&n, 23, &one);
	CHECK_STR(one.v[1], "tap,id=net0,fd=23");
}

int main(void)
{
	RUN(test_inet4);
	RUN(test_inet6);
	RUN(test_derived);
	RUN(test_operator_input);
	RUN(test_spec_checks);
	RUN(test_rules);
	RUN(test_dnsmasq_and_qemu);
	return t_summary();
}
