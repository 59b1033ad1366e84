/*
 * Small file-system helpers used everywhere: read a whole file, write one
 * atomically (temp file, fsync, rename), and mkdir -p.
 */
#ifndef LOAM_FS_H
#define LOAM_FS_H

#include <stddef.h>
#include <sys/types.h>

#include "lib/err.h"

/* Reads at most max bytes (0: 64 MiB) into a NUL-terminated buffer. */
int loam_read_file(const char *path, size_t max, char **out, size_t *len, loam_err *err);
/* The same from an open descriptor; `what` names it in errors. */
int loam_read_fd(int fd, const char *what, size_t max, char **out, size_t *len, loam_err *err);
/* Writes a temp file of a random name in PATH's directory (made through
 * that directory's fd with O_EXCL|O_NOFOLLOW, so nothing planted there is
 * followed), fsyncs, renames; the file and its directory are durable when
 * this returns 0. Nothing is left behind on failure. */
int loam_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode,
			   loam_err *err);
int loam_mkdir_p(const char *path, mode_t mode, loam_err *err);
/* fsync the directory that holds path. */
int loam_fsync_parent(const char *path, loam_err *err);

#endif
