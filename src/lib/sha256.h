/*
 * SHA-256 through OpenSSL's libcrypto (EVP), as lower-case hex. Every
 * artifact and agent upload is checked with these.
 */
#ifndef LOAM_SHA256_H
#define LOAM_SHA256_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"

#define LOAM_SHA256_HEX_LEN 64

int loam_sha256_file(const char *path, char hex[LOAM_SHA256_HEX_LEN + 1], uint64_t *size,
		     loam_err *err);
int loam_sha256_buf(const void *data, size_t len, char hex[LOAM_SHA256_HEX_LEN + 1], loam_err *err);
/* True for exactly 64 lower-case hex digits. */
bool loam_sha256_hex_valid(const char *s);

#endif
