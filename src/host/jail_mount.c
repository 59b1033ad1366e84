/*
 * The jail's minimal root (see jail.h). In the child's private mount
 * namespace a small tmpfs covers a root-owned directory; the listed host
 * paths are bound into it at their own places (read-only, or writable for
 * a hugetlbfs), a symlink such as /lib -> usr/lib is copied as a symlink,
 * a few /dev nodes are bound, a /proc of the new PID namespace is mounted
 * and run/ becomes /run. Then pivot_root, the old root detached, the new
 * one read-only. Every source is opened before the tmpfs covers anything,
 * so a source under the covered directory still resolves.
 */
#include "host/jail.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define PATH_LEN  1024
#define MAX_BINDS 32

static const char *const dev_nodes[] = {"/dev/null",   "/dev/zero",    "/dev/full",
					"/dev/random", "/dev/urandom", "/dev/kvm"};

struct bind {
	const char *path;
	int fd; /* O_PATH, opened before the tmpfs covers anything */
	bool writable, device;
	struct stat st;
};

/* mkdir -p of path's parents (and path itself when dir) under root. */
static int make_parents(const char *root, const char *path, bool dir)
{
	char buf[PATH_LEN];
	if ((size_t)snprintf(buf, sizeof(buf), "%s%s", root, path) >= sizeof(buf))
		return errno = ENAMETOOLONG, -1;
	size_t skip = strlen(root) + 1;
	for (char *s = buf + skip; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -1;
		*s = '/';
	}
	if (dir)
		return mkdir(buf, 0755) < 0 && errno != EEXIST ? -1 : 0;
	int fd = open(buf, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	return fd < 0 ? -1 : close(fd);
}

static int bind_one(const char *root, const struct bind *b)
{
	char src[64], dst[PATH_LEN];
	snprintf(src, sizeof(src), "/proc/self/fd/%d", b->fd);
	snprintf(dst, sizeof(dst), "%s%s", root, b->path);
	if (make_parents(root, b->path, S_ISDIR(b->st.st_mode)) < 0 ||
	    mount(src, dst, NULL, MS_BIND | MS_REC, NULL) < 0)
		return -1;
	unsigned long flags = MS_BIND | MS_REMOUNT | MS_NOSUID;
	if (b->device)
		flags |= MS_NOEXEC;
	else if (!b->writable)
		flags |= MS_RDONLY | MS_NODEV;
	else
		flags |= MS_NODEV | MS_NOEXEC;
	return mount(NULL, dst, NULL, flags, NULL);
}

/* A symlink on the host (/lib -> usr/lib on merged-/usr) is made again as
 * the same symlink: binding it would bind its target. */
static int copy_link(const char *root, const char *path)
{
	char target[PATH_LEN], dst[PATH_LEN];
	ssize_t n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return -1;
	target[n] = '\0';
	snprintf(dst, sizeof(dst), "%s%s", root, path);
	return symlink(target, dst) < 0 && errno != EEXIST ? -1 : 0;
}

/* Opens every source; an absent one is skipped (a host without /lib64 or
 * /dev/kvm), a symlink noted for copying. */
static size_t open_binds(const struct jail_view *v, struct bind *b, const char **links,
			 size_t *n_links)
{
	size_t n = 0;
	*n_links = 0;
	const char *const *lists[3] = {v->ro, v->rw, dev_nodes};
	size_t counts[3] = {0, 0, sizeof(dev_nodes) / sizeof(dev_nodes[0])};
	for (int l = 0; l < 2; l++)
		while (lists[l] && lists[l][counts[l]])
			counts[l]++;
	for (int l = 0; l < 3; l++)
		for (size_t i = 0; i < counts[l] && n < MAX_BINDS; i++) {
			struct bind *x = &b[n];
			*x = (struct bind){
			    .path = lists[l][i], .writable = l == 1, .device = l == 2};
			if (lstat(x->path, &x->st) < 0)
				continue;
			if (S_ISLNK(x->st.st_mode)) {
				links[(*n_links)++] = x->path;
				continue;
			}
			x->fd = open(x->path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
			if (x->fd >= 0)
				n++;
		}
	return n;
}

static int mount_root(const char *root)
{
	return mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
		       mount("loam-jail", root, "tmpfs", MS_NOSUID | MS_NODEV,
			     "mode=0755,size=1m") < 0
		   ? -1
		   : 0;
}

/* run/ by its path, in this namespace (a mount of the old one cannot be
 * bound), refused unless it is the very directory of v->run_fd. */
static int open_run(const struct jail_view *v)
{
	struct stat want, got;
	int fd = open(v->run_path, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fstat(v->run_fd, &want) < 0 || fstat(fd, &got) < 0 ||
	    want.st_dev != got.st_dev || want.st_ino != got.st_ino) {
		if (fd >= 0)
			close(fd);
		errno = ESTALE;
		return -1;
	}
	return fd;
}

static int populate(const struct jail_view *v, const char **what)
{
	struct bind b[MAX_BINDS];
	const char *links[MAX_BINDS];
	size_t n_links, n = open_binds(v, b, links, &n_links);
	const char *root = v->mount_on;
	char run[64], path[PATH_LEN];
	int rc = -1, run_fd = open_run(v);
	snprintf(run, sizeof(run), "/proc/self/fd/%d", run_fd);
	if ((*what = "open run/ again in the new mount namespace", run_fd < 0))
		goto out;
	if ((*what = "mount the new root's tmpfs", mount_root(root) < 0))
		goto out;
	*what = "bind a host path into the new root";
	for (size_t i = 0; i < n; i++)
		if (bind_one(root, &b[i]) < 0)
			goto out;
	*what = "copy a symlink into the new root";
	for (size_t i = 0; i < n_links; i++)
		if (copy_link(root, links[i]) < 0)
			goto out;
	*what = "bind run/ at /run";
	snprintf(path, sizeof(path), "%s/run", root);
	if (mkdir(path, 0755) < 0 || mount(run, path, NULL, MS_BIND, NULL) < 0 ||
	    mount(NULL, path, NULL, MS_BIND | MS_REMOUNT | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) <
		0)
		goto out;
	*what = "mount /proc";
	snprintf(path, sizeof(path), "%s/proc", root);
	if (mkdir(path, 0555) < 0 ||
	    mount("proc", path, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		goto out;
	rc = 0;
out:;
	int saved = errno;
	for (size_t i = 0; i < n; i++)
		close(b[i].fd);
	if (run_fd >= 0)
		close(run_fd);
	errno = saved;
	return rc;
}

int jail_view_enter(const struct jail_view *v, const char **what)
{
	if (populate(v, what) < 0)
		return -1;
	*what = "pivot_root";
	if (chdir(v->mount_on) < 0 || syscall(SYS_pivot_root, ".", ".") < 0 ||
	    umount2(".", MNT_DETACH) < 0 || chdir("/") < 0)
		return -1;
	*what = "make the new root read-only";
	if (mount(NULL, "/", NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) <
	    0)
		return -1;
	*what = "chdir /run";
	return chdir("/run");
}
