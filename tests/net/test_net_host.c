/*
 * A VM's network on this host (src/host/net*.c), for real: a namespace,
 * veth, tap, nftables and dnsmasq made by vm_net_setup() as root, with no
 * guest. This test stands where QEMU would: it opens the tap inside the
 * namespace and writes the guest's frames itself, so it shows that
 * dnsmasq offers the VM its recorded address by DHCP, that a frame from
 * the guest's own MAC and address reaches the namespace while one with
 * another MAC or another IPv4 source is dropped (and counted), that with
 * egress off the namespace has no route out (`ip route get` only: no
 * packet is sent, let alone off the machine), that setting up twice
 * changes nothing, that vm-net's update opens and closes a port in the
 * ruleset and turns egress on and off (the host's NAT table and its
 * marker, the namespace's default route; rules only), and that purge
 * leaves nothing behind. Skips (77) unless root.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host/net_internal.h"
#include "host/vm.h"
#include "lib/cleanup.h"
#include "lib/fs.h"
#include "lib/json.h"
#include "lib/spawn.h"
#include "t.h"

#define GUEST_MAC  "02:4c:4f:41:4d:01"
#define GUEST_IPV4 "10.251.0.1"
#define FRAME_MAX  1600

static char state_dir[] = "/tmp/loam-nethost.XXXXXX";
static char id[32], user[VM_USER_MAX + 1];
static uid_t uid;
static gid_t gid;

static json_t *spec_with(const char *open_ports, bool egress)
{
	loam_err err = NULL;
	char text[1024];
	snprintf(text, sizeof(text),
		 "{\"mac\": \"%s\", \"queues\": 1, \"ipv4\": \"%s\", "
		 "\"ipv4_pool\": \"10.251.0.0/30\", \"ipv6\": \"fd00:5:6:1:4c:4fff:fe41:4d01\", "
		 "\"ipv6_prefix\": \"fd00:5:6:1::/64\", \"host_ipv6_prefix\": \"fd00:5:6::/48\", "
		 "\"egress\": %s, \"open_ports\": %s}",
		 GUEST_MAC, GUEST_IPV4, egress ? "true" : "false", open_ports);
	json_t *j = loam_json_parse(text, strlen(text), "spec", &err);
	if (!j)
		fprintf(stderr, "%s\n", loam_err_msg(err));
	loam_err_free(&err);
	return j;
}

static json_t *spec(const char *open_ports)
{
	return spec_with(open_ports, false);
}

static int setup(const char *open_ports, struct vm_net *n)
{
	cleanup_json json_t *j = spec(open_ports);
	loam_err err = NULL;
	int rc = j ? vm_net_parse(id, j, n, &err) : -1;
	if (rc == 0)
		rc = vm_net_setup(state_dir, n, uid, gid, &err);
	if (rc < 0)
		fprintf(stderr, "setup: %s\n", err ? loam_err_msg(err) : "bad spec");
	loam_err_free(&err);
	return rc;
}

/* Runs argv in the VM's namespace (or on the host when netns is NULL):
 * its exit status, with its stdout in *out when out is given. */
static int in_ns(const char *netns, const char *const *argv, char **out)
{
	const char *words[24];
	size_t n = 0;
	if (netns) {
		words[n++] = "ip";
		words[n++] = "netns";
		words[n++] = "exec";
		words[n++] = netns;
	}
	for (size_t i = 0; argv[i] && n < 23; i++)
		words[n++] = argv[i];
	words[n] = NULL;
	struct loam_spawn_opts o = {.argv = words, .timeout_ms = 30000};
	struct loam_spawn_result r;
	loam_err err = NULL;
	if (loam_spawn(&o, &r, &err) < 0) {
		fprintf(stderr, "%s: %s\n", words[0], loam_err_msg(err));
		loam_err_free(&err);
		return -1;
	}
	int status = r.signaled || r.timed_out ? -1 : r.exit_status;
	if (out) {
		*out = r.out;
		r.out = NULL;
	}
	loam_spawn_result_free(&r);
	return status;
}

/* The first number after word in text, or -1. */
static long number_after(const char *text, const char *word)
{
	const char *p = text ? strstr(text, word) : NULL;
	return p ? strtol(p + strlen(word), NULL, 10) : -1;
}

static long spoofed_packets(const struct vm_net *n)
{
	const char *argv[] = {"nft", "list", "counter", "netdev", "loam_guard", "spoofed", NULL};
	cleanup_free char *out = NULL;
	return in_ns(n->netns, argv, &out) == 0 ? number_after(out, "packets ") : -1;
}

/* The namespace's Icmp InEchos from /proc/net/snmp (a header line of
 * names, then a line of values). */
static long echoes_received(const struct vm_net *n)
{
	const char *argv[] = {"cat", "/proc/net/snmp", NULL};
	cleanup_free char *out = NULL;
	if (in_ns(n->netns, argv, &out) != 0)
		return -1;
	char *header = strstr(out, "Icmp: ");
	char *values = header ? strstr(header + 1, "Icmp: ") : NULL;
	if (!values)
		return -1;
	int column = 0;
	for (char *w = header; w < values && strncmp(w, "InEchos ", 8) != 0; w++)
		column += *w == ' ';
	char *v = values;
	for (int i = 0; i < column && v; i++)
		v = strchr(v + 1, ' ');
	return v ? strtol(v, NULL, 10) : -1;
}

static uint16_t checksum(const uint8_t *p, size_t len)
{
	uint32_t sum = 0;
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* Ethernet and IPv4 headers; the payload follows at 34. */
static size_t ipv4_frame(uint8_t *f, const uint8_t dst_mac[6], const char *src_mac, const char *src,
			 const char *dst, uint8_t proto, size_t payload)
{
	memcpy(f, dst_mac, 6);
	sscanf(src_mac, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &f[6], &f[7], &f[8], &f[9], &f[10],
	       &f[11]);
	put16(f + 12, 0x0800);
	uint8_t *ip = f + 14;
	memset(ip, 0, 20);
	ip[0] = 0x45;
	put16(ip + 2, (uint16_t)(20 + payload));
	ip[8] = 64;
	ip[9] = proto;
	inet_pton(AF_INET, src, ip + 12);
	inet_pton(AF_INET, dst, ip + 16);
	put16(ip + 10, checksum(ip, 20));
	return 34 + payload;
}

static int send_echo(int tap, const uint8_t gw_mac[6], const char *mac, const char *src)
{
	uint8_t f[FRAME_MAX] = {0};
	uint8_t *icmp = f + 34;
	icmp[0] = 8; /* echo request */
	put16(icmp + 4, 0x4c4d);
	memcpy(icmp + 8, "loam-net-test", 13);
	put16(icmp + 2, checksum(icmp, 21));
	size_t len = ipv4_frame(f, gw_mac, mac, src, NET_GW4, 1, 21);
	return write(tap, f, len) == (ssize_t)len ? 0 : -1;
}

static int send_discover(int tap)
{
	static const uint8_t broadcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	uint8_t f[FRAME_MAX] = {0};
	uint8_t *udp = f + 34, *b = udp + 8;
	b[0] = 1; /* BOOTREQUEST, Ethernet */
	b[1] = 1;
	b[2] = 6;
	memcpy(b + 4, "\x4c\x4d\x00\x01", 4); /* xid */
	put16(b + 10, 0x8000);		      /* answer by broadcast */
	sscanf(GUEST_MAC, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &b[28], &b[29], &b[30], &b[31], &b[32],
	       &b[33]);
	memcpy(b + 236, "\x63\x82\x53\x63\x35\x01\x01\xff", 8); /* cookie, DISCOVER, end */
	size_t bootp = 300;
	put16(udp, 68);
	put16(udp + 2, 67);
	put16(udp + 4, (uint16_t)(8 + bootp));
	size_t len =
	    ipv4_frame(f, broadcast, GUEST_MAC, "0.0.0.0", "255.255.255.255", 17, 8 + bootp);
	return write(tap, f, len) == (ssize_t)len ? 0 : -1;
}

/* Reads frames from the tap until a DHCPOFFER comes: its yiaddr, or ""
 * once no frame came for wait_ms. */
static void read_offer(int tap, int wait_ms, char out[INET_ADDRSTRLEN])
{
	out[0] = '\0';
	uint8_t f[FRAME_MAX];
	struct pollfd p = {.fd = tap, .events = POLLIN};
	while (poll(&p, 1, wait_ms) == 1) {
		ssize_t len = read(tap, f, sizeof(f));
		const uint8_t *b = f + 42;
		if (len < 42 + 244 || f[12] != 0x08 || f[13] != 0 || f[23] != 17 || f[34] != 0 ||
		    f[35] != 67 || memcmp(b + 236, "\x63\x82\x53\x63", 4) != 0)
			continue;
		for (const uint8_t *o = b + 240; o + 2 < f + len && *o != 0xff; o += 2 + o[1])
			if (o[0] == 53 && o[1] == 1 && o[2] == 2) {
				inet_ntop(AF_INET, b + 16, out, INET_ADDRSTRLEN);
				return;
			}
	}
}

/* Attaches to the VM's tap as QEMU would (from inside the namespace). */
static int open_tap(const struct vm_net *n)
{
	int back = -1, fd = -1;
	loam_err err = NULL;
	if (net_ns_switch(n->netns, &back, &err) == 0) {
		fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
		struct ifreq ifr = {.ifr_flags = IFF_TAP | IFF_NO_PI};
		snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), NET_TAP);
		if (fd >= 0 && ioctl(fd, TUNSETIFF, &ifr) < 0) {
			perror("TUNSETIFF");
			close(fd);
			fd = -1;
		}
		net_ns_return(back, &err);
	}
	if (err)
		fprintf(stderr, "%s\n", loam_err_msg(err));
	loam_err_free(&err);
	return fd;
}

static int gateway_mac(const struct vm_net *n, uint8_t mac[6])
{
	const char *argv[] = {"cat", "/sys/class/net/" NET_TAP "/address", NULL};
	cleanup_free char *out = NULL;
	return in_ns(n->netns, argv, &out) == 0 &&
		       sscanf(out, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &mac[0], &mac[1], &mac[2],
			      &mac[3], &mac[4], &mac[5]) == 6
		   ? 0
		   : -1;
}

static void test_plumbing(void)
{
	cleanup_vm_net struct vm_net n = {0};
	CHECK_INT(setup("[]", &n), 0);
	CHECK(net_ns_exists(n.netns));
	CHECK(if_nametoindex(n.veth) != 0);
	const char *tap[] = {"ip", "-d", "link", "show", NET_TAP, NULL};
	cleanup_free char *out = NULL;
	CHECK_INT(in_ns(n.netns, tap, &out), 0);
	CHECK_CONTAINS(out, "vnet_hdr on");
	char owner[64], owner_id[64];
	snprintf(owner, sizeof(owner), " user %s ", user);
	snprintf(owner_id, sizeof(owner_id), " user %u ", (unsigned)uid);
	CHECK(out && (strstr(out, owner) || strstr(out, owner_id)));
	struct net_paths p;
	loam_err err = NULL;
	CHECK_INT(net_paths_init(state_dir, id, &p, &err), 0);
	pid_t dnsmasq = net_dnsmasq_pid(&p);
	CHECK(dnsmasq > 0);
	char status[64];
	snprintf(status, sizeof(status), "/proc/%d/status", (int)dnsmasq);
	cleanup_free char *st = NULL;
	CHECK_INT(loam_read_file(status, 1 << 16, &st, NULL, &err), 0);
	CHECK_INT(number_after(st, "Uid:\t"), uid);
	struct stat dir;
	CHECK(stat(p.dir, &dir) == 0 && dir.st_uid == 0 && (dir.st_mode & 0777) == 0700);
	/* egress off: no route out, and the forward chain drops by rule */
	const char *out4[] = {"ip", "route", "get", "192.0.2.1", NULL};
	const char *out6[] = {"ip", "-6", "route", "get", "2001:db8::1", NULL};
	const char *guest[] = {"ip", "route", "get", GUEST_IPV4, NULL};
	CHECK(in_ns(n.netns, out4, NULL) != 0);
	CHECK(in_ns(n.netns, out6, NULL) != 0);
	CHECK_INT(in_ns(n.netns, guest, NULL), 0);
	const char *rules[] = {"nft", "list", "ruleset", NULL};
	cleanup_free char *ruleset = NULL;
	CHECK_INT(in_ns(n.netns, rules, &ruleset), 0);
	CHECK_CONTAINS(ruleset, "table netdev loam_guard");
	CHECK_CONTAINS(ruleset, "counter name \"egress_off\" drop");
	CHECK(!strstr(ruleset, "masquerade"));
	loam_err_free(&err);
}

/* A second setup keeps the tap, dnsmasq and the rules as they are. */
static void test_idempotent(void)
{
	struct net_paths p;
	loam_err err = NULL;
	CHECK_INT(net_paths_init(state_dir, id, &p, &err), 0);
	pid_t before = net_dnsmasq_pid(&p);
	const char *rules[] = {"nft", "list", "ruleset", NULL};
	const char *links[] = {"ip", "-o", "link", NULL};
	cleanup_free char *rules1 = NULL, *links1 = NULL, *rules2 = NULL, *links2 = NULL;
	cleanup_vm_net struct vm_net n = {0};
	char netns[80], veth[16];
	CHECK_INT(vm_net_names(id, netns, veth, &err), 0);
	CHECK_INT(in_ns(netns, rules, &rules1), 0);
	CHECK_INT(in_ns(netns, links, &links1), 0);
	CHECK_INT(setup("[]", &n), 0);
	CHECK_INT(in_ns(netns, rules, &rules2), 0);
	CHECK_INT(in_ns(netns, links, &links2), 0);
	CHECK_INT(net_dnsmasq_pid(&p), before);
	CHECK_STR(links2, links1);
	CHECK(rules1 && rules2 && strlen(rules1) == strlen(rules2));
	loam_err_free(&err);
}

static void test_guest_frames(void)
{
	cleanup_vm_net struct vm_net n = {0};
	CHECK_INT(setup("[]", &n), 0);
	uint8_t gw[6];
	CHECK_INT(gateway_mac(&n, gw), 0);
	int fd = open_tap(&n);
	CHECK(fd >= 0);
	if (fd < 0)
		return;
	/* As a DHCP client does, it asks again: on a loaded machine dnsmasq
	 * may not listen yet when the first DISCOVER goes out. */
	char offered[INET_ADDRSTRLEN] = "";
	for (int try = 0; try < 15 && !offered[0]; try++) {
		CHECK_INT(send_discover(fd), 0);
		read_offer(fd, 2000, offered);
	}
	CHECK_STR(offered, GUEST_IPV4);
	long spoofed = spoofed_packets(&n), echoes = echoes_received(&n);
	CHECK(spoofed >= 0 && echoes >= 0);
	CHECK_INT(send_echo(fd, gw, GUEST_MAC, GUEST_IPV4), 0);
	usleep(200 * 1000);
	CHECK_INT(echoes_received(&n), echoes + 1);
	CHECK_INT(spoofed_packets(&n), spoofed);
	CHECK_INT(send_echo(fd, gw, "02:4c:4f:41:4d:99", GUEST_IPV4), 0); /* another MAC */
	CHECK_INT(send_echo(fd, gw, GUEST_MAC, "10.251.0.2"), 0);	  /* another address */
	usleep(200 * 1000);
	CHECK_INT(echoes_received(&n), echoes + 1);
	CHECK_INT(spoofed_packets(&n), spoofed + 2);
	close(fd);
}

static void test_update_ports(void)
{
	cleanup_vm_net struct vm_net n = {0}, m = {0};
	cleanup_json json_t *open = spec("[{\"port\": 8080, \"proto\": \"tcp\"}]");
	loam_err err = NULL;
	CHECK_INT(vm_net_parse(id, open, &n, &err), 0);
	CHECK_INT(vm_net_update(state_dir, &n, uid, gid, &err), 0);
	const char *rules[] = {"nft", "list", "chain", "inet", "loam_fw", "inbound", NULL};
	cleanup_free char *opened = NULL, *closed = NULL;
	CHECK_INT(in_ns(n.netns, rules, &opened), 0);
	CHECK_CONTAINS(opened, "tcp dport 8080 accept");
	cleanup_json json_t *none = spec("[]");
	CHECK_INT(vm_net_parse(id, none, &m, &err), 0);
	CHECK_INT(vm_net_update(state_dir, &m, uid, gid, &err), 0);
	CHECK_INT(in_ns(n.netns, rules, &closed), 0);
	CHECK(closed && !strstr(closed, "8080"));
	if (err)
		fprintf(stderr, "%s\n", loam_err_msg(err));
	loam_err_free(&err);
}

/* Egress on and off again through vm-net's update: the host's NAT table
 * appears with its marker (D/net/egress-table, written before the table is
 * loaded, which is how an egress-off prep knows it may skip nft), the
 * namespace gets a default route; off removes the table, the marker and
 * the route, and puts the host's forwarding back. Rules only: no guest
 * exists, so no packet is sent. Without an IPv4 uplink, on is refused and
 * nothing is made. */
static void test_update_egress(void)
{
	cleanup_vm_net struct vm_net on = {0}, off = {0};
	cleanup_json json_t *j_on = spec_with("[]", true), *j_off = spec("[]");
	loam_err err = NULL;
	struct net_paths p;
	char marker[VM_NET_PATH_MAX + 16], uplink[16];
	CHECK_INT(net_paths_init(state_dir, id, &p, &err), 0);
	snprintf(marker, sizeof(marker), "%s/egress-table", p.root);
	cleanup_free char *forward_before = NULL;
	CHECK_INT(loam_read_file("/proc/sys/net/ipv4/ip_forward", 16, &forward_before, NULL, &err),
		  0);
	CHECK_INT(vm_net_parse(id, j_on, &on, &err), 0);
	CHECK_INT(vm_net_parse(id, j_off, &off, &err), 0);
	net_uplink(uplink);
	if (!*uplink) {
		CHECK_INT(vm_net_update(state_dir, &on, uid, gid, &err), -1);
		CHECK_INT(loam_err_kind_of(err), LOAM_E_CONFLICT);
		CHECK(access(marker, F_OK) != 0);
		loam_err_free(&err);
		return;
	}
	CHECK_INT(vm_net_update(state_dir, &on, uid, gid, &err), 0);
	cleanup_free char *table = NULL;
	CHECK_INT(loam_read_file(marker, 64, &table, NULL, &err), 0);
	const char *list[] = {"nft", "list", "table", "inet", table ? table : "?", NULL};
	cleanup_free char *nat = NULL;
	CHECK_INT(in_ns(NULL, list, &nat), 0);
	CHECK_CONTAINS(nat, "masquerade");
	const char *route[] = {"ip", "route", "show", "default", NULL};
	cleanup_free char *with = NULL, *without = NULL, *forward_after = NULL;
	CHECK_INT(in_ns(on.netns, route, &with), 0);
	CHECK_CONTAINS(with, "default via");
	CHECK_INT(vm_net_update(state_dir, &off, uid, gid, &err), 0);
	CHECK(access(marker, F_OK) != 0);
	CHECK(in_ns(NULL, list, NULL) != 0);
	CHECK_INT(in_ns(off.netns, route, &without), 0);
	CHECK_STR(without, "");
	CHECK_INT(loam_read_file("/proc/sys/net/ipv4/ip_forward", 16, &forward_after, NULL, &err),
		  0);
	CHECK_STR(forward_after, forward_before);
	if (err)
		fprintf(stderr, "%s\n", loam_err_msg(err));
	loam_err_free(&err);
}

static void test_purge(void)
{
	struct net_paths p;
	loam_err err = NULL;
	char netns[80], veth[16];
	CHECK_INT(net_paths_init(state_dir, id, &p, &err), 0);
	CHECK_INT(vm_net_names(id, netns, veth, &err), 0);
	pid_t dnsmasq = net_dnsmasq_pid(&p);
	CHECK(dnsmasq > 0);
	CHECK_INT(vm_net_purge(state_dir, id, &err), 0);
	CHECK(!net_ns_exists(netns));
	CHECK_INT(if_nametoindex(veth), 0);
	CHECK(!vm_pid_alive(dnsmasq)); /* a zombie until its reaper calls */
	CHECK(access(p.dir, F_OK) != 0);
	const char *route[] = {"ip", "route", "show", GUEST_IPV4, NULL};
	cleanup_free char *routes = NULL;
	CHECK_INT(in_ns(NULL, route, &routes), 0);
	CHECK_STR(routes, "");
	CHECK_INT(vm_net_purge(state_dir, id, &err), 0); /* twice is fine */
	loam_err_free(&err);
}

int main(void)
{
	if (geteuid() != 0) {
		fprintf(stderr, "SKIP: a VM's network is made as root\n");
		return 77;
	}
	loam_err err = NULL;
	snprintf(id, sizeof(id), "nethost%d", (int)getpid());
	if (!mkdtemp(state_dir) || vm_user_name(id, user, &err) < 0 ||
	    vm_user_ensure(user, &uid, &gid, &err) < 0) {
		fprintf(stderr, "FAIL: %s\n", err ? loam_err_msg(err) : "mkdtemp");
		return 1;
	}
	RUN(test_plumbing);
	RUN(test_idempotent);
	RUN(test_guest_frames);
	RUN(test_update_ports);
	RUN(test_update_egress);
	RUN(test_purge);
	vm_net_purge(state_dir, id, &err);
	loam_err_free(&err);
	vm_user_remove(user, &err);
	loam_err_free(&err);
	const char *rm[] = {"rm", "-rf", state_dir, NULL};
	in_ns(NULL, rm, NULL);
	return t_summary();
}
