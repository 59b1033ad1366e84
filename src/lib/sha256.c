/*
 * SHA-256 over libcrypto's EVP interface; files are streamed in 1 MiB reads.
 */
#include "lib/sha256.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <string.h>
#include <unistd.h>

#include "lib/cleanup.h"

static void to_hex(const unsigned char *md, char hex[LOAM_SHA256_HEX_LEN + 1])
{
	static const char digits[] = "0123456789abcdef";
	for (int i = 0; i < 32; i++) {
		hex[(size_t)2 * i] = digits[md[i] >> 4];
		hex[(size_t)2 * i + 1] = digits[md[i] & 15];
	}
	hex[LOAM_SHA256_HEX_LEN] = '\0';
}

static void evp_freep(EVP_MD_CTX **c)
{
	EVP_MD_CTX_free(*c);
}

int loam_sha256_file(const char *path, char hex[LOAM_SHA256_HEX_LEN + 1], uint64_t *size,
		     loam_err *err)
{
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return loam_fail_errno(err, "open %s", path);
	__attribute__((cleanup(evp_freep))) EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
		return loam_fail(err, LOAM_E_INTERNAL, "sha256: cannot initialise digest");
	cleanup_free char *buf = malloc(1 << 20);
	if (!buf)
		return loam_fail(err, LOAM_E_INTERNAL, "sha256: out of memory");
	uint64_t total = 0;
	for (;;) {
		ssize_t n = read(fd, buf, 1 << 20);
		if (n < 0)
			return loam_fail_errno(err, "read %s", path);
		if (n == 0)
			break;
		EVP_DigestUpdate(ctx, buf, (size_t)n);
		total += (uint64_t)n;
	}
	unsigned char md[32];
	EVP_DigestFinal_ex(ctx, md, NULL);
	to_hex(md, hex);
	if (size)
		*size = total;
	return 0;
}

int loam_sha256_buf(const void *data, size_t len, char hex[LOAM_SHA256_HEX_LEN + 1], loam_err *err)
{
	unsigned char md[32];
	if (EVP_Digest(data, len, md, NULL, EVP_sha256(), NULL) != 1)
		return loam_fail(err, LOAM_E_INTERNAL, "sha256: digest failed");
	to_hex(md, hex);
	return 0;
}

bool loam_sha256_hex_valid(const char *s)
{
	if (!s || strlen(s) != LOAM_SHA256_HEX_LEN)
		return false;
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
			return false;
	return true;
}
