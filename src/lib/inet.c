/*
 * Address arithmetic for loam's networking; see inet.h. Parsing goes
 * through inet_pton and refuses anything it does not take whole, so no
 * text that reaches a host's `ip` or nftables is ever more than the
 * address it claims to be.
 */
#include "lib/inet.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/sha256.h"
#include "lib/valid.h"

#define INPUT_MAX 64

/* Splits "addr/len" into its parts; len must be plain decimal digits. */
static int split_prefix(const char *what, const char *s, char addr[INPUT_MAX], unsigned *len,
			loam_err *err)
{
	const char *shown = !s || loam_has_unsafe_chars(s) || strlen(s) >= INPUT_MAX ? "?" : s;
	const char *slash = s ? strchr(s, '/') : NULL;
	if (!slash || slash == s || (size_t)(slash - s) >= INPUT_MAX || !slash[1] ||
	    strlen(slash + 1) > 3 || strspn(slash + 1, "0123456789") != strlen(slash + 1))
		return loam_fail(err, LOAM_E_INVALID,
				 "%s '%s' is not a prefix ADDRESS/LENGTH (e.g. 10.200.0.0/16)",
				 what, shown);
	memcpy(addr, s, (size_t)(slash - s));
	addr[slash - s] = '\0';
	*len = (unsigned)strtoul(slash + 1, NULL, 10);
	return 0;
}

static int length_in(const char *what, const char *s, unsigned len, unsigned min_len,
		     unsigned max_len, loam_err *err)
{
	if (len < min_len || len > max_len)
		return loam_fail(err, LOAM_E_INVALID, "%s '%s': the length must be /%u to /%u",
				 what, s, min_len, max_len);
	return 0;
}

int loam_inet4_parse(const char *what, const char *s, uint32_t *out, loam_err *err)
{
	struct in_addr a;
	if (!s || strlen(s) >= INPUT_MAX || inet_pton(AF_INET, s, &a) != 1)
		return loam_fail(err, LOAM_E_INVALID, "%s '%s' is not an IPv4 address", what,
				 !s || loam_has_unsafe_chars(s) || strlen(s) >= INPUT_MAX ? "?"
											  : s);
	*out = ntohl(a.s_addr);
	return 0;
}

int loam_net4_parse(const char *what, const char *s, unsigned min_len, unsigned max_len,
		    struct loam_net4 *out, loam_err *err)
{
	char addr[INPUT_MAX];
	unsigned len = 0;
	if (split_prefix(what, s, addr, &len, err) < 0 ||
	    loam_inet4_parse(what, addr, &out->addr, err) < 0 ||
	    length_in(what, s, len, min_len, max_len, err) < 0)
		return -1;
	out->len = len;
	uint32_t host_bits = len >= 32 ? 0 : 0xffffffffu >> len;
	if (out->addr & host_bits) {
		char fixed[LOAM_CIDR_STRLEN];
		struct loam_net4 net = {out->addr & ~host_bits, len};
		loam_net4_format(&net, fixed);
		return loam_fail(err, LOAM_E_INVALID,
				 "%s '%s' has bits set past /%u; did you mean %s?", what, s, len,
				 fixed);
	}
	return 0;
}

void loam_inet4_format(uint32_t addr, char out[LOAM_INET_STRLEN])
{
	struct in_addr a = {htonl(addr)};
	inet_ntop(AF_INET, &a, out, LOAM_INET_STRLEN);
}

void loam_net4_format(const struct loam_net4 *n, char out[LOAM_CIDR_STRLEN])
{
	char a[LOAM_INET_STRLEN];
	loam_inet4_format(n->addr, a);
	snprintf(out, LOAM_CIDR_STRLEN, "%s/%u", a, n->len);
}

uint64_t loam_net4_size(const struct loam_net4 *n)
{
	return (uint64_t)1 << (32 - n->len);
}

bool loam_net4_contains(const struct loam_net4 *n, uint32_t addr)
{
	uint32_t mask = n->len == 0 ? 0 : 0xffffffffu << (32 - n->len);
	return (addr & mask) == n->addr;
}

int loam_inet6_parse(const char *what, const char *s, uint8_t out[16], loam_err *err)
{
	if (!s || strlen(s) >= INPUT_MAX || inet_pton(AF_INET6, s, out) != 1)
		return loam_fail(err, LOAM_E_INVALID, "%s '%s' is not an IPv6 address", what,
				 !s || loam_has_unsafe_chars(s) || strlen(s) >= INPUT_MAX ? "?"
											  : s);
	return 0;
}

static bool bits_past(const uint8_t a[16], unsigned len)
{
	for (unsigned bit = len; bit < 128; bit++)
		if (a[bit / 8] & (0x80 >> (bit % 8)))
			return true;
	return false;
}

static void clear_past(uint8_t a[16], unsigned len)
{
	for (unsigned bit = len; bit < 128; bit++)
		a[bit / 8] &= (uint8_t) ~(0x80 >> (bit % 8));
}

int loam_net6_parse(const char *what, const char *s, unsigned min_len, unsigned max_len,
		    struct loam_net6 *out, loam_err *err)
{
	char addr[INPUT_MAX];
	unsigned len = 0;
	if (split_prefix(what, s, addr, &len, err) < 0 ||
	    loam_inet6_parse(what, addr, out->addr, err) < 0 ||
	    length_in(what, s, len, min_len, max_len, err) < 0)
		return -1;
	out->len = len;
	if (bits_past(out->addr, len)) {
		struct loam_net6 net = *out;
		clear_past(net.addr, len);
		char fixed[LOAM_CIDR_STRLEN];
		loam_net6_format(&net, fixed);
		return loam_fail(err, LOAM_E_INVALID,
				 "%s '%s' has bits set past /%u; did you mean %s?", what, s, len,
				 fixed);
	}
	return 0;
}

void loam_inet6_format(const uint8_t addr[16], char out[LOAM_INET_STRLEN])
{
	inet_ntop(AF_INET6, addr, out, LOAM_INET_STRLEN);
}

void loam_net6_format(const struct loam_net6 *n, char out[LOAM_CIDR_STRLEN])
{
	char a[LOAM_INET_STRLEN];
	loam_inet6_format(n->addr, a);
	snprintf(out, LOAM_CIDR_STRLEN, "%s/%u", a, n->len);
}

bool loam_net6_contains(const struct loam_net6 *n, const uint8_t addr[16])
{
	uint8_t a[16];
	memcpy(a, addr, 16);
	clear_past(a, n->len);
	return memcmp(a, n->addr, 16) == 0;
}

void loam_net6_subnet(const struct loam_net6 *n, unsigned sub_len, uint32_t index,
		      struct loam_net6 *out)
{
	*out = *n;
	out->len = sub_len;
	/* The index goes into bits [len, sub_len), lowest bit last. */
	for (unsigned k = 0; k < sub_len - n->len && k < 32; k++) {
		unsigned bit = sub_len - 1 - k;
		if (index & (1u << k))
			out->addr[bit / 8] |= (uint8_t)(0x80 >> (bit % 8));
	}
}

void loam_net6_host(const struct loam_net6 *n, uint64_t iid, uint8_t out[16])
{
	memcpy(out, n->addr, 8);
	for (int i = 0; i < 8; i++)
		out[15 - i] = (uint8_t)(iid >> (8 * i));
}

static int sha256_bytes(const char *text, uint8_t out[32], loam_err *err)
{
	char hex[LOAM_SHA256_HEX_LEN + 1];
	if (loam_sha256_buf(text, strlen(text), hex, err) < 0)
		return -1;
	for (int i = 0; i < 32; i++) {
		unsigned v = 0;
		sscanf(hex + (size_t)2 * i, "%2x", &v);
		out[i] = (uint8_t)v;
	}
	return 0;
}

int loam_mac_from_id(const char *id, char out[LOAM_MAC_STRLEN], loam_err *err)
{
	uint8_t h[32];
	if (sha256_bytes(id, h, err) < 0)
		return -1;
	snprintf(out, LOAM_MAC_STRLEN, "02:%02x:%02x:%02x:%02x:%02x", h[0], h[1], h[2], h[3], h[4]);
	return 0;
}

int loam_mac_parse(const char *what, const char *s, uint8_t out[6], loam_err *err)
{
	bool ok = s && strlen(s) == LOAM_MAC_STRLEN - 1;
	for (int i = 0; ok && i < 6; i++) {
		const char *p = s + (size_t)3 * i;
		ok = strchr("0123456789abcdef", p[0]) && strchr("0123456789abcdef", p[1]) && p[0] &&
		     p[1] && (i == 5 || p[2] == ':');
		unsigned v = 0;
		if (ok)
			sscanf(p, "%2x", &v);
		out[i] = (uint8_t)v;
	}
	if (!ok || (out[0] & 1))
		return loam_fail(err, LOAM_E_INVALID,
				 "%s '%s' is not a unicast MAC (six lower-case hex pairs "
				 "separated by ':')",
				 what, !s || loam_has_unsafe_chars(s) || strlen(s) > 32 ? "?" : s);
	return 0;
}

void loam_eui64_address(const struct loam_net6 *prefix, const uint8_t mac[6], uint8_t out[16])
{
	memcpy(out, prefix->addr, 8);
	out[8] = mac[0] ^ 0x02; /* the universal/local bit flips */
	out[9] = mac[1];
	out[10] = mac[2];
	out[11] = 0xff;
	out[12] = 0xfe;
	out[13] = mac[3];
	out[14] = mac[4];
	out[15] = mac[5];
}

int loam_ula48_from(const char *seed, struct loam_net6 *out, loam_err *err)
{
	uint8_t h[32];
	if (sha256_bytes(seed, h, err) < 0)
		return -1;
	memset(out, 0, sizeof(*out));
	out->addr[0] = 0xfd;
	memcpy(out->addr + 1, h, 5);
	out->len = 48;
	return 0;
}
