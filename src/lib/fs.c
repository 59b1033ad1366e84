/*
 * File helpers. loam_write_file_atomic is the only way loam writes a file
 * that must survive a crash whole or not at all (tokens, state, artifacts).
 */
#include "lib/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/cleanup.h"

int loam_read_fd(int fd, const char *what, size_t max, char **out, size_t *len, loam_err *err)
{
	if (!max)
		max = (size_t)64 << 20;
	size_t cap = 4096, n = 0;
	cleanup_free char *buf = malloc(cap);
	if (!buf)
		return loam_fail(err, LOAM_E_INTERNAL, "out of memory");
	for (;;) {
		if (n + 1 >= cap) {
			if (cap >= max + 1)
				break;
			cap = cap * 2 > max + 1 ? max + 1 : cap * 2;
			char *nb = realloc(buf, cap);
			if (!nb)
				return loam_fail(err, LOAM_E_INTERNAL, "out of memory");
			buf = nb;
		}
		ssize_t r = read(fd, buf + n, cap - n - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return loam_fail_errno(err, "read %s", what);
		if (r == 0)
			break;
		n += (size_t)r;
	}
	buf[n] = '\0';
	if (len)
		*len = n;
	*out = loam_steal(&buf);
	return 0;
}

int loam_read_file(const char *path, size_t max, char **out, size_t *len, loam_err *err)
{
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return loam_fail_errno(err, "open %s", path);
	return loam_read_fd(fd, path, max, out, len, err);
}

int loam_fsync_parent(const char *path, loam_err *err)
{
	cleanup_free char *copy = strdup(path);
	if (!copy)
		return loam_fail(err, LOAM_E_INTERNAL, "out of memory");
	cleanup_close int dfd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fsync(dfd) < 0)
		return loam_fail_errno(err, "fsync directory of %s", path);
	return 0;
}

static int write_all(int fd, const void *data, size_t len)
{
	const char *p = data;
	while (len) {
		ssize_t w = write(fd, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

/* A fresh temp file next to base under dfd: a random name, created
 * O_EXCL|O_NOFOLLOW, so nothing planted there in advance is used. */
static int open_temp(int dfd, const char *base, mode_t mode, char *tmp, size_t size, loam_err *err)
{
	for (int attempt = 0; attempt < 16; attempt++) {
		uint64_t r;
		if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r))
			return loam_fail_errno(err, "getrandom");
		snprintf(tmp, size, ".%.200s.tmp.%016" PRIx64, base, r);
		int fd =
		    openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
		if (fd >= 0 || errno != EEXIST)
			return fd >= 0 ? fd
				       : loam_fail_errno(err, "create a temp file for %s", base);
	}
	return loam_fail(err, LOAM_E_IO, "no free temp name for %s", base);
}

int loam_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode,
			   loam_err *err)
{
	cleanup_free char *dir_copy = strdup(path), *base_copy = strdup(path);
	if (!dir_copy || !base_copy)
		return loam_fail(err, LOAM_E_INTERNAL, "out of memory");
	const char *base = basename(base_copy);
	cleanup_close int dfd = open(dirname(dir_copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return loam_fail_errno(err, "open the directory of %s", path);
	char tmp[256];
	int fd = open_temp(dfd, base, mode, tmp, sizeof(tmp), err);
	if (fd < 0)
		return -1;
	if (fchmod(fd, mode) < 0 || write_all(fd, data, len) < 0 || fsync(fd) < 0) {
		loam_fail_errno(err, "write %s", path);
		close(fd);
		unlinkat(dfd, tmp, 0);
		return -1;
	}
	close(fd);
	if (renameat(dfd, tmp, dfd, base) < 0) {
		loam_fail_errno(err, "rename the temp file to %s", path);
		unlinkat(dfd, tmp, 0);
		return -1;
	}
	return fsync(dfd) < 0 ? loam_fail_errno(err, "fsync directory of %s", path) : 0;
}

int loam_mkdir_p(const char *path, mode_t mode, loam_err *err)
{
	cleanup_free char *p = strdup(path);
	if (!p)
		return loam_fail(err, LOAM_E_INTERNAL, "out of memory");
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, mode) < 0 && errno != EEXIST)
			return loam_fail_errno(err, "mkdir %s", p);
		*s = '/';
	}
	if (mkdir(p, mode) < 0 && errno != EEXIST)
		return loam_fail_errno(err, "mkdir %s", p);
	return 0;
}
