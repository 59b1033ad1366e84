/*
 * File helpers. loam_write_file_atomic is the only way loam writes a file
 * that must survive a crash whole or not at all (tokens, state, artifacts).
 */
#include "lib/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

int loam_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode,
			   loam_err *err)
{
	cleanup_free char *tmp = NULL;
	if (asprintf(&tmp, "%s.tmp.%d", path, (int)getpid()) < 0)
		return loam_fail(err, LOAM_E_INTERNAL, "out of memory");
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return loam_fail_errno(err, "create %s", tmp);
	if (fchmod(fd, mode) < 0 || write_all(fd, data, len) < 0 || fsync(fd) < 0) {
		loam_fail_errno(err, "write %s", tmp);
		close(fd);
		unlink(tmp);
		return -1;
	}
	close(fd);
	if (rename(tmp, path) < 0) {
		loam_fail_errno(err, "rename %s to %s", tmp, path);
		unlink(tmp);
		return -1;
	}
	return loam_fsync_parent(path, err);
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
