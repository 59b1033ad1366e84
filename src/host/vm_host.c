/*
 * What a VM owns on the host besides its files: its unix user and its
 * processes. Users are read from /etc/passwd and /etc/group directly and
 * created with useradd/groupadd by argv, never through NSS, so the static
 * agent works without the glibc it was linked against.
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/clock.h"
#include "lib/fs.h"
#include "lib/spawn.h"
#include "host/vm.h"
#include "host/vm_files.h"
#include "proto/agent.h"

#define KVM_GROUP "kvm"
/* useradd/groupadd exit statuses that mean "already there", and userdel's
 * "no such user": all fine for idempotent verbs. */
#define SHADOW_EXISTS	9
#define USERDEL_NO_USER 6
#define SHADOW_RETRIES	20

int vm_tool(const char *name, char out[PATH_MAX], loam_err *err)
{
	const char *path = getenv("PATH");
	char dirs[2048];
	snprintf(dirs, sizeof(dirs), "%s:/usr/local/sbin:/usr/sbin:/sbin:/usr/bin:/bin",
		 path ? path : "");
	char *save = NULL;
	for (char *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		if (*d != '/')
			continue;
		if ((size_t)snprintf(out, PATH_MAX, "%s/%s", d, name) < PATH_MAX &&
		    access(out, X_OK) == 0)
			return 0;
	}
	return loam_fail(err, LOAM_E_NOTFOUND, "%s not found in PATH or the sbin directories",
			 name);
}

/* Finds the line of /etc/passwd or /etc/group whose first field is name and
 * returns its fields 3 and 4 (ids). */
static int find_entry(const char *file, const char *name, long *id3, long *id4, bool *found,
		      loam_err *err)
{
	*found = false;
	cleanup_fclose FILE *f = fopen(file, "re");
	if (!f)
		return loam_fail_errno(err, "open %s", file);
	char line[4096];
	size_t n = strlen(name);
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, name, n) != 0 || line[n] != ':')
			continue;
		char *p = strchr(line + n + 1, ':'); /* past the password field */
		if (!p)
			continue;
		char *end = NULL;
		*id3 = strtol(p + 1, &end, 10);
		*id4 = end && *end == ':' ? strtol(end + 1, NULL, 10) : -1;
		*found = true;
		return 0;
	}
	return 0;
}

int vm_user_lookup(const char *user, uid_t *uid, gid_t *gid, bool *found, loam_err *err)
{
	long u = -1, g = -1;
	if (find_entry("/etc/passwd", user, &u, &g, found, err) < 0)
		return -1;
	if (*found) {
		*uid = (uid_t)u;
		*gid = (gid_t)g;
	}
	return 0;
}

/* Runs a shadow-utils tool, retrying while it reports a transient busy
 * state (other users of this machine add users too). */
static int run_shadow_tool(const char *const *argv, int ok_status, loam_err *err)
{
	char tool[PATH_MAX];
	if (vm_tool(argv[0], tool, err) < 0)
		return -1;
	const char *words[16];
	size_t n = 0;
	words[n++] = tool;
	for (size_t i = 1; argv[i] && n < 15; i++)
		words[n++] = argv[i];
	words[n] = NULL;
	for (int attempt = 0;; attempt++) {
		struct loam_spawn_opts o = {.argv = words, .timeout_ms = 30000};
		struct loam_spawn_result r;
		if (loam_spawn(&o, &r, err) < 0)
			return -1;
		int status = r.timed_out || r.signaled ? -1 : r.exit_status;
		if (status == 0 || status == ok_status) {
			loam_spawn_result_free(&r);
			return 0;
		}
		/* Busy: another tool holds /etc/passwd's lock, or userdel sees a
		 * just-killed process of the user not yet reaped. */
		bool busy = strstr(r.err, "lock") || strstr(r.err, "currently used");
		if (!busy || attempt >= SHADOW_RETRIES) {
			r.err[strcspn(r.err, "\n")] = '\0';
			loam_fail(err, LOAM_E_IO, "%s exited with status %d: %.300s", argv[0],
				  status, r.err);
			loam_spawn_result_free(&r);
			return -1;
		}
		loam_spawn_result_free(&r);
		struct timespec ts = {0, 200L * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
}

int vm_kvm_gid(gid_t *gid, loam_err *err)
{
	long g = -1, unused = -1;
	bool found = false;
	if (find_entry("/etc/group", KVM_GROUP, &g, &unused, &found, err) < 0)
		return -1;
	if (!found)
		return loam_fail(err, LOAM_E_NOTFOUND, "group %s is missing; run vm-prep",
				 KVM_GROUP);
	*gid = (gid_t)g;
	return 0;
}

static int ensure_kvm_group(loam_err *err)
{
	long g = -1, unused = -1;
	bool found = false;
	if (find_entry("/etc/group", KVM_GROUP, &g, &unused, &found, err) < 0)
		return -1;
	if (found)
		return 0;
	const char *argv[] = {"groupadd", "--system", KVM_GROUP, NULL};
	return run_shadow_tool(argv, SHADOW_EXISTS, err);
}

int vm_user_ensure(const char *user, uid_t *uid, gid_t *gid, loam_err *err)
{
	bool found = false;
	if (vm_user_lookup(user, uid, gid, &found, err) < 0)
		return -1;
	if (found)
		return 0;
	if (ensure_kvm_group(err) < 0)
		return loam_err_wrap(err, "group kvm");
	const char *argv[] = {"useradd",	   "--system",	   "--no-create-home",
			      "--home-dir",	   "/nonexistent", "--shell",
			      "/usr/sbin/nologin", "--user-group", "--groups",
			      KVM_GROUP,	   user,	   NULL};
	if (run_shadow_tool(argv, SHADOW_EXISTS, err) < 0 ||
	    vm_user_lookup(user, uid, gid, &found, err) < 0)
		return loam_err_wrap(err, "create user %s", user);
	if (!found)
		return loam_fail(err, LOAM_E_IO, "useradd succeeded but %s is not in /etc/passwd",
				 user);
	return 0;
}

int vm_user_remove(const char *user, loam_err *err)
{
	uid_t uid;
	gid_t gid;
	bool found = false;
	if (vm_user_lookup(user, &uid, &gid, &found, err) < 0)
		return -1;
	if (!found)
		return 0;
	const char *argv[] = {"userdel", user, NULL};
	return run_shadow_tool(argv, USERDEL_NO_USER, err);
}

/* The process's state letter and real uid from /proc/<pid>/status. */
static bool read_status(pid_t pid, char *state, long *uid)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	cleanup_fclose FILE *f = fopen(path, "re");
	if (!f)
		return false;
	*state = '?';
	*uid = -1;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "State:", 6) == 0)
			sscanf(line + 6, " %c", state);
		else if (strncmp(line, "Uid:", 4) == 0)
			*uid = strtol(line + 4, NULL, 10);
	}
	return true;
}

bool vm_pid_alive(pid_t pid)
{
	char state;
	long uid;
	return pid > 0 && read_status(pid, &state, &uid) && state != 'Z' && state != 'X';
}

/* True when /proc/<pid>/cmdline has "-pidfile" followed by pidfile (a
 * QEMU of loam's: which VM's, its uid tells). */
static bool cmdline_has_pidfile(pid_t pid, const char *pidfile)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	cleanup_free char *buf = NULL;
	size_t len = 0;
	loam_err err = NULL;
	if (loam_read_file(path, 1 << 20, &buf, &len, &err) < 0) {
		loam_err_free(&err);
		return false;
	}
	bool prev_was_flag = false;
	for (size_t off = 0; off < len; off += strlen(buf + off) + 1) {
		if (prev_was_flag && strcmp(buf + off, pidfile) == 0)
			return true;
		prev_was_flag = strcmp(buf + off, "-pidfile") == 0;
	}
	return false;
}

pid_t vm_running_pid(const struct vm_paths *p)
{
	uid_t owner = 0;
	pid_t pid = vm_pidfile_read(p, &owner);
	char state;
	long uid;
	/* The VM user writes the pid file: it names one of its own processes
	 * or nothing, never one root would act on. */
	if (!pid || !read_status(pid, &state, &uid) || uid != (long)owner || state == 'Z' ||
	    state == 'X')
		return 0;
	return cmdline_has_pidfile(pid, LOAM_LAYOUT_VM_PIDFILE) ? pid : 0;
}

/* SIGKILLs the live processes match picks, once; returns how many. */
static int kill_round(bool (*match)(pid_t pid, const void *arg), const void *arg)
{
	cleanup_dir DIR *d = opendir("/proc");
	int n = 0;
	for (struct dirent *e; d && (e = readdir(d));) {
		char *end = NULL;
		long pid = strtol(e->d_name, &end, 10);
		if (*end || pid <= 1 || !match((pid_t)pid, arg))
			continue;
		kill((pid_t)pid, SIGKILL);
		n++;
	}
	return n;
}

/* Rounds 5 ms apart (a SIGKILLed process is gone within a few ms), 5 s in
 * all. */
int vm_kill_until_gone(bool (*match)(pid_t pid, const void *arg), const void *arg, const char *what,
		       loam_err *err)
{
	for (int round = 0; round < 1000; round++) {
		if (kill_round(match, arg) == 0)
			return 0;
		loam_sleep_ms(5);
	}
	return loam_fail(err, LOAM_E_IO, "%s survive SIGKILL", what);
}

struct uid_but {
	uid_t uid;
	pid_t spared;
};

static bool live_of_uid_but(pid_t pid, const void *arg)
{
	const struct uid_but *u = arg;
	char state;
	long owner;
	return pid != u->spared && read_status(pid, &state, &owner) && owner == (long)u->uid &&
	       state != 'Z' && state != 'X';
}

int vm_kill_user_processes(uid_t uid, pid_t spared, loam_err *err)
{
	if (uid == 0)
		return loam_fail(err, LOAM_E_INTERNAL, "refusing to kill the processes of root");
	char what[64];
	snprintf(what, sizeof(what), "processes of uid %u", (unsigned)uid);
	struct uid_but u = {.uid = uid, .spared = spared};
	return vm_kill_until_gone(live_of_uid_but, &u, what, err);
}
