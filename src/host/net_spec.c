/*
 * The "net" object of a VM spec (docs/agent-vm-verbs.md): checked field by
 * field before anything is touched, so bad input changes nothing; the
 * names derived from the VM id; where root keeps the network's files; and
 * the copy vm-prep saves for vm-start and vm-net.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host/net_internal.h"
#include "lib/cleanup.h"
#include "lib/fs.h"
#include "lib/json.h"
#include "lib/sha256.h"
#include "lib/valid.h"
#include "proto/agent.h"

int vm_net_names(const char *id, char netns[80], char veth[16], loam_err *err)
{
	char hex[LOAM_SHA256_HEX_LEN + 1];
	if (loam_valid_id("VM id", id, err) < 0 || loam_sha256_buf(id, strlen(id), hex, err) < 0)
		return -1;
	snprintf(netns, 80, LOAM_LAYOUT_NETNS_PREFIX "%s", id);
	snprintf(veth, 16, "lvh%.12s", hex);
	return 0;
}

void net_appendf(char *buf, size_t cap, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	size_t used = strnlen(buf, cap);
	/* clang-tidy 14 calls ap uninitialized here only when another file was
	 * analysed first in the same run (lint.sh); it is started above.
	 * NOLINTBEGIN(clang-analyzer-valist.Uninitialized) */
	if (used + 1 < cap)
		vsnprintf(buf + used, cap - used, fmt, ap);
	/* NOLINTEND(clang-analyzer-valist.Uninitialized) */
	va_end(ap);
}

int net_paths_init(const char *state_dir, const char *id, struct net_paths *p, loam_err *err)
{
	memset(p, 0, sizeof(*p));
	if (loam_valid_abs_path("--state-dir", state_dir, err) < 0 ||
	    loam_valid_id("VM id", id, err) < 0)
		return -1;
	struct {
		char *out;
		const char *file;
	} files[] = {{p->spec, LOAM_LAYOUT_NET_SPEC},
		     {p->nft, LOAM_LAYOUT_NET_NFT},
		     {p->dnsmasq_conf, LOAM_LAYOUT_NET_DNSMASQ_CONF},
		     {p->dnsmasq_pid, LOAM_LAYOUT_NET_DNSMASQ_PID},
		     {p->dnsmasq_log, LOAM_LAYOUT_NET_DNSMASQ_LOG}};
	if ((size_t)snprintf(p->root, sizeof(p->root), "%s/%s", state_dir, LOAM_LAYOUT_NET) >=
		sizeof(p->root) ||
	    (size_t)snprintf(p->dir, sizeof(p->dir), "%s/%s", p->root, id) >= sizeof(p->dir))
		return loam_fail(err, LOAM_E_INVALID, "--state-dir %s is too long", state_dir);
	for (size_t i = 0; i < sizeof(files) / sizeof(*files); i++)
		if ((size_t)snprintf(files[i].out, VM_NET_PATH_MAX, "%s/%s", p->dir,
				     files[i].file) >= VM_NET_PATH_MAX)
			return loam_fail(err, LOAM_E_INVALID, "--state-dir %s is too long",
					 state_dir);
	return 0;
}

static int root_dir(const char *path, loam_err *err)
{
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return loam_fail_errno(err, "mkdir %s", path);
	struct stat st;
	if (lstat(path, &st) < 0 || !S_ISDIR(st.st_mode) || st.st_uid != 0)
		return loam_fail(err, LOAM_E_CONFLICT,
				 "%s is not a directory owned by root; remove it and run vm-prep "
				 "again",
				 path);
	if ((st.st_mode & 07777) != 0700 && chmod(path, 0700) < 0)
		return loam_fail_errno(err, "chmod %s", path);
	return 0;
}

int net_make_dirs(const struct net_paths *p, loam_err *err)
{
	return root_dir(p->root, err) < 0 || root_dir(p->dir, err) < 0 ? -1 : 0;
}

int net_write_file(const char *path, const char *text, loam_err *err)
{
	char tmp[VM_NET_PATH_MAX + 8];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	unlink(tmp);
	cleanup_close int fd =
	    open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return loam_fail_errno(err, "create %s", tmp);
	size_t len = strlen(text);
	for (size_t off = 0; off < len;) {
		ssize_t w = write(fd, text + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			loam_fail_errno(err, "write %s", tmp);
			unlink(tmp);
			return -1;
		}
		off += (size_t)w;
	}
	if (rename(tmp, path) < 0) {
		loam_fail_errno(err, "rename %s", tmp);
		unlink(tmp);
		return -1;
	}
	return 0;
}

int net_file_equals(const char *path, const char *text)
{
	cleanup_free char *have = NULL;
	size_t len = 0;
	loam_err err = NULL;
	int same = loam_read_file(path, 1 << 20, &have, &len, &err) == 0 && len == strlen(text) &&
		   memcmp(have, text, len) == 0;
	loam_err_free(&err);
	return same;
}

/* ---- parsing ---- */

static int parse_port(const json_t *j, struct vm_net_port *out, loam_err *err)
{
	int64_t port = 0;
	const char *proto = NULL, *from = NULL;
	if (!json_is_object(j) || loam_json_get_int(j, LOAM_KEY_PORT, &port, err) < 0 ||
	    loam_json_get_str(j, LOAM_KEY_PROTO, &proto, err) < 0 ||
	    loam_json_opt_str(j, LOAM_KEY_FROM, &from, err) < 0)
		return loam_fail(err, LOAM_E_INVALID,
				 "each of net.open_ports must be {\"port\": N, \"proto\": "
				 "\"tcp\"|\"udp\", \"from\": CIDR (optional)}");
	if (port < 1 || port > 65535)
		return loam_fail(err, LOAM_E_INVALID, "net.open_ports: port must be 1..65535");
	if (strcmp(proto, "tcp") != 0 && strcmp(proto, "udp") != 0)
		return loam_fail(err, LOAM_E_INVALID, "net.open_ports: proto must be tcp or udp");
	*out = (struct vm_net_port){.port = (unsigned)port};
	snprintf(out->proto, sizeof(out->proto), "%s", proto);
	if (!from)
		return 0;
	out->family = strchr(from, ':') ? 6 : 4;
	return out->family == 4
		   ? loam_net4_parse("net.open_ports.from", from, 0, 32, &out->from4, err)
		   : loam_net6_parse("net.open_ports.from", from, 0, 128, &out->from6, err);
}

static int parse_ports(const json_t *net, struct vm_net *n, loam_err *err)
{
	const json_t *ports = json_object_get(net, LOAM_KEY_OPEN_PORTS);
	if (!ports || json_is_null(ports))
		return 0;
	if (!json_is_array(ports) || json_array_size(ports) > VM_NET_PORTS_MAX)
		return loam_fail(err, LOAM_E_INVALID,
				 "net.open_ports must be an array of at most %d rules",
				 VM_NET_PORTS_MAX);
	size_t i;
	const json_t *p;
	json_array_foreach(ports, i, p)
	{
		if (parse_port(p, &n->ports[n->nports], err) < 0)
			return -1;
		n->nports++;
	}
	return 0;
}

static int parse_v4(const json_t *net, struct vm_net *n, loam_err *err)
{
	const char *ipv4 = NULL, *pool = NULL;
	if (loam_json_get_str(net, LOAM_KEY_IPV4, &ipv4, err) < 0 ||
	    loam_json_get_str(net, LOAM_KEY_IPV4_POOL, &pool, err) < 0 ||
	    loam_inet4_parse("net.ipv4", ipv4, &n->ipv4, err) < 0 ||
	    loam_net4_parse("net.ipv4_pool", pool, 8, 30, &n->pool, err) < 0)
		return -1;
	uint32_t last = n->pool.addr + (uint32_t)(loam_net4_size(&n->pool) - 1);
	if (!loam_net4_contains(&n->pool, n->ipv4) || n->ipv4 == n->pool.addr || n->ipv4 == last)
		return loam_fail(err, LOAM_E_INVALID,
				 "net.ipv4 %s is not a host address of net.ipv4_pool %s", ipv4,
				 pool);
	return 0;
}

static int parse_v6(const json_t *net, struct vm_net *n, loam_err *err)
{
	const char *ipv6 = NULL, *prefix = NULL, *host = NULL;
	if (loam_json_get_str(net, LOAM_KEY_IPV6, &ipv6, err) < 0 ||
	    loam_json_get_str(net, LOAM_KEY_IPV6_PREFIX, &prefix, err) < 0 ||
	    loam_json_get_str(net, LOAM_KEY_HOST_IPV6_PREFIX, &host, err) < 0 ||
	    loam_inet6_parse("net.ipv6", ipv6, n->ipv6, err) < 0 ||
	    loam_net6_parse("net.ipv6_prefix", prefix, 64, 64, &n->prefix, err) < 0 ||
	    loam_net6_parse("net.host_ipv6_prefix", host, 16, 60, &n->host_prefix, err) < 0)
		return -1;
	struct loam_net6 subnet0;
	loam_net6_subnet(&n->host_prefix, 64, 0, &subnet0);
	if (!loam_net6_contains(&n->prefix, n->ipv6) ||
	    !loam_net6_contains(&n->host_prefix, n->prefix.addr) ||
	    memcmp(subnet0.addr, n->prefix.addr, 16) == 0)
		return loam_fail(err, LOAM_E_INVALID,
				 "net: ipv6 %s must lie in ipv6_prefix %s, a /64 of "
				 "host_ipv6_prefix %s other than its first",
				 ipv6, prefix, host);
	return 0;
}

static int parse_fields(const char *id, json_t *net, struct vm_net *n, loam_err *err)
{
	const char *mac = NULL;
	int64_t queues = 1;
	uint8_t bytes[6];
	if (!json_is_object(net))
		return loam_fail(err, LOAM_E_INVALID, "field 'net' must be an object or null");
	if (vm_net_names(id, n->netns, n->veth, err) < 0 ||
	    loam_json_get_str(net, LOAM_KEY_MAC, &mac, err) < 0 ||
	    loam_mac_parse("net.mac", mac, bytes, err) < 0 ||
	    loam_json_opt_int(net, LOAM_KEY_QUEUES, &queues, err) < 0 ||
	    loam_json_opt_bool(net, LOAM_KEY_EGRESS, &n->egress, err) < 0)
		return -1;
	if (queues < 1 || queues > VM_NET_QUEUES_MAX)
		return loam_fail(err, LOAM_E_INVALID, "net.queues must be 1..%d",
				 VM_NET_QUEUES_MAX);
	snprintf(n->id, sizeof(n->id), "%s", id);
	snprintf(n->mac, sizeof(n->mac), "%s", mac);
	n->queues = (unsigned)queues;
	return parse_v4(net, n, err) < 0 || parse_v6(net, n, err) < 0 ||
		       parse_ports(net, n, err) < 0
		   ? -1
		   : 0;
}

int vm_net_parse(const char *id, json_t *net, struct vm_net *n, loam_err *err)
{
	memset(n, 0, sizeof(*n));
	n->json = json_incref(net);
	if (parse_fields(id, net, n, err) < 0) {
		vm_net_free(n);
		return loam_err_wrap(err, "VM spec");
	}
	return 0;
}

void vm_net_free(struct vm_net *n)
{
	json_decref(n->json);
	n->json = NULL;
}

int vm_net_load(const char *state_dir, const char *id, struct vm_net *n, loam_err *err)
{
	struct net_paths p;
	if (net_paths_init(state_dir, id, &p, err) < 0)
		return -1;
	cleanup_close int fd = open(p.spec, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && errno == ENOENT)
		return 0;
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0)
		return loam_fail_errno(err, "open %s", p.spec);
	if (!S_ISREG(st.st_mode) || st.st_uid != 0)
		return loam_fail(err, LOAM_E_CONFLICT,
				 "%s is not a regular file owned by root; run vm-prep again",
				 p.spec);
	cleanup_free char *text = NULL;
	size_t len = 0;
	if (loam_read_fd(fd, p.spec, 1 << 20, &text, &len, err) < 0)
		return -1;
	cleanup_json json_t *j = loam_json_parse(text, len, p.spec, err);
	if (!j || vm_net_parse(id, j, n, err) < 0)
		return -1;
	return 1;
}

json_t *vm_net_report(const struct vm_net *n)
{
	char v4[LOAM_INET_STRLEN], v6[LOAM_INET_STRLEN];
	loam_inet4_format(n->ipv4, v4);
	loam_inet6_format(n->ipv6, v6);
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "netns", n->netns, "tap", NET_TAP,
			 "veth", n->veth, LOAM_KEY_MAC, n->mac, LOAM_KEY_IPV4, v4, LOAM_KEY_IPV6,
			 v6);
}
