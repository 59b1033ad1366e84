/*
 * A host's SSH key given at `host add --host-key` (issue 16): the line of
 * an OpenSSH known_hosts or .pub file ("TYPE BASE64 [comment]"), checked
 * and stored as "TYPE BASE64", the form the SSH transport compares with
 * what the server presents. The key blob itself must name the same type,
 * so a key pasted with the wrong type word is refused here, not at first
 * contact.
 */
#include "api/internal.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "lib/cleanup.h"
#include "lib/xalloc.h"

#define BLOB_MAX 4096

static const char *const key_types[] = {
    "ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "ssh-rsa",
    NULL};

static bool known_type(const char *type)
{
	for (const char *const *t = key_types; *t; t++)
		if (strcmp(*t, type) == 0)
			return true;
	return false;
}

/* The blob starts with the type as an SSH string (4-byte length, bytes). */
static bool blob_names(const char *b64, const char *type)
{
	size_t n = strlen(b64);
	if (n < 16 || n > BLOB_MAX || n % 4 != 0 ||
	    strspn(b64, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=") != n)
		return false;
	unsigned char blob[BLOB_MAX];
	int len = EVP_DecodeBlock(blob, (const unsigned char *)b64, (int)n);
	if (len < 4)
		return false;
	size_t tlen =
	    (size_t)blob[0] << 24 | (size_t)blob[1] << 16 | (size_t)blob[2] << 8 | blob[3];
	return tlen == strlen(type) && tlen + 4 <= (size_t)len && memcmp(blob + 4, type, tlen) == 0;
}

int api_host_key_parse(const char *in, char **out, loam_err *err)
{
	cleanup_free char *copy = xstrdup(in);
	char *save = NULL;
	const char *type = strtok_r(copy, " \t", &save);
	const char *b64 = type ? strtok_r(NULL, " \t", &save) : NULL;
	if (!type || !b64 || !known_type(type) || !blob_names(b64, type))
		return loam_fail(err, LOAM_E_INVALID,
				 "host_key must be a public key line 'TYPE BASE64' (TYPE one of "
				 "ssh-ed25519, ecdsa-sha2-nistp256/384/521, ssh-rsa), as in the "
				 "host's /etc/ssh/ssh_host_*_key.pub");
	*out = xasprintf("%s %s", type, b64);
	return 0;
}
