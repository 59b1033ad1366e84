/*
 * Opening and removing a VM's files through checked directory fds; see
 * vm_files.h. Nothing here resolves a path inside run/ from root: only
 * names relative to an fd, with O_NOFOLLOW.
 */
#include "host/vm_files.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "proto/agent.h"

#define PIDFILE_MAX 32

int vm_dir_open(const struct vm_paths *p, loam_err *err)
{
	int fd = open(p->dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && (errno == ENOENT || errno == ENOTDIR || errno == ELOOP))
		return loam_fail(err, LOAM_E_NOTFOUND, "VM %s is not prepared; run vm-prep", p->id);
	if (fd < 0)
		return loam_fail_errno(err, "open %s", p->dir);
	struct stat st;
	if (fstat(fd, &st) < 0 || st.st_uid != 0 || (st.st_mode & 022)) {
		close(fd);
		return loam_fail(err, LOAM_E_NOTFOUND,
				 "%s is not a directory of root's that only root can write (an "
				 "older layout?); run vm-prep",
				 p->dir);
	}
	return fd;
}

int vm_run_open(int dirfd, uid_t *owner, loam_err *err)
{
	int fd = openat(dirfd, LOAM_LAYOUT_VM_RUN, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return loam_fail(err, LOAM_E_NOTFOUND, "the VM's run/ directory: %s; run vm-prep",
				 strerror(errno));
	struct stat st;
	if (fstat(fd, &st) < 0 || st.st_uid == 0) {
		close(fd);
		return loam_fail(err, LOAM_E_NOTFOUND,
				 "the VM's run/ directory is not its user's; run vm-prep");
	}
	*owner = st.st_uid;
	return fd;
}

int vm_file_open(int dirfd, const char *name, int flags, uid_t owner, loam_err *err)
{
	int fd = openat(dirfd, name, flags | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600);
	if (fd < 0)
		return errno == ENOENT ? loam_fail(err, LOAM_E_NOTFOUND, "%s is missing", name)
				       : loam_fail_errno(err, "open %s", name);
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != owner || st.st_nlink != 1 ||
	    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) < 0) {
		close(fd);
		return loam_fail(err, LOAM_E_CONFLICT,
				 "%s is not a plain file of uid %u with one link; refusing it",
				 name, (unsigned)owner);
	}
	return fd;
}

int vm_unlink_at(int dirfd, const char *name, loam_err *err)
{
	if (unlinkat(dirfd, name, 0) < 0 && errno != ENOENT)
		return loam_fail_errno(err, "remove %s", name);
	return 0;
}

pid_t vm_pidfile_read(const struct vm_paths *p, uid_t *owner)
{
	cleanup_err loam_err err = NULL;
	cleanup_close int dir = vm_dir_open(p, &err);
	cleanup_close int run = dir < 0 ? -1 : vm_run_open(dir, owner, &err);
	cleanup_close int fd =
	    run < 0 ? -1 : vm_file_open(run, LOAM_LAYOUT_VM_PIDFILE, O_RDONLY, *owner, &err);
	char buf[PIDFILE_MAX + 1];
	ssize_t n = fd < 0 ? -1 : read(fd, buf, PIDFILE_MAX);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	long pid = strtol(buf, NULL, 10);
	return pid > 1 && pid <= 1L << 22 ? (pid_t)pid : 0;
}

/* Empties the directory fd, then returns; the caller removes it. */
static int empty_dir(int fd, loam_err *err)
{
	int dup_fd = dup(fd);
	DIR *d = dup_fd < 0 ? NULL : fdopendir(dup_fd);
	if (!d) {
		if (dup_fd >= 0)
			close(dup_fd);
		return loam_fail_errno(err, "read a VM directory");
	}
	int rc = 0;
	for (struct dirent *e; rc == 0 && (e = readdir(d));) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (unlinkat(fd, e->d_name, 0) == 0 || errno == ENOENT)
			continue;
		if (errno != EISDIR && errno != EPERM) {
			rc = loam_fail_errno(err, "remove %s", e->d_name);
			break;
		}
		int sub = openat(fd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub < 0)
			rc = loam_fail_errno(err, "open %s", e->d_name);
		else {
			rc = empty_dir(sub, err);
			close(sub);
		}
		if (rc == 0 && unlinkat(fd, e->d_name, AT_REMOVEDIR) < 0 && errno != ENOENT)
			rc = loam_fail_errno(err, "remove %s", e->d_name);
	}
	closedir(d);
	return rc;
}

int vm_remove_tree(const char *dir, loam_err *err)
{
	cleanup_close int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		return 0;
	if (fd < 0)
		return unlink(dir) == 0 || errno == ENOENT ? 0
							   : loam_fail_errno(err, "remove %s", dir);
	if (empty_dir(fd, err) < 0)
		return loam_err_wrap(err, "remove %s", dir);
	if (rmdir(dir) < 0 && errno != ENOENT)
		return loam_fail_errno(err, "remove %s", dir);
	return 0;
}
