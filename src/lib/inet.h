/*
 * IPv4 and IPv6 prefixes, addresses and MACs as loam's networking needs
 * them (docs/network.md): parsing with a clear error, formatting, the n-th
 * address or subnet of a prefix, a MAC derived from a VM id, the EUI-64
 * address a MAC gets by SLAAC, and a ULA /48 derived from a host id. The
 * control plane computes every address with these and the agent checks
 * what it is sent with the same functions, so both sides agree.
 */
#ifndef LOAM_INET_H
#define LOAM_INET_H

#include <stdbool.h>
#include <stdint.h>

#include "lib/err.h"

#define LOAM_INET_STRLEN 46 /* an IPv6 address with its NUL (INET6_ADDRSTRLEN) */
#define LOAM_CIDR_STRLEN 50 /* an address, "/", a length */
#define LOAM_MAC_STRLEN	 18

struct loam_net4 {
	uint32_t addr; /* host byte order */
	unsigned len;
};

struct loam_net6 {
	uint8_t addr[16];
	unsigned len;
};

/* "a.b.c.d/len" with lengths min_len..max_len and no bits set past the
 * prefix; `what` names it in the error. */
int loam_net4_parse(const char *what, const char *s, unsigned min_len, unsigned max_len,
		    struct loam_net4 *out, loam_err *err);
/* A plain address "a.b.c.d". */
int loam_inet4_parse(const char *what, const char *s, uint32_t *out, loam_err *err);
void loam_inet4_format(uint32_t addr, char out[LOAM_INET_STRLEN]);
void loam_net4_format(const struct loam_net4 *n, char out[LOAM_CIDR_STRLEN]);
/* How many addresses the prefix holds (2^(32-len)). */
uint64_t loam_net4_size(const struct loam_net4 *n);
bool loam_net4_contains(const struct loam_net4 *n, uint32_t addr);

/* "x:y::/len" with lengths min_len..max_len and no bits past the prefix. */
int loam_net6_parse(const char *what, const char *s, unsigned min_len, unsigned max_len,
		    struct loam_net6 *out, loam_err *err);
int loam_inet6_parse(const char *what, const char *s, uint8_t out[16], loam_err *err);
void loam_inet6_format(const uint8_t addr[16], char out[LOAM_INET_STRLEN]);
void loam_net6_format(const struct loam_net6 *n, char out[LOAM_CIDR_STRLEN]);
bool loam_net6_contains(const struct loam_net6 *n, const uint8_t addr[16]);
/* The index-th subnet of length sub_len inside n (index < 2^(sub_len-len),
 * sub_len - len <= 32). */
void loam_net6_subnet(const struct loam_net6 *n, unsigned sub_len, uint32_t index,
		      struct loam_net6 *out);
/* The prefix with its last 64 bits set to iid (a host address). */
void loam_net6_host(const struct loam_net6 *n, uint64_t iid, uint8_t out[16]);

/* "02:xx:xx:xx:xx:xx": locally administered, unicast, the rest from the
 * SHA-256 of the id, so the MAC is the VM's for its whole life. */
int loam_mac_from_id(const char *id, char out[LOAM_MAC_STRLEN], loam_err *err);
/* Six lower-case hex pairs separated by ':'; a unicast MAC. */
int loam_mac_parse(const char *what, const char *s, uint8_t out[6], loam_err *err);
/* The address a MAC gets by SLAAC in a /64 (modified EUI-64, RFC 4291). */
void loam_eui64_address(const struct loam_net6 *prefix, const uint8_t mac[6], uint8_t out[16]);
/* A unique local /48 (RFC 4193: fd + 40 bits) from the SHA-256 of seed. */
int loam_ula48_from(const char *seed, struct loam_net6 *out, loam_err *err);

#endif
