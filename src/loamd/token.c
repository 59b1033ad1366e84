/*
 * The API bearer token: 32 random bytes from OpenSSL, hex-encoded, kept in
 * STATE_DIR/token with mode 0600. It is written once, atomically, so that
 * a crash during the first start never leaves a half token, and reused on
 * every later start so that the CLI keeps working across restarts.
 */
#include "loamd/loamd.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lib/cleanup.h"
#include "lib/fs.h"
#include "lib/xalloc.h"

#define TOKEN_BYTES ((size_t)32)

static int token_path(const char *state_dir, const char *file, char **out, loam_err *err)
{
	if (asprintf(out, "%s/%s", state_dir, file) < 0)
		return loam_fail(err, LOAM_E_INTERNAL, "out of memory");
	return 0;
}

static bool token_well_formed(const char *s)
{
	return strlen(s) == 2 * TOKEN_BYTES && strspn(s, "0123456789abcdef") == 2 * TOKEN_BYTES;
}

static int read_token(const char *path, char **out, loam_err *err)
{
	struct stat st;
	if (stat(path, &st) < 0)
		return loam_fail_errno(err, "stat %s", path);
	if (st.st_mode & 077)
		return loam_fail(err, LOAM_E_CONFLICT,
				 "%s is readable by others (mode %03o); fix it with: chmod 600 %s",
				 path, (unsigned)(st.st_mode & 0777), path);
	char *buf = NULL;
	size_t len = 0;
	if (loam_read_file(path, 4096, &buf, &len, err) < 0)
		return -1;
	while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		buf[--len] = '\0';
	if (!token_well_formed(buf)) {
		free(buf);
		return loam_fail(err, LOAM_E_CONFLICT,
				 "%s does not hold a loamd token (64 hex characters); remove it "
				 "and restart loamd to write a new one",
				 path);
	}
	*out = buf;
	return 0;
}

static int write_token(const char *path, char **out, loam_err *err)
{
	unsigned char raw[TOKEN_BYTES];
	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return loam_fail(err, LOAM_E_INTERNAL, "RAND_bytes failed");
	char *hex = xmalloc(2 * TOKEN_BYTES + 2);
	for (size_t i = 0; i < TOKEN_BYTES; i++)
		snprintf(hex + 2 * i, 3, "%02x", raw[i]);
	OPENSSL_cleanse(raw, sizeof(raw));
	hex[2 * TOKEN_BYTES] = '\n';
	int rc = loam_write_file_atomic(path, hex, 2 * TOKEN_BYTES + 1, 0600, err);
	hex[2 * TOKEN_BYTES] = '\0';
	if (rc < 0) {
		free(hex);
		return -1;
	}
	*out = hex;
	return 0;
}

int loamd_token_load_or_create(const char *state_dir, char **out, loam_err *err)
{
	return loamd_token_file_load_or_create(state_dir, "token", out, err);
}

int loamd_token_file_load_or_create(const char *state_dir, const char *file, char **out,
				    loam_err *err)
{
	cleanup_free char *path = NULL;
	if (token_path(state_dir, file, &path, err) < 0)
		return -1;
	struct stat st;
	if (stat(path, &st) == 0)
		return read_token(path, out, err);
	if (errno != ENOENT)
		return loam_fail_errno(err, "stat %s", path);
	return write_token(path, out, err);
}
