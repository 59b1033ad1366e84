/*
 * vm-prep; see vm_prep.h. The VM's directory and every file in it are
 * root's (the VM user writes only in run/, which root never reads by
 * path). Files are made under a temporary name and renamed into place, so
 * a half-done prep never leaves a file that looks finished. Tools run by
 * argv: qemu-img (the pinned storage bundle's, so the overlay is made by
 * the version that serves it), mkfs.vfat, mcopy.
 */
#include "host/vm_prep.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "host/net.h"
#include "lib/cleanup.h"
#include "lib/fs.h"
#include "lib/json.h"
#include "lib/spawn.h"
#include "host/vm_files.h"
#include "proto/agent.h"

#define TOOL_TIMEOUT_MS 120000
#define SEED_KIB	"2048"

struct owner {
	uid_t uid;
	gid_t gid;
};

static bool exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

/* name: a tool in PATH, or an absolute path (the pinned bundle's). */
static int run_tool(const char *name, const char *const *args, loam_err *err)
{
	char tool[PATH_MAX];
	if (name[0] == '/')
		snprintf(tool, sizeof(tool), "%s", name);
	else if (vm_tool(name, tool, err) < 0)
		return -1;
	const char *argv[16] = {tool};
	for (size_t i = 0; i < 14 && args[i]; i++)
		argv[i + 1] = args[i];
	struct loam_spawn_opts o = {.argv = argv, .timeout_ms = TOOL_TIMEOUT_MS};
	struct loam_spawn_result r;
	int rc = loam_spawn_ok(&o, &r, err);
	loam_spawn_result_free(&r);
	return rc;
}

/* Makes tmp root's own, mode 0600, and renames it to path. */
static int place(const char *tmp, const char *path, loam_err *err)
{
	if (chmod(tmp, 0600) < 0 || rename(tmp, path) < 0) {
		loam_fail_errno(err, "place %s", path);
		unlink(tmp);
		return -1;
	}
	return 0;
}

static void tmp_name(char *out, size_t n, const char *path)
{
	snprintf(out, n, "%s.tmp", path);
}

/* A directory under dirfd (made if absent), owned and moded as given. */
static int own_dir_at(int dirfd, const char *name, uid_t uid, gid_t gid, mode_t mode, loam_err *err)
{
	if (mkdirat(dirfd, name, mode) < 0 && errno != EEXIST)
		return loam_fail_errno(err, "mkdir %s", name);
	cleanup_close int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return loam_fail(err, LOAM_E_CONFLICT, "%s exists and is not a directory", name);
	if (fchown(fd, uid, gid) < 0 || fchmod(fd, mode) < 0)
		return loam_fail_errno(err, "own %s", name);
	return 0;
}

/* A VM prepared before the jail had a directory its user could write:
 * its files are kept only if they are plain files of root or of the VM
 * user with one link, and become root's; anything else is removed. */
static int adopt_files(int dirfd, uid_t vm_uid, loam_err *err)
{
	static const char *const names[] = {LOAM_LAYOUT_VM_DISK, LOAM_LAYOUT_VM_VARS,
					    LOAM_LAYOUT_VM_SEED, LOAM_LAYOUT_VM_SERIAL,
					    LOAM_LAYOUT_VM_CONSOLE};
	for (size_t i = 0; i < sizeof(names) / sizeof(*names); i++) {
		cleanup_close int fd =
		    openat(dirfd, names[i], O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		struct stat st;
		bool plain = fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
			     st.st_nlink == 1 && (st.st_uid == 0 || st.st_uid == vm_uid);
		if (plain && (fchown(fd, 0, 0) < 0 || fchmod(fd, 0600) < 0))
			return loam_fail_errno(err, "own %s", names[i]);
		if (!plain && vm_unlink_at(dirfd, names[i], err) < 0)
			return -1;
	}
	return vm_unlink_at(dirfd, LOAM_LAYOUT_VM_PIDFILE, err);
}

/* D/vms/<id>: root's, group the VM's (0710, so QEMU reaches run/); run/
 * inside: the VM user's (0700). */
static int make_dir(const struct vm_paths *p, const struct owner *o, loam_err *err)
{
	/* D/vms: root's, but traversable so each user can reach its own dir. */
	if (loam_mkdir_p(p->vms, 0711, err) < 0)
		return -1;
	cleanup_close int vms = open(p->vms, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (vms < 0)
		return loam_fail_errno(err, "open %s", p->vms);
	if (own_dir_at(vms, p->id, 0, o->gid, 0710, err) < 0)
		return -1;
	cleanup_close int dir = openat(vms, p->id, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dir < 0)
		return loam_fail_errno(err, "open %s", p->dir);
	if (adopt_files(dir, o->uid, err) < 0 ||
	    own_dir_at(dir, LOAM_LAYOUT_VM_RUN, o->uid, o->gid, 0700, err) < 0)
		return -1;
	return 0;
}

/* The storage daemon, running as the VM user, reopens the boot image it is
 * handed through /proc/self/fd, which the file's mode must allow: installed
 * images are made world-readable, never writable. */
static int image_readable(const char *image, loam_err *err)
{
	struct stat st;
	if (stat(image, &st) < 0)
		return loam_fail_errno(err, "stat %s", image);
	if (!(st.st_mode & S_IROTH) && chmod(image, (st.st_mode & 07777) | S_IROTH) < 0)
		return loam_fail_errno(err, "make %s readable", image);
	if (st.st_mode & S_IWOTH)
		return loam_fail(err, LOAM_E_CONFLICT,
				 "boot image %s is world-writable; fix its mode (0644)", image);
	return 0;
}

static int make_disk(const struct vm_paths *p, const struct vm_spec *s, loam_err *err)
{
	if (exists(p->disk))
		return 0;
	char tmp[VM_PATH_MAX + 8], size[32] = "";
	tmp_name(tmp, sizeof(tmp), p->disk);
	unlink(tmp);
	if (s->disk_gib)
		snprintf(size, sizeof(size), "%uG", s->disk_gib);
	const char *args[] = {"create", "-q",
			      "-f",	"qcow2",
			      "-b",	s->image,
			      "-F",	s->image_format,
			      tmp,	s->disk_gib ? size : NULL,
			      NULL};
	char qemu_img[VM_PATH_MAX];
	if (vm_spec_qemu_img(s, qemu_img, err) < 0 || run_tool(qemu_img, args, err) < 0) {
		unlink(tmp);
		return loam_err_wrap(err, "make the disk overlay");
	}
	return place(tmp, p->disk, err);
}

/* memcmp against itself shifted by one byte: vectorized, unlike a loop. */
static bool all_zero(const char *buf, size_t n)
{
	return n == 0 || (buf[0] == 0 && memcmp(buf, buf + 1, n - 1) == 0);
}

static int write_all(int out, const char *buf, size_t n, loam_err *err)
{
	for (size_t off = 0; off < n;) {
		ssize_t w = write(out, buf + off, n - off);
		if (w < 0 && errno != EINTR)
			return loam_fail_errno(err, "write");
		off += w > 0 ? (size_t)w : 0;
	}
	return 0;
}

/* Copies leaving holes where the source is zero: AAVMF's VARS file is 64 MiB
 * of zeros, and writing them out for every VM was most of loam's boot
 * overhead on arm64. */
static int copy_fd(int in, int out, loam_err *err)
{
	char buf[1 << 16];
	off_t total = 0;
	for (;;) {
		ssize_t r = read(in, buf, sizeof(buf));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return loam_fail_errno(err, "read");
		if (r == 0)
			break;
		if (all_zero(buf, (size_t)r)) {
			if (lseek(out, r, SEEK_CUR) < 0)
				return loam_fail_errno(err, "seek");
		} else if (write_all(out, buf, (size_t)r, err) < 0) {
			return -1;
		}
		total += r;
	}
	if (ftruncate(out, total) < 0)
		return loam_fail_errno(err, "truncate");
	return fsync(out) < 0 ? loam_fail_errno(err, "fsync") : 0;
}

/* The VARS file is the guest's NVRAM: copied once, then kept. A kernel
 * booted without UEFI has no NVRAM, and its VM gets no copy. */
static int copy_vars(const struct vm_paths *p, const struct vm_spec *s, loam_err *err)
{
	if (exists(p->vars) || !vm_spec_uses_firmware(s))
		return 0;
	char tmp[VM_PATH_MAX + 8];
	tmp_name(tmp, sizeof(tmp), p->vars);
	unlink(tmp);
	cleanup_close int in = open(s->fw_vars, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return loam_fail_errno(err, "open %s", s->fw_vars);
	cleanup_close int out = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (out < 0)
		return loam_fail_errno(err, "create %s", tmp);
	if (copy_fd(in, out, err) < 0) {
		unlink(tmp);
		return loam_err_wrap(err, "copy %s", s->fw_vars);
	}
	return place(tmp, p->vars, err);
}

/* The seed's files, by their NoCloud names, in a folder of the VM's dir
 * (root's; the VM's user may only pass through it), copied into the image
 * by one mcopy. */
static int copy_seed_files(const struct vm_paths *p, const struct vm_spec *s, const char *img,
			   loam_err *err)
{
	const char *names[] = {"meta-data", "user-data", "network-config"};
	const char *texts[] = {s->meta_data, s->user_data, s->network_config};
	char dir[VM_PATH_MAX + 16], src[3][VM_PATH_MAX + 32];
	const char *args[8] = {"-i", img};
	size_t argc = 2;
	snprintf(dir, sizeof(dir), "%s/.seed", p->dir);
	vm_remove_tree(dir, NULL);
	if (mkdir(dir, 0700) < 0)
		return loam_fail_errno(err, "mkdir %s", dir);
	int rc = 0;
	for (size_t i = 0; i < 3 && rc == 0; i++) {
		if (!texts[i])
			continue;
		snprintf(src[i], sizeof(src[i]), "%s/%s", dir, names[i]);
		rc = loam_write_file_atomic(src[i], texts[i], strlen(texts[i]), 0600, err);
		args[argc++] = src[i];
	}
	args[argc++] = "::";
	args[argc] = NULL;
	if (rc == 0)
		rc = run_tool("mcopy", args, err);
	vm_remove_tree(dir, NULL);
	return rc;
}

static int make_seed(const struct vm_paths *p, const struct vm_spec *s, loam_err *err)
{
	if (!s->has_seed) {
		unlink(p->seed);
		return 0;
	}
	char tmp[VM_PATH_MAX + 8];
	tmp_name(tmp, sizeof(tmp), p->seed);
	unlink(tmp);
	const char *mkfs[] = {"-C", "-n", "CIDATA", tmp, SEED_KIB, NULL};
	if (run_tool("mkfs.vfat", mkfs, err) < 0 || copy_seed_files(p, s, tmp, err) < 0) {
		unlink(tmp);
		return loam_err_wrap(err, "write the cloud-init seed");
	}
	return place(tmp, p->seed, err);
}

static int write_spec(const struct vm_paths *p, const struct vm_spec *s, loam_err *err)
{
	cleanup_free char *text = loam_json_dump_pretty(s->json);
	return loam_write_file_atomic(p->spec, text, strlen(text), 0600, err);
}

static int prep_files(const struct vm_paths *p, const struct vm_spec *s, loam_err *err)
{
	cleanup_close int lock = open(p->dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (lock < 0 || flock(lock, LOCK_EX) < 0)
		return loam_fail_errno(err, "lock %s", p->dir);
	if (image_readable(s->image, err) < 0 || make_disk(p, s, err) < 0 ||
	    copy_vars(p, s, err) < 0 || make_seed(p, s, err) < 0 || write_spec(p, s, err) < 0)
		return -1;
	return 0;
}

/* The VM's network (host/net.h), when the spec has one; checked before
 * anything is made, set up once the user exists. */
static int prep_net(const struct vm_paths *p, const struct vm_spec *s, bool check_only,
		    const struct owner *o, json_t **report, loam_err *err)
{
	json_t *net = json_object_get(s->json, LOAM_KEY_NET);
	if (!net || json_is_null(net))
		return 0;
	cleanup_vm_net struct vm_net n = {0};
	if (vm_net_parse(p->id, net, &n, err) < 0)
		return -1;
	if (check_only)
		return 0;
	char state_dir[VM_NET_PATH_MAX];
	vm_net_state_dir_of(p->vms, state_dir);
	if (vm_net_setup(state_dir, &n, o->uid, o->gid, err) < 0)
		return -1;
	*report = vm_net_report(&n);
	return 0;
}

/* The network, made in a child while this process makes the files: both
 * are mostly waiting on tools (ip, nft, dnsmasq; qemu-img, mkfs.vfat,
 * mcopy) and touch nothing of each other's, so the prep takes the longer
 * of the two rather than their sum. The child writes "<error kind>\n" and
 * then the report (JSON) or the error's message on the pipe. */
struct net_child {
	pid_t pid;
	int fd;
};

static int start_net(const struct vm_paths *p, const struct vm_spec *s, const struct owner *o,
		     struct net_child *c, loam_err *err)
{
	json_t *spec_net = json_object_get(s->json, LOAM_KEY_NET);
	if (!spec_net || json_is_null(spec_net))
		return 0; /* c->pid stays -1: nothing to wait for */
	int fds[2];
	if (pipe2(fds, O_CLOEXEC) < 0)
		return loam_fail_errno(err, "pipe");
	fflush(NULL);
	c->pid = fork();
	if (c->pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return loam_fail_errno(err, "fork");
	}
	if (c->pid == 0) {
		close(fds[0]);
		loam_err e = NULL;
		json_t *net = NULL;
		int rc = prep_net(p, s, false, o, &net, &e);
		cleanup_free char *text = rc < 0 ? NULL : loam_json_dump(net ? net : json_null());
		dprintf(fds[1], "%d\n%s", rc < 0 ? (int)loam_err_kind_of(e) : -1,
			rc < 0 ? loam_err_msg(e) : text);
		_exit(rc < 0 ? 1 : 0);
	}
	close(fds[1]);
	c->fd = fds[0];
	return 0;
}

/* The child's report (*net, NULL when the VM has none), or its error. */
static int finish_net(struct net_child *c, json_t **net, loam_err *err)
{
	if (c->pid < 0)
		return 0;
	cleanup_free char *out = NULL;
	size_t len = 0;
	int rc = loam_read_fd(c->fd, "the network's report", 1 << 20, &out, &len, err);
	close(c->fd);
	int status = 0;
	while (waitpid(c->pid, &status, 0) < 0 && errno == EINTR)
		;
	if (rc < 0)
		return -1;
	char *body = out ? strchr(out, '\n') : NULL;
	int kind = out ? atoi(out) : 0;
	if (!body || (kind < 0) != (WIFEXITED(status) && WEXITSTATUS(status) == 0))
		return loam_fail(err, LOAM_E_INTERNAL,
				 "the network's child gave no report (status %d)", status);
	if (kind >= 0)
		return loam_fail(err, (enum loam_err_kind)kind, "%s", body + 1);
	*net = loam_json_parse(body + 1, strlen(body + 1), "the network's report", err);
	if (!*net)
		return -1;
	if (json_is_null(*net)) {
		json_decref(*net);
		*net = NULL;
	}
	return 0;
}

static int prep_all(const struct vm_paths *p, const struct vm_spec *s, struct owner *o,
		    json_t **net, loam_err *err)
{
	struct net_child c = {.pid = -1};
	if (prep_net(p, s, true, NULL, NULL, err) < 0 ||
	    vm_user_ensure(p->user, &o->uid, &o->gid, err) < 0 || start_net(p, s, o, &c, err) < 0)
		return -1;
	int rc = make_dir(p, o, err) < 0 || prep_files(p, s, err) < 0 ? -1 : 0;
	loam_err net_err = NULL; /* the files' error is the one told */
	if (finish_net(&c, net, rc < 0 ? &net_err : err) < 0 && rc == 0)
		rc = -1;
	loam_err_free(&net_err);
	return rc;
}

int vm_prep(const struct vm_paths *p, const struct vm_spec *s, json_t **result, loam_err *err)
{
	json_t *net = NULL;
	struct owner o;
	if (prep_all(p, s, &o, &net, err) < 0) {
		json_decref(net);
		return loam_err_wrap(err, "prepare VM %s", p->id);
	}
	*result =
	    json_pack("{s:s,s:s,s:i,s:s,s:s,s:o,s:o}", LOAM_KEY_ID, p->id, LOAM_KEY_USER, p->user,
		      LOAM_KEY_UID, (json_int_t)o.uid, LOAM_KEY_DIR, p->dir, LOAM_KEY_DISK, p->disk,
		      LOAM_KEY_VARS, vm_spec_uses_firmware(s) ? json_string(p->vars) : json_null(),
		      LOAM_KEY_SEED, s->has_seed ? json_string(p->seed) : json_null());
	json_object_set_new(*result, LOAM_KEY_NET, net ? net : json_null());
	return 0;
}
