/*
 * The local transport: this machine is the host. Commands are spawned
 * directly from their argv (no shell anywhere), and an upload is a copy to
 * a temp name in the destination's directory, fsynced, then renamed, so a
 * reader never sees half a file and a crash leaves the old one in place.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/fs.h"
#include "lib/xalloc.h"
#include "transport/internal.h"

int loam_local_run(struct loam_transport *t, const char *const *argv, const char *stdin_data,
		   size_t stdin_len, int timeout_ms, struct loam_spawn_result *res, loam_err *err)
{
	struct loam_spawn_opts o = {
	    .argv = argv,
	    .stdin_data = stdin_data,
	    .stdin_len = stdin_len,
	    .timeout_ms = timeout_ms,
	};
	if (loam_spawn(&o, res, err) < 0)
		return loam_err_wrap(err, "run %s on %s", argv[0], t->name);
	return 0;
}

static int copy_fd(int in, int out, const char *from, const char *to, loam_err *err)
{
	char buf[1 << 16];
	for (;;) {
		ssize_t n = read(in, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return loam_fail_errno(err, "read %s", from);
		if (n == 0)
			return 0;
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(out, buf + off, (size_t)(n - off));
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0)
				return loam_fail_errno(err, "write %s", to);
			off += w;
		}
	}
}

/* "<path>.tmp.<16 hex>": unguessable, so concurrent uploads never collide. */
char *loam_transport_temp_name(const char *path)
{
	unsigned long long r = 0;
	if (getrandom(&r, sizeof(r), 0) != sizeof(r))
		r = (unsigned long long)getpid() ^ (unsigned long long)(uintptr_t)&r;
	char *tmp = xasprintf("%s.tmp.%016llx", path, r);
	return tmp;
}

static int write_temp(const char *local_path, const char *tmp, mode_t mode, loam_err *err)
{
	cleanup_close int in = open(local_path, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return loam_fail_errno(err, "open %s", local_path);
	cleanup_close int out = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (out < 0)
		return loam_fail_errno(err, "create %s", tmp);
	if (copy_fd(in, out, local_path, tmp, err) < 0)
		return -1;
	if (fchmod(out, mode) < 0)
		return loam_fail_errno(err, "chmod %s", tmp);
	if (fsync(out) < 0)
		return loam_fail_errno(err, "fsync %s", tmp);
	return 0;
}

int loam_local_upload(const char *local_path, const char *remote_path, mode_t mode, loam_err *err)
{
	cleanup_free char *tmp = loam_transport_temp_name(remote_path);
	if (write_temp(local_path, tmp, mode, err) < 0 || rename(tmp, remote_path) < 0) {
		if (!*err)
			loam_fail_errno(err, "rename %s to %s", tmp, remote_path);
		unlink(tmp);
		return loam_err_wrap(err, "upload %s", local_path);
	}
	return loam_fsync_parent(remote_path, err);
}
