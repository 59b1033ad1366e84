/*
 * A host's network settings (db/net.h): checking the pool and the prefix an
 * operator gives, the host's own ULA /48 when none is given, how many VMs
 * they hold, and the writes of `loam host set --ipv4-pool / --ipv6-prefix
 * / --egress`.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/net.h"
#include "lib/cleanup.h"
#include "lib/xalloc.h"

/* Ranges a pool must stay out of: "this network", loopback, the link
 * addresses every VM namespace uses, multicast and reserved. */
static const char *const reserved4[] = {"0.0.0.0/8", "127.0.0.0/8", "169.254.0.0/16", "224.0.0.0/3",
					NULL};

static bool overlaps4(const struct loam_net4 *a, const struct loam_net4 *b)
{
	return loam_net4_contains(a, b->addr) || loam_net4_contains(b, a->addr);
}

int loam_net_pool_parse(const char *cidr, struct loam_net4 *out, loam_err *err)
{
	if (loam_net4_parse("ipv4 pool", cidr, LOAM_NET_POOL_MIN_LEN, LOAM_NET_POOL_MAX_LEN, out,
			    err) < 0)
		return -1;
	for (const char *const *r = reserved4; *r; r++) {
		struct loam_net4 bad;
		loam_net4_parse("reserved", *r, 0, 32, &bad, NULL);
		if (overlaps4(out, &bad))
			return loam_fail(err, LOAM_E_INVALID,
					 "ipv4 pool %s overlaps %s, which VMs cannot use; pick a "
					 "private range such as " LOAM_NET_DEFAULT_POOL,
					 cidr, *r);
	}
	return 0;
}

int loam_net_prefix_parse(const char *cidr, struct loam_net6 *out, loam_err *err)
{
	if (loam_net6_parse("ipv6 prefix", cidr, LOAM_NET_PREFIX_MIN_LEN, LOAM_NET_PREFIX_MAX_LEN,
			    out, err) < 0)
		return -1;
	bool link_local = out->addr[0] == 0xfe && (out->addr[1] & 0xc0) == 0x80;
	if (out->addr[0] == 0x00 || out->addr[0] == 0xff || link_local)
		return loam_fail(err, LOAM_E_INVALID,
				 "ipv6 prefix %s is reserved, multicast or link-local; give a "
				 "global or unique local prefix (fd00::/8)",
				 cidr);
	return 0;
}

int loam_net_host_prefix(const char *host_id, const char *configured, struct loam_net6 *out,
			 loam_err *err)
{
	if (configured)
		return loam_net_prefix_parse(configured, out, err);
	char seed[64];
	snprintf(seed, sizeof(seed), "loam-host-ula:%s", host_id);
	return loam_ula48_from(seed, out, err);
}

int64_t loam_net_capacity(const struct loam_net4 *pool, const struct loam_net6 *prefix)
{
	int64_t v4 = (int64_t)loam_net4_size(pool) - 2;
	unsigned bits = 64 - prefix->len;
	int64_t v6 = bits >= 31 ? INT32_MAX : ((int64_t)1 << bits) - 1;
	return v4 < v6 ? v4 : v6;
}

/* The host's pool and prefix as stored, for recomputing its capacity. */
static int load(struct loam_db *db, const char *host_id, char **pool, char **prefix, int64_t *used,
		loam_err *err)
{
	cleanup_rows struct loam_db_rows *r = NULL;
	if (loam_db_query(db, "SELECT ipv4_pool, ipv6_prefix, ipv4_used FROM host WHERE id = ?",
			  DB_ARGS(DB_TEXT(host_id)), &r, err) < 0)
		return -1;
	if (loam_db_rows_count(r) == 0)
		return loam_fail(err, LOAM_E_NOTFOUND, "no host with id %s", host_id);
	*pool = loam_db_rows_dup(r, 0, 0);
	*prefix = loam_db_rows_dup(r, 0, 1);
	*used = loam_db_rows_int(r, 0, 2);
	return 0;
}

/* Writes a new pool or prefix, refused while VMs are placed on the host:
 * their addresses would move under them. */
static int set_addresses(struct loam_db *db, const char *host_id, const char *pool,
			 const char *prefix, bool set_prefix, loam_err *err)
{
	cleanup_free char *old_pool = NULL, *old_prefix = NULL;
	int64_t used = 0;
	if (load(db, host_id, &old_pool, &old_prefix, &used, err) < 0)
		return -1;
	if (used > 0)
		return loam_fail(err, LOAM_E_CONFLICT,
				 "%lld VM(s) are placed on this host with addresses from its pool "
				 "and prefix; remove them (or move them away) before changing "
				 "either",
				 (long long)used);
	const char *new_pool = pool ? pool : old_pool;
	const char *new_prefix = set_prefix ? prefix : old_prefix;
	struct loam_net4 p4;
	struct loam_net6 p6;
	if (loam_net_pool_parse(new_pool, &p4, err) < 0 ||
	    loam_net_host_prefix(host_id, new_prefix, &p6, err) < 0)
		return -1;
	return loam_db_exec(db,
			    "UPDATE host SET ipv4_pool = ?, ipv6_prefix = ?, ipv4_total = ? "
			    "WHERE id = ?",
			    DB_ARGS(DB_TEXT(new_pool), loam_db_text_or_null(new_prefix),
				    DB_INT(loam_net_capacity(&p4, &p6)), DB_TEXT(host_id)),
			    NULL, err);
}

int loam_host_set_ipv4_pool(struct loam_db *db, const char *host_id, const char *cidr,
			    loam_err *err)
{
	struct loam_net4 p4;
	if (loam_net_pool_parse(cidr, &p4, err) < 0)
		return -1;
	char canon[LOAM_CIDR_STRLEN];
	loam_net4_format(&p4, canon);
	return set_addresses(db, host_id, canon, NULL, false, err);
}

int loam_host_set_ipv6_prefix(struct loam_db *db, const char *host_id, const char *cidr,
			      loam_err *err)
{
	char canon[LOAM_CIDR_STRLEN];
	if (cidr) {
		struct loam_net6 p6;
		if (loam_net_prefix_parse(cidr, &p6, err) < 0)
			return -1;
		loam_net6_format(&p6, canon);
	}
	return set_addresses(db, host_id, NULL, cidr ? canon : NULL, true, err);
}

int loam_host_set_egress(struct loam_db *db, const char *host_id, bool on, loam_err *err)
{
	return loam_db_exec(db, "UPDATE host SET egress = ? WHERE id = ?",
			    DB_ARGS(DB_INT(on), DB_TEXT(host_id)), NULL, err);
}

int loam_host_vm_ids(struct loam_db *db, const char *host_id, char ***ids, size_t *n, loam_err *err)
{
	cleanup_rows struct loam_db_rows *r = NULL;
	*ids = NULL;
	*n = 0;
	if (loam_db_query(db, "SELECT id FROM vm WHERE host_id = ? ORDER BY id",
			  DB_ARGS(DB_TEXT(host_id)), &r, err) < 0)
		return -1;
	size_t count = loam_db_rows_count(r);
	char **v = xcalloc(count + 1, sizeof(*v));
	for (size_t i = 0; i < count; i++)
		v[i] = xstrdup(loam_db_rows_text(r, i, 0));
	*ids = v;
	*n = count;
	return 0;
}
