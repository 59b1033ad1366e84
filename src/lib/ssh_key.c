/*
 * Parsing and fingerprinting OpenSSH public key lines (lib/ssh_key.h),
 * with libcrypto's base64 and SHA-256.
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "lib/ssh_key.h"
#include "lib/xalloc.h"

static const char *const key_types[] = {
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "ssh-rsa",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
};

static bool known_type(const char *t, size_t len)
{
	for (size_t i = 0; i < sizeof(key_types) / sizeof(key_types[0]); i++)
		if (strlen(key_types[i]) == len && memcmp(key_types[i], t, len) == 0)
			return true;
	return false;
}

static bool is_base64(const char *s, size_t len)
{
	if (len == 0 || len % 4 != 0)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '+' && s[i] != '/' &&
		    !(s[i] == '=' && i >= len - 2))
			return false;
	return true;
}

/* Decodes base64 into a fresh buffer; EVP_DecodeBlock counts the padding
 * as zero bytes, so those are taken off. */
static unsigned char *decode64(const char *s, size_t len, size_t *out_len)
{
	unsigned char *buf = xmalloc(len / 4 * 3 + 1);
	int n = EVP_DecodeBlock(buf, (const unsigned char *)s, (int)len);
	if (n < 0) {
		free(buf);
		return NULL;
	}
	size_t pad = (s[len - 1] == '=') + (s[len - 2] == '=');
	*out_len = (size_t)n - pad;
	return buf;
}

/* The blob starts with the key type as an SSH string (4-byte length). */
static bool blob_names_type(const unsigned char *blob, size_t len, const char *type, size_t tlen)
{
	if (len < 4)
		return false;
	uint32_t n =
	    (uint32_t)blob[0] << 24 | (uint32_t)blob[1] << 16 | (uint32_t)blob[2] << 8 | blob[3];
	return n == tlen && len - 4 > tlen && memcmp(blob + 4, type, tlen) == 0;
}

static void fingerprint(const unsigned char *blob, size_t len, char out[])
{
	unsigned char md[32];
	unsigned int mdlen = 0;
	EVP_Digest(blob, len, md, &mdlen, EVP_sha256(), NULL);
	unsigned char b64[48];
	int n = EVP_EncodeBlock(b64, md, (int)mdlen);
	while (n > 0 && b64[n - 1] == '=')
		n--;
	memcpy(out, "SHA256:", 7);
	memcpy(out + 7, b64, (size_t)n);
	out[7 + n] = '\0';
}

static bool printable_comment(const char *s)
{
	for (; *s; s++)
		if (*s < 0x20 || *s > 0x7e)
			return false;
	return true;
}

static int parse_fields(const char *what, const char *p, struct loam_ssh_key *out, loam_err *err)
{
	size_t tlen = strcspn(p, " \t");
	if (!known_type(p, tlen))
		return loam_fail(err, LOAM_E_INVALID,
				 "%s: '%.*s' is not an SSH public key type (expected ssh-ed25519, "
				 "ecdsa-sha2-nistp256/384/521, ssh-rsa or an sk- key)",
				 what, (int)(tlen > 40 ? 40 : tlen), p);
	const char *b = p + tlen + strspn(p + tlen, " \t");
	size_t blen = strcspn(b, " \t");
	size_t dlen = 0;
	unsigned char *blob = is_base64(b, blen) ? decode64(b, blen, &dlen) : NULL;
	bool ok = blob && blob_names_type(blob, dlen, p, tlen);
	if (ok)
		fingerprint(blob, dlen, out->fingerprint);
	free(blob);
	if (!ok)
		return loam_fail(err, LOAM_E_INVALID,
				 "%s: the key data is not a valid %.*s public key (copy the whole "
				 "line of the .pub file)",
				 what, (int)tlen, p);
	const char *c = b + blen + strspn(b + blen, " \t");
	if (!printable_comment(c))
		return loam_fail(err, LOAM_E_INVALID,
				 "%s: the comment holds control or non-ASCII characters", what);
	out->type = xstrndup(p, tlen);
	out->blob64 = xstrndup(b, blen);
	out->comment = xstrdup(c);
	return 0;
}

int loam_ssh_key_parse(const char *what, const char *line, struct loam_ssh_key *out, loam_err *err)
{
	*out = (struct loam_ssh_key){0};
	if (!line)
		return loam_fail(err, LOAM_E_INVALID, "%s: empty", what);
	size_t len = strlen(line);
	if (len > LOAM_SSH_KEY_MAX)
		return loam_fail(err, LOAM_E_INVALID, "%s: longer than %d bytes", what,
				 LOAM_SSH_KEY_MAX);
	char *copy = xstrdup(line + strspn(line, " \t"));
	size_t n = strlen(copy);
	while (n > 0 && (copy[n - 1] == '\n' || copy[n - 1] == '\r' || copy[n - 1] == ' ' ||
			 copy[n - 1] == '\t'))
		copy[--n] = '\0';
	int rc = strchr(copy, '\n') || strchr(copy, '\r')
		     ? loam_fail(err, LOAM_E_INVALID, "%s: more than one line", what)
		 : n == 0 ? loam_fail(err, LOAM_E_INVALID, "%s: empty", what)
			  : parse_fields(what, copy, out, err);
	free(copy);
	if (rc < 0)
		loam_ssh_key_free(out);
	return rc;
}

void loam_ssh_key_free(struct loam_ssh_key *k)
{
	free(k->type);
	free(k->blob64);
	free(k->comment);
	*k = (struct loam_ssh_key){0};
}

char *loam_ssh_key_line(const struct loam_ssh_key *k)
{
	return *k->comment ? xasprintf("%s %s %s", k->type, k->blob64, k->comment)
			   : xasprintf("%s %s", k->type, k->blob64);
}
