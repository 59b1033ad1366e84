/*
 * The tree `loam-host learn` reads: this host's / or a copy given with
 * --root. Copies of sysfs hold symlink loops and absolute links, so paths
 * resolve with openat2(RESOLVE_IN_ROOT): links stay inside the tree and a
 * loop ends in ELOOP after the kernel's bounded walk. Directory listings
 * never descend into symlinks at all.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "host/learn.h"
#include "lib/cleanup.h"
#include "lib/fs.h"

#define LEARN_READ_MAX (1u << 20)

int learn_root_open(struct learn_root *root, const char *dir, loam_err *err)
{
	root->is_host = dir == NULL;
	root->dir = strdup(dir ? dir : "/");
	if (!root->dir)
		return loam_fail(err, LOAM_E_INTERNAL, "out of memory");
	root->fd = open(root->dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root->fd < 0) {
		loam_fail_errno(err, "open root %s", root->dir);
		free(root->dir);
		root->dir = NULL;
		return -1;
	}
	return 0;
}

void learn_root_close(struct learn_root *root)
{
	if (root->fd >= 0)
		close(root->fd);
	root->fd = -1;
	free(root->dir);
	root->dir = NULL;
}

int learn_openat(const struct learn_root *root, const char *rel, int flags)
{
	struct open_how how = {
	    .flags = (unsigned long long)(flags | O_CLOEXEC),
	    .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	int fd = (int)syscall(SYS_openat2, root->fd, rel, &how, sizeof(how));
	/* Kernels before 5.6, qemu-user and some seccomp filters lack openat2;
	 * plain openat still bounds symlink walks (ELOOP). */
	if (fd < 0 && (errno == ENOSYS || errno == EPERM))
		fd = openat(root->fd, rel, flags | O_CLOEXEC);
	return fd;
}

int learn_read(const struct learn_root *root, const char *rel, size_t max, char **out, size_t *len,
	       loam_err *err)
{
	if (!max)
		max = LEARN_READ_MAX;
	cleanup_close int fd = learn_openat(root, rel, O_RDONLY);
	if (fd < 0)
		return loam_fail_errno(err, "open %s", rel);
	return loam_read_fd(fd, rel, max, out, len, err);
}

static bool name_matches(const char *name, const char *prefix, bool any_suffix)
{
	size_t n = strlen(prefix);
	if (strncmp(name, prefix, n) != 0 || name[n] == '\0')
		return false;
	if (any_suffix)
		return true;
	return strspn(name + n, "0123456789") == strlen(name + n);
}

/* A real directory: symlinks (and so loops) are never entered. */
static bool is_real_dir(int dfd, const struct dirent *de)
{
	if (de->d_type != DT_UNKNOWN)
		return de->d_type == DT_DIR;
	struct stat st;
	return fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
}

int learn_each_dir(const struct learn_root *root, const char *rel, const char *prefix,
		   bool any_suffix, int (*fn)(const char *name, void *ctx), void *ctx,
		   loam_err *err)
{
	int fd = learn_openat(root, rel, O_RDONLY | O_DIRECTORY);
	if (fd < 0)
		return loam_fail_errno(err, "open %s", rel);
	cleanup_dir DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return loam_fail_errno(err, "list %s", rel);
	}
	for (struct dirent *de; (de = readdir(d));) {
		if (!name_matches(de->d_name, prefix, any_suffix) || !is_real_dir(fd, de))
			continue;
		if (fn(de->d_name, ctx) < 0)
			return loam_fail(err, LOAM_E_INTERNAL, "stopped at %s/%s", rel, de->d_name);
	}
	return 0;
}
