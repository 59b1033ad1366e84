/*
 * A VM's addresses and open ports (db/net.h). The address is slot n of its
 * host: the pool's address number n, the prefix's /64 number n, and in it
 * the EUI-64 address of the VM's MAC (what SLAAC gives the guest, and what
 * DHCPv6 hands out too). The lowest free slot is taken in one transaction;
 * UNIQUE (host_id, slot) settles a race between two loamd processes, and
 * the loser takes the next slot.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/net.h"
#include "lib/cleanup.h"
#include "lib/valid.h"
#include "lib/xalloc.h"

#define ASSIGN_TRIES 8

void loam_vm_net_free(struct loam_vm_net *n)
{
	free(n->host_id);
	free(n->mac);
	free(n->ipv4);
	free(n->ipv6);
	free(n->ipv6_prefix);
	*n = (struct loam_vm_net){0};
}

int loam_vm_net_get(struct loam_db *db, const char *vm_id, struct loam_vm_net *out, loam_err *err)
{
	cleanup_rows struct loam_db_rows *r = NULL;
	if (loam_db_query(db,
			  "SELECT host_id, mac, ipv4, ipv6, ipv6_prefix, slot FROM vm_net "
			  "WHERE vm_id = ?",
			  DB_ARGS(DB_TEXT(vm_id)), &r, err) < 0)
		return -1;
	if (loam_db_rows_count(r) == 0)
		return 0;
	*out = (struct loam_vm_net){.host_id = loam_db_rows_dup(r, 0, 0),
				    .mac = loam_db_rows_dup(r, 0, 1),
				    .ipv4 = loam_db_rows_dup(r, 0, 2),
				    .ipv6 = loam_db_rows_dup(r, 0, 3),
				    .ipv6_prefix = loam_db_rows_dup(r, 0, 4),
				    .slot = loam_db_rows_int(r, 0, 5)};
	return 1;
}

/* The lowest slot no VM of the host holds, 1-based. */
static int free_slot(struct loam_db *db, const char *host_id, int64_t *slot, loam_err *err)
{
	cleanup_rows struct loam_db_rows *r = NULL;
	if (loam_db_query(db, "SELECT slot FROM vm_net WHERE host_id = ? ORDER BY slot",
			  DB_ARGS(DB_TEXT(host_id)), &r, err) < 0)
		return -1;
	*slot = 1;
	for (size_t i = 0; i < loam_db_rows_count(r) && loam_db_rows_int(r, i, 0) == *slot; i++)
		(*slot)++;
	return 0;
}

struct assign {
	const char *vm_id, *host_id;
	struct loam_vm_net *out;
};

/* The addresses of slot on the host whose pool and prefix are given. */
static int addresses(const struct assign *a, const char *pool_text, const char *prefix_text,
		     int64_t slot, loam_err *err)
{
	struct loam_net4 pool;
	struct loam_net6 host, vm;
	uint8_t mac[6], v6[16];
	char mac_text[LOAM_MAC_STRLEN], v4s[LOAM_INET_STRLEN], v6s[LOAM_INET_STRLEN];
	char prefix[LOAM_CIDR_STRLEN];
	if (loam_net_pool_parse(pool_text, &pool, err) < 0 ||
	    loam_net_host_prefix(a->host_id, prefix_text, &host, err) < 0 ||
	    loam_mac_from_id(a->vm_id, mac_text, err) < 0 ||
	    loam_mac_parse("mac", mac_text, mac, err) < 0)
		return -1;
	loam_inet4_format(pool.addr + (uint32_t)slot, v4s);
	loam_net6_subnet(&host, 64, (uint32_t)slot, &vm);
	loam_net6_format(&vm, prefix);
	loam_eui64_address(&vm, mac, v6);
	loam_inet6_format(v6, v6s);
	*a->out = (struct loam_vm_net){.host_id = xstrdup(a->host_id),
				       .mac = xstrdup(mac_text),
				       .ipv4 = xstrdup(v4s),
				       .ipv6 = xstrdup(v6s),
				       .ipv6_prefix = xstrdup(prefix),
				       .slot = slot};
	return 0;
}

static int assign_tx(struct loam_db *db, void *ctx, loam_err *err)
{
	struct assign *a = ctx;
	loam_vm_net_free(a->out);
	int have = loam_vm_net_get(db, a->vm_id, a->out, err);
	if (have < 0)
		return -1;
	if (have > 0 && strcmp(a->out->host_id, a->host_id) == 0)
		return 0;
	loam_vm_net_free(a->out);
	cleanup_rows struct loam_db_rows *h = NULL;
	int64_t slot = 0;
	if (loam_vm_net_release(db, a->vm_id, err) < 0 ||
	    loam_db_query(db, "SELECT ipv4_pool, ipv6_prefix, ipv4_total FROM host WHERE id = ?",
			  DB_ARGS(DB_TEXT(a->host_id)), &h, err) < 0 ||
	    free_slot(db, a->host_id, &slot, err) < 0)
		return -1;
	if (loam_db_rows_count(h) == 0)
		return loam_fail(err, LOAM_E_NOTFOUND, "no host with id %s", a->host_id);
	if (slot > loam_db_rows_int(h, 0, 2))
		return loam_fail(err, LOAM_E_NOCAPACITY, "ipv4 pool %s of the host is exhausted",
				 loam_db_rows_text(h, 0, 0));
	if (addresses(a, loam_db_rows_text(h, 0, 0),
		      loam_db_rows_null(h, 0, 1) ? NULL : loam_db_rows_text(h, 0, 1), slot,
		      err) < 0)
		return -1;
	const struct loam_vm_net *n = a->out;
	return loam_db_exec(db,
			    "INSERT INTO vm_net (vm_id, host_id, slot, mac, ipv4, ipv6, "
			    "ipv6_prefix) VALUES (?, ?, ?, ?, ?, ?, ?)",
			    DB_ARGS(DB_TEXT(a->vm_id), DB_TEXT(a->host_id), DB_INT(slot),
				    DB_TEXT(n->mac), DB_TEXT(n->ipv4), DB_TEXT(n->ipv6),
				    DB_TEXT(n->ipv6_prefix)),
			    NULL, err);
}

int loam_vm_net_assign(struct loam_db *db, const char *vm_id, const char *host_id,
		       struct loam_vm_net *out, loam_err *err)
{
	struct assign a = {vm_id, host_id, out};
	*out = (struct loam_vm_net){0};
	for (int try = 1;; try++) {
		int rc = loam_db_tx(db, assign_tx, &a, err);
		if (rc == 0 || loam_err_kind_of(*err) != LOAM_E_CONFLICT || try == ASSIGN_TRIES) {
			if (rc < 0)
				loam_vm_net_free(out);
			return rc < 0 ? loam_err_wrap(err, "assign the addresses of VM %s", vm_id)
				      : 0;
		}
		loam_err_free(err); /* another process took that slot: the next one */
	}
}

int loam_vm_net_release(struct loam_db *db, const char *vm_id, loam_err *err)
{
	return loam_db_exec(db, "DELETE FROM vm_net WHERE vm_id = ?", DB_ARGS(DB_TEXT(vm_id)), NULL,
			    err);
}

/* ---- ports ---- */

int loam_vm_port_parse(const char *rule, const char *source, struct loam_vm_port *out,
		       loam_err *err)
{
	*out = (struct loam_vm_port){0};
	const char *shown = !rule || loam_has_unsafe_chars(rule) || strlen(rule) > 16 ? "?" : rule;
	char *end = NULL;
	long port = rule && *rule >= '0' && *rule <= '9' ? strtol(rule, &end, 10) : -1;
	const char *proto = end && *end == '/' ? end + 1 : end && !*end ? "tcp" : NULL;
	if (port < 1 || port > 65535 || !proto ||
	    (strcmp(proto, "tcp") != 0 && strcmp(proto, "udp") != 0))
		return loam_fail(err, LOAM_E_INVALID,
				 "port rule '%s' is not PORT[/tcp|/udp] with a port 1..65535 "
				 "(e.g. 80/tcp)",
				 shown);
	out->port = (unsigned)port;
	snprintf(out->proto, sizeof(out->proto), "%s", proto);
	if (!source || !*source)
		return 0;
	struct loam_net4 n4;
	struct loam_net6 n6;
	char canon[LOAM_CIDR_STRLEN];
	if (strchr(source, ':')) {
		if (loam_net6_parse("source", source, 0, 128, &n6, err) < 0)
			return -1;
		loam_net6_format(&n6, canon);
	} else {
		if (loam_net4_parse("source", source, 0, 32, &n4, err) < 0)
			return -1;
		loam_net4_format(&n4, canon);
	}
	snprintf(out->source, sizeof(out->source), "%s", canon);
	return 0;
}

void loam_vm_port_format(const struct loam_vm_port *p, char *buf, size_t size)
{
	if (*p->source)
		snprintf(buf, size, "%u/%s from %s", p->port, p->proto, p->source);
	else
		snprintf(buf, size, "%u/%s", p->port, p->proto);
}

int loam_vm_ports(struct loam_db *db, const char *vm_id, struct loam_vm_port **out, size_t *n,
		  loam_err *err)
{
	cleanup_rows struct loam_db_rows *r = NULL;
	*out = NULL;
	*n = 0;
	if (loam_db_query(db,
			  "SELECT port, proto, source FROM vm_port WHERE vm_id = ? "
			  "ORDER BY port, proto, source",
			  DB_ARGS(DB_TEXT(vm_id)), &r, err) < 0)
		return -1;
	size_t count = loam_db_rows_count(r);
	struct loam_vm_port *v = xcalloc(count ? count : 1, sizeof(*v));
	for (size_t i = 0; i < count; i++) {
		v[i].port = (unsigned)loam_db_rows_int(r, i, 0);
		snprintf(v[i].proto, sizeof(v[i].proto), "%s", loam_db_rows_text(r, i, 1));
		snprintf(v[i].source, sizeof(v[i].source), "%s", loam_db_rows_text(r, i, 2));
	}
	*out = v;
	*n = count;
	return 0;
}

int loam_vm_port_add(struct loam_db *db, const char *vm_id, const struct loam_vm_port *p,
		     bool *changed, loam_err *err)
{
	int64_t n = 0;
	if (loam_db_exec(
		db,
		"INSERT INTO vm_port (vm_id, port, proto, source) VALUES (?, ?, ?, ?) "
		"ON CONFLICT DO NOTHING",
		DB_ARGS(DB_TEXT(vm_id), DB_INT(p->port), DB_TEXT(p->proto), DB_TEXT(p->source)), &n,
		err) < 0)
		return -1;
	*changed = n > 0;
	return 0;
}

int loam_vm_port_rm(struct loam_db *db, const char *vm_id, const struct loam_vm_port *p,
		    bool *changed, loam_err *err)
{
	int64_t n = 0;
	if (loam_db_exec(
		db,
		"DELETE FROM vm_port WHERE vm_id = ? AND port = ? AND proto = ? AND "
		"source = ?",
		DB_ARGS(DB_TEXT(vm_id), DB_INT(p->port), DB_TEXT(p->proto), DB_TEXT(p->source)), &n,
		err) < 0)
		return -1;
	*changed = n > 0;
	return 0;
}
