/*
 * The storage daemon's argv, and starting, stopping and reporting on its
 * supervisor; see vm_storage.h. Every file is opened under the VM
 * directory's fd without following links; the supervisor's pid file and
 * the daemon's log are root's, in that root-only directory.
 */
#include "host/vm_storage.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host/vm_files.h"
#include "lib/cleanup.h"
#include "lib/clock.h"
#include "proto/agent.h"

#define SUPERVISOR_NAME "loam-storage"
#define STOP_WAIT_MS	10000
#define PIDFILE_MAX	64
#define FAILED_MAX	4096

int vm_storage_argv(const struct vm_paths *p, const struct vm_spec *s, struct loam_argv *argv,
		    loam_err *err)
{
	char daemon[VM_PATH_MAX];
	if (vm_spec_storage_daemon(s, daemon, err) < 0)
		return -1;
	loam_argv_add(argv, daemon);
	loam_argv_add(argv, "--blockdev");
	loam_argv_addf(argv,
		       "driver=file,node-name=disk-file,filename=/proc/self/fd/%d,discard=unmap",
		       VM_STORAGE_DISK_FD);
	loam_argv_add(argv, "--blockdev");
	loam_argv_addf(argv,
		       "driver=file,node-name=image-file,filename=/proc/self/fd/%d,read-only=on",
		       VM_STORAGE_IMAGE_FD);
	loam_argv_add(argv, "--blockdev");
	loam_argv_addf(argv, "driver=%s,node-name=image,file=image-file,read-only=on",
		       s->image_format);
	loam_argv_add(argv, "--blockdev");
	loam_argv_add(argv,
		      "driver=qcow2,node-name=disk,file=disk-file,backing=image,discard=unmap");
	loam_argv_add(argv, "--export");
	loam_argv_addf(argv,
		       "type=vhost-user-blk,id=disk0,node-name=disk,writable=on,num-queues=1,"
		       "addr.type=unix,addr.path=%s",
		       p->disk_sock);
	return 0;
}

/* ---- the pid file: "<supervisor> <daemon> <restarts>" ---- */

struct storage_pids {
	pid_t supervisor, daemon;
	unsigned restarts;
};

static bool read_pids(int dir, struct storage_pids *out)
{
	*out = (struct storage_pids){0};
	cleanup_err loam_err err = NULL;
	cleanup_close int fd = vm_file_open(dir, LOAM_LAYOUT_VM_STORAGE_PID, O_RDONLY, 0, &err);
	char buf[PIDFILE_MAX + 1];
	ssize_t n = fd < 0 ? -1 : read(fd, buf, PIDFILE_MAX);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	int sup = 0, daemon = 0;
	if (sscanf(buf, "%d %d %u", &sup, &daemon, &out->restarts) != 3 || sup <= 1)
		return false;
	out->supervisor = sup;
	out->daemon = daemon > 1 ? daemon : 0;
	return true;
}

/* /proc/<pid>/comm starts with name (a recycled pid is someone else). */
static bool comm_is(pid_t pid, const char *name)
{
	char path[64], comm[32] = "";
	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	cleanup_fclose FILE *f = fopen(path, "re");
	return f && fgets(comm, sizeof(comm), f) && strncmp(comm, name, strlen(name)) == 0 &&
	       vm_pid_alive(pid);
}

static bool supervisor_alive(pid_t pid)
{
	return pid > 1 && comm_is(pid, SUPERVISOR_NAME);
}

static bool daemon_alive(pid_t pid)
{
	return pid > 1 && comm_is(pid, "qemu-storage");
}

/* The daemon, if it still runs as this VM's user. */
static bool daemon_of(const struct vm_paths *p, pid_t pid)
{
	uid_t uid;
	gid_t gid;
	bool found = false;
	cleanup_err loam_err err = NULL;
	char path[64];
	struct stat st;
	snprintf(path, sizeof(path), "/proc/%d", (int)pid);
	return daemon_alive(pid) && vm_user_lookup(p->user, &uid, &gid, &found, &err) == 0 &&
	       found && stat(path, &st) == 0 && st.st_uid == uid;
}

/* ---- start ---- */

static int park(int fd, loam_err *err)
{
	if (fd < 0)
		return -1;
	int parked = fcntl(fd, F_DUPFD_CLOEXEC, VM_JAIL_FD_PARK);
	close(fd);
	return parked < 0 ? loam_fail_errno(err, "dup") : parked;
}

/* The overlay, read-write for the VM's group: the daemon reopens it
 * through /proc/self/fd as the VM's user. */
static int open_disk(int dir, gid_t gid, loam_err *err)
{
	int fd = vm_file_open(dir, LOAM_LAYOUT_VM_DISK, O_RDWR, 0, err);
	if (fd >= 0 && (fchown(fd, 0, gid) < 0 || fchmod(fd, 0660) < 0)) {
		close(fd);
		return loam_fail_errno(err, "give %s to the VM's group", LOAM_LAYOUT_VM_DISK);
	}
	return park(fd, err);
}

static int open_image(const struct vm_spec *s, loam_err *err)
{
	int fd = open(s->image, O_RDONLY | O_CLOEXEC);
	return fd < 0 ? loam_fail_errno(err, "open %s", s->image) : park(fd, err);
}

/* The daemon's stderr, emptied at each start; the supervisor reads its
 * tail through the same fd. */
static int open_log(int dir, loam_err *err)
{
	int fd = vm_file_open(dir, LOAM_LAYOUT_VM_STORAGE_LOG, O_RDWR | O_CREAT | O_APPEND, 0, err);
	if (fd >= 0 && ftruncate(fd, 0) < 0) {
		close(fd);
		return loam_fail_errno(err, "truncate %s", LOAM_LAYOUT_VM_STORAGE_LOG);
	}
	return park(fd, err);
}

/* Reads the supervisor's answer: "ok" once the first daemon serves, else
 * why not; EOF without one means it died. */
static int wait_ready(int ready_r, loam_err *err)
{
	char buf[FAILED_MAX + 1];
	size_t len = 0;
	int64_t deadline = loam_now_ms() + VM_STORAGE_START_MS + 5000;
	for (;;) {
		int64_t left = deadline - loam_now_ms();
		struct pollfd pfd = {.fd = ready_r, .events = POLLIN};
		if (left <= 0 || (poll(&pfd, 1, (int)left) < 0 && errno != EINTR))
			break;
		ssize_t n = read(ready_r, buf + len, FAILED_MAX - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		if (len >= FAILED_MAX)
			break;
	}
	buf[len] = '\0';
	if (strcmp(buf, "ok") == 0)
		return 0;
	return loam_fail(err, LOAM_E_IO, "the storage daemon did not start: %s",
			 len ? buf : "its supervisor gave no answer");
}

static void close_fds(struct vm_keeper *k)
{
	for (size_t i = 0; i < k->jail.n_fds; i++)
		if (k->jail.fds[i].src >= 0)
			close(k->jail.fds[i].src);
	if (k->log >= 0)
		close(k->log);
}

static int fork_supervisor(struct vm_keeper *k, loam_err *err)
{
	int ready[2];
	if (pipe2(ready, O_CLOEXEC) < 0)
		return loam_fail_errno(err, "pipe");
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		close(ready[0]);
		k->ready_w = ready[1];
		vm_keeper_run(k);
	}
	close(ready[1]);
	int rc = pid < 0 ? loam_fail_errno(err, "fork") : wait_ready(ready[0], err);
	close(ready[0]);
	return rc;
}

int vm_storage_start(const struct vm_paths *p, const struct vm_spec *s, int dir,
		     const struct vm_jail *qemu, loam_err *err)
{
	if (vm_storage_stop(p, err) < 0 ||
	    vm_unlink_at(dir, LOAM_LAYOUT_VM_STORAGE_FAILED, err) < 0)
		return -1;
	cleanup_argv struct loam_argv argv = {0};
	static char *const no_env[] = {NULL};
	struct vm_keeper k = {.p = p, .dir = dir, .log = -1};
	k.jail = (struct vm_jail){.uid = qemu->uid,
				  .groups = {qemu->groups[0], qemu->groups[1]},
				  .run = qemu->run,
				  .envp = no_env,
				  .n_fds = 2};
	k.jail.fds[0] =
	    (struct vm_jail_fd){open_disk(dir, qemu->groups[0], err), VM_STORAGE_DISK_FD};
	k.jail.fds[1] = (struct vm_jail_fd){k.jail.fds[0].src < 0 ? -1 : open_image(s, err),
					    VM_STORAGE_IMAGE_FD};
	k.log = k.jail.fds[1].src < 0 ? -1 : open_log(dir, err);
	int rc = k.log < 0 || vm_storage_argv(p, s, &argv, err) < 0 ? -1 : 0;
	k.jail.argv = argv.v;
	if (rc == 0)
		rc = fork_supervisor(&k, err);
	close_fds(&k);
	if (rc < 0)
		vm_storage_stop(p, NULL);
	return rc;
}

/* ---- stop ---- */

static bool wait_gone(pid_t pid, bool (*alive)(pid_t), long timeout_ms)
{
	for (long waited = 0; alive(pid); waited += 20) {
		if (waited >= timeout_ms)
			return false;
		loam_sleep_ms(20);
	}
	return true;
}

int vm_storage_stop(const struct vm_paths *p, loam_err *err)
{
	cleanup_err loam_err ignored = NULL;
	loam_err *e = err ? err : &ignored;
	cleanup_close int dir = vm_dir_open(p, e);
	struct storage_pids pids;
	if (dir < 0 || !read_pids(dir, &pids)) {
		loam_err_free(e);
		return 0;
	}
	/* The supervisor stops its daemon (SIGTERM, then SIGKILL) and exits. */
	if (supervisor_alive(pids.supervisor)) {
		kill(pids.supervisor, SIGTERM);
		if (!wait_gone(pids.supervisor, supervisor_alive, STOP_WAIT_MS))
			kill(pids.supervisor, SIGKILL);
	}
	if (daemon_of(p, pids.daemon)) {
		kill(pids.daemon, SIGKILL);
		if (!wait_gone(pids.daemon, daemon_alive, STOP_WAIT_MS))
			return loam_fail(e, LOAM_E_IO,
					 "the storage daemon (pid %d) survives SIGKILL",
					 (int)pids.daemon);
	}
	return vm_unlink_at(dir, LOAM_LAYOUT_VM_STORAGE_PID, e);
}

/* ---- status ---- */

static json_t *failed_reason(int dir)
{
	cleanup_err loam_err err = NULL;
	cleanup_close int fd = vm_file_open(dir, LOAM_LAYOUT_VM_STORAGE_FAILED, O_RDONLY, 0, &err);
	char buf[FAILED_MAX + 1];
	ssize_t n = fd < 0 ? -1 : read(fd, buf, FAILED_MAX);
	return n < 0 ? NULL : json_stringn(buf, (size_t)n);
}

json_t *vm_storage_status(const struct vm_paths *p)
{
	cleanup_err loam_err err = NULL;
	cleanup_close int dir = vm_dir_open(p, &err);
	struct storage_pids pids;
	bool has_pids = dir >= 0 && read_pids(dir, &pids);
	json_t *failed = dir >= 0 ? failed_reason(dir) : NULL;
	if (!has_pids && !failed)
		return json_null();
	bool sup = has_pids && supervisor_alive(pids.supervisor);
	bool daemon = sup && daemon_alive(pids.daemon);
	return json_pack("{s:o,s:o,s:b,s:i,s:o}", LOAM_KEY_SUPERVISOR,
			 sup ? json_integer(pids.supervisor) : json_null(), LOAM_KEY_PID,
			 daemon ? json_integer(pids.daemon) : json_null(), LOAM_KEY_RUNNING, daemon,
			 LOAM_KEY_RESTARTS, (json_int_t)(has_pids ? pids.restarts : 0),
			 LOAM_KEY_FAILED, failed ? failed : json_null());
}
