/*
 * The VM's own dnsmasq, in its namespace, running as the VM's user (it
 * keeps only the capabilities DHCP needs): a static DHCPv4 lease of the
 * guest's /32 for its MAC, with the gateway 169.254.0.1 as a classless
 * route; router advertisements of the VM's /64 (SLAAC) and DHCPv6 that
 * hands out the same EUI-64 address, so both ways give one address; and
 * DNS on the gateway addresses. DNS is forwarded only when the host has
 * egress on, to the host's own resolvers; with egress off dnsmasq has no
 * upstream at all, so no query can leave the machine.
 *
 * Root writes its config and pid file in D/net/<id>/; a dnsmasq that runs
 * with the same config is left alone (the guest keeps its lease), a
 * changed config replaces it.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "host/net_internal.h"
#include "host/vm.h"
#include "lib/cleanup.h"
#include "lib/clock.h"
#include "lib/fs.h"
#include "lib/xalloc.h"

#define CONF_MAX	8192
#define NAMESERVERS_MAX 3
#define STOP_WAIT_MS	3000
#define START_WAIT_MS	3000
#define LEASE_TIME	"24h"
#define RA_INTERVAL_S	"30"
#define ROUTER_LIFETIME "1800"

char *net_dnsmasq_text(const struct vm_net *n, const struct net_paths *p, const char *user,
		       const char *const *upstreams)
{
	char v4[LOAM_INET_STRLEN], v6[LOAM_INET_STRLEN], gw6[LOAM_INET_STRLEN];
	uint8_t a[16];
	loam_inet4_format(n->ipv4, v4);
	loam_inet6_format(n->ipv6, v6);
	loam_net6_host(&n->prefix, 1, a);
	loam_inet6_format(a, gw6);
	char *c = xcalloc(1, CONF_MAX);
	net_appendf(c, CONF_MAX, "# loam: dnsmasq of VM %s (rewritten by vm-prep and vm-net)\n",
		    n->id);
	net_appendf(c, CONF_MAX, "pid-file=%s\nuser=%s\ngroup=%s\n", p->dnsmasq_pid, user, user);
	net_appendf(c, CONF_MAX, "log-facility=%s\nlog-dhcp\n", p->dnsmasq_log);
	net_appendf(c, CONF_MAX, "interface=%s\nbind-dynamic\nno-resolv\nno-hosts\nleasefile-ro\n",
		    NET_TAP);
	net_appendf(c, CONF_MAX, "domain-needed\nbogus-priv\ndhcp-authoritative\n");
	/* DHCPv4: the /32, reached through the gateway as a classless route */
	net_appendf(c, CONF_MAX, "dhcp-range=%s,static,%s\n", v4, LEASE_TIME);
	net_appendf(c, CONF_MAX, "dhcp-host=%s,id:*,%s,%s\n", n->mac, v4, LEASE_TIME);
	net_appendf(c, CONF_MAX, "dhcp-option=option:netmask,255.255.255.255\n");
	net_appendf(c, CONF_MAX, "dhcp-option=option:router,%s\n", NET_GW4);
	net_appendf(c, CONF_MAX,
		    "dhcp-option=option:classless-static-route,%s/32,0.0.0.0,0.0.0.0/0,%s\n",
		    NET_GW4, NET_GW4);
	net_appendf(c, CONF_MAX, "dhcp-option=option:dns-server,%s\n", NET_GW4);
	/* IPv6: RA with the /64 (SLAAC), and DHCPv6 of the same address */
	net_appendf(c, CONF_MAX, "enable-ra\nra-param=%s,high,%s,%s\n", NET_TAP, RA_INTERVAL_S,
		    ROUTER_LIFETIME);
	net_appendf(c, CONF_MAX, "dhcp-range=%s,%s,slaac,64,%s\n", v6, v6, LEASE_TIME);
	net_appendf(c, CONF_MAX, "dhcp-option=option6:dns-server,[%s]\n", gw6);
	for (size_t i = 0; upstreams && upstreams[i]; i++)
		net_appendf(c, CONF_MAX, "server=%s\n", upstreams[i]);
	return c;
}

size_t net_host_nameservers(char out[][LOAM_INET_STRLEN], size_t max)
{
	cleanup_fclose FILE *f = fopen("/etc/resolv.conf", "re");
	char buf[256], addr[LOAM_INET_STRLEN];
	size_t n = 0;
	while (f && n < max && fgets(buf, sizeof(buf), f)) {
		if (sscanf(buf, " nameserver %45s", addr) != 1)
			continue;
		uint32_t v4 = 0;
		uint8_t v6[16];
		loam_err e = NULL;
		bool ok4 = loam_inet4_parse("nameserver", addr, &v4, &e) == 0;
		bool ok6 = !ok4 && loam_inet6_parse("nameserver", addr, v6, &e) == 0;
		loam_err_free(&e);
		static const uint8_t loop6[16] = {[15] = 1};
		if ((ok4 && (v4 >> 24) != 127) || (ok6 && memcmp(v6, loop6, 16) != 0))
			snprintf(out[n++], LOAM_INET_STRLEN, "%s", addr);
	}
	return n;
}

/* True when /proc/<pid>/cmdline has "--conf-file=<conf>". */
static bool runs_with(pid_t pid, const char *conf)
{
	char path[64], want[VM_NET_PATH_MAX + 16];
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	snprintf(want, sizeof(want), "--conf-file=%s", conf);
	cleanup_free char *buf = NULL;
	size_t len = 0;
	loam_err err = NULL;
	if (loam_read_file(path, 1 << 16, &buf, &len, &err) < 0) {
		loam_err_free(&err);
		return false;
	}
	for (size_t off = 0; off < len; off += strlen(buf + off) + 1)
		if (strcmp(buf + off, want) == 0)
			return true;
	return false;
}

pid_t net_dnsmasq_pid(const struct net_paths *p)
{
	cleanup_free char *buf = NULL;
	loam_err err = NULL;
	if (loam_read_file(p->dnsmasq_pid, 32, &buf, NULL, &err) < 0) {
		loam_err_free(&err);
		return 0;
	}
	long pid = strtol(buf, NULL, 10);
	if (pid <= 1 || pid > 1L << 22 || !vm_pid_alive((pid_t)pid) ||
	    !runs_with((pid_t)pid, p->dnsmasq_conf))
		return 0;
	return (pid_t)pid;
}

int net_dnsmasq_stop(const struct net_paths *p, loam_err *err)
{
	pid_t pid = net_dnsmasq_pid(p);
	if (pid) {
		kill(pid, SIGTERM);
		for (int waited = 0; vm_pid_alive(pid) && waited < STOP_WAIT_MS; waited += 20)
			loam_sleep_ms(20);
		if (vm_pid_alive(pid)) {
			kill(pid, SIGKILL);
			for (int waited = 0; vm_pid_alive(pid) && waited < STOP_WAIT_MS;
			     waited += 20)
				loam_sleep_ms(20);
		}
		if (vm_pid_alive(pid))
			return loam_fail(err, LOAM_E_IO, "dnsmasq (pid %d) survives SIGKILL",
					 (int)pid);
	}
	unlink(p->dnsmasq_pid);
	return 0;
}

static char *config(const struct net_paths *p, const struct vm_net *n, loam_err *err)
{
	char user[VM_USER_MAX + 1];
	char servers[NAMESERVERS_MAX][LOAM_INET_STRLEN];
	const char *upstreams[NAMESERVERS_MAX + 1] = {0};
	if (vm_user_name(n->id, user, err) < 0)
		return NULL;
	size_t count = n->egress ? net_host_nameservers(servers, NAMESERVERS_MAX) : 0;
	for (size_t i = 0; i < count; i++)
		upstreams[i] = servers[i];
	return net_dnsmasq_text(n, p, user, upstreams);
}

/* dnsmasq forks once set up and writes its pid file first (as root): the
 * file naming a live dnsmasq of this config means it started. */
static int start(const struct net_paths *p, const struct vm_net *n, loam_err *err)
{
	char conf_opt[VM_NET_PATH_MAX + 16];
	snprintf(conf_opt, sizeof(conf_opt), "--conf-file=%s", p->dnsmasq_conf);
	int back = -1;
	if (net_ns_switch(n->netns, &back, err) < 0)
		return -1;
	const char *argv[] = {"dnsmasq", conf_opt, NULL};
	int rc = net_run(argv, NULL, false, err);
	if (net_ns_return(back, rc < 0 ? NULL : err) < 0 || rc < 0)
		return loam_err_wrap(err, "start dnsmasq of VM %s", n->id);
	/* Polled often: a boot waits on it (it is up in ~20 ms). */
	for (int waited = 0; !net_dnsmasq_pid(p); waited += 2) {
		if (waited >= START_WAIT_MS)
			return loam_fail(err, LOAM_E_IO, "dnsmasq of VM %s did not come up; see %s",
					 n->id, p->dnsmasq_log);
		loam_sleep_ms(2);
	}
	return 0;
}

int net_dnsmasq_ensure(const struct net_paths *p, const struct vm_net *n, loam_err *err)
{
	cleanup_free char *text = config(p, n, err);
	if (!text)
		return -1;
	if (net_dnsmasq_pid(p) && net_file_equals(p->dnsmasq_conf, text))
		return 0;
	if (net_dnsmasq_stop(p, err) < 0 || net_write_file(p->dnsmasq_conf, text, err) < 0)
		return -1;
	return start(p, n, err);
}
