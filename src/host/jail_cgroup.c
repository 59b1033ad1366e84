/*
 * The jail's cgroup (see jail.h): CPU time at the VM's vCPUs, memory at its
 * RAM plus overhead, a cap on processes and threads. cgroup v2 hosts (most
 * production Debian and Ubuntu) get /sys/fs/cgroup/loam/NAME; cgroup v1
 * hosts (this build machine) get loam/NAME in the cpu, memory and pids
 * hierarchies. Only root writes these files; the jailed child joins by
 * writing "0" to the cgroup.procs fds opened here. A host whose hierarchies
 * root cannot write (jail_caps) gets no cgroup, and says so.
 */
#include "host/jail.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/clock.h"

#define CGROUP_ROOT	"/sys/fs/cgroup"
#define CGROUP_PARENT	"loam"
#define CFS_PERIOD_US	100000
#define REMOVE_TRIES	100
#define REMOVE_PAUSE_MS 20

enum cg_ctrl { CG_CPU, CG_MEMORY, CG_PIDS };
static const char *const v1_dirs[JAIL_CGROUP_MAX] = {"cpu", "memory", "pids"};

static bool is_v2(void)
{
	return access(CGROUP_ROOT "/cgroup.controllers", F_OK) == 0;
}

/* The v1 hierarchy of ctrl, when mounted. */
static bool v1_has(enum cg_ctrl c)
{
	char path[128];
	snprintf(path, sizeof(path), CGROUP_ROOT "/%s/cgroup.procs", v1_dirs[c]);
	return access(path, F_OK) == 0;
}

/* The v2 controllers the root offers, as a bit per enum cg_ctrl. */
static unsigned v2_controllers(void)
{
	char buf[256] = "";
	int fd = open(CGROUP_ROOT "/cgroup.controllers", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
	if (fd >= 0)
		close(fd);
	buf[n > 0 ? n : 0] = '\0';
	unsigned mask = 0;
	for (char *save = NULL, *w = strtok_r(buf, " \n", &save); w;
	     w = strtok_r(NULL, " \n", &save))
		for (int c = 0; c < JAIL_CGROUP_MAX; c++)
			if (strcmp(w, v1_dirs[c]) == 0)
				mask |= 1u << c;
	return mask;
}

static unsigned available(bool *v2)
{
	*v2 = is_v2();
	if (*v2)
		return v2_controllers();
	unsigned mask = 0;
	for (int c = 0; c < JAIL_CGROUP_MAX; c++)
		if (v1_has(c))
			mask |= 1u << c;
	return mask;
}

void jail_cgroup_support(char *out, size_t size)
{
	bool v2;
	unsigned mask = available(&v2);
	size_t len = 0;
	*out = '\0';
	for (int c = 0; c < JAIL_CGROUP_MAX && mask; c++)
		if (mask & (1u << c))
			len += (size_t)snprintf(out + len, len < size ? size - len : 0, "%s%s",
						len ? "+" : (v2 ? "cgroup v2 " : "cgroup v1 "),
						v1_dirs[c]);
}

bool jail_cgroup_writable(char *why, size_t size)
{
	bool v2;
	unsigned mask = available(&v2);
	char dir[128];
	for (int c = 0; c < JAIL_CGROUP_MAX; c++) {
		if (!(mask & (1u << c)) || (v2 && c > 0))
			continue;
		if (v2)
			snprintf(dir, sizeof(dir), "%s", CGROUP_ROOT);
		else
			snprintf(dir, sizeof(dir), CGROUP_ROOT "/%s", v1_dirs[c]);
		if (access(dir, W_OK) < 0) {
			snprintf(why, size, "%s is not writable: %s", dir, strerror(errno));
			return false;
		}
	}
	return true;
}

static int write_value(const char *dir, const char *file, const char *value, loam_err *err)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	bool ok = fd >= 0 && write(fd, value, strlen(value)) == (ssize_t)strlen(value);
	int saved = errno;
	if (fd >= 0)
		close(fd);
	errno = saved;
	return ok ? 0 : loam_fail_errno(err, "cgroup: write %s to %s", value, path);
}

static int make_dir(const char *path, loam_err *err)
{
	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		return loam_fail_errno(err, "cgroup: mkdir %s", path);
	return 0;
}

/* The limits of controller c in dir, in v1's or v2's file names. */
static int set_limits(enum cg_ctrl c, bool v2, const char *dir, const struct jail_limits *l,
		      loam_err *err)
{
	char v[64];
	switch (c) {
	case CG_CPU:
		if (v2) {
			snprintf(v, sizeof(v), "%u %d", l->cpus * CFS_PERIOD_US, CFS_PERIOD_US);
			return write_value(dir, "cpu.max", v, err);
		}
		snprintf(v, sizeof(v), "%d", CFS_PERIOD_US);
		if (write_value(dir, "cpu.cfs_period_us", v, err) < 0)
			return -1;
		snprintf(v, sizeof(v), "%u", l->cpus * CFS_PERIOD_US);
		return write_value(dir, "cpu.cfs_quota_us", v, err);
	case CG_MEMORY:
		if (!l->memory_bytes)
			return 0;
		snprintf(v, sizeof(v), "%" PRIu64, l->memory_bytes);
		return write_value(dir, v2 ? "memory.max" : "memory.limit_in_bytes", v, err);
	case CG_PIDS:
		snprintf(v, sizeof(v), "%u", l->pids);
		return write_value(dir, "pids.max", v, err);
	}
	return 0;
}

/* v2: the root and loam/ hand the controllers down to their children. */
static int v2_delegate(unsigned mask, loam_err *err)
{
	char words[64] = "";
	size_t len = 0;
	for (int c = 0; c < JAIL_CGROUP_MAX; c++)
		if ((mask & (1u << c)) && len < sizeof(words))
			len += (size_t)snprintf(words + len, sizeof(words) - len, "%s+%s",
						len ? " " : "", v1_dirs[c]);
	return make_dir(CGROUP_ROOT "/" CGROUP_PARENT, err) < 0 ||
		       write_value(CGROUP_ROOT, "cgroup.subtree_control", words, err) < 0 ||
		       write_value(CGROUP_ROOT "/" CGROUP_PARENT, "cgroup.subtree_control", words,
				   err) < 0
		   ? -1
		   : 0;
}

static int open_procs(const char *dir, struct jail_cgroup *cg, loam_err *err)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	int high = fd < 0 ? -1 : fcntl(fd, F_DUPFD_CLOEXEC, JAIL_FD_PRIVATE);
	if (fd >= 0)
		close(fd);
	if (high < 0)
		return loam_fail_errno(err, "cgroup: open %s", path);
	cg->procs[cg->n++] = high;
	return 0;
}

int jail_cgroup_create(const char *name, const struct jail_limits *l, struct jail_cgroup *cg,
		       loam_err *err)
{
	*cg = (struct jail_cgroup){0};
	if (!jail_caps()->cgroup)
		return 0; /* named in the learn report */
	bool v2;
	unsigned mask = available(&v2);
	char dir[256];
	if (v2 && mask) {
		snprintf(dir, sizeof(dir), CGROUP_ROOT "/" CGROUP_PARENT "/%s", name);
		if (v2_delegate(mask, err) < 0 || make_dir(dir, err) < 0)
			return -1;
		for (int c = 0; c < JAIL_CGROUP_MAX; c++)
			if ((mask & (1u << c)) && set_limits(c, true, dir, l, err) < 0)
				return -1;
		return open_procs(dir, cg, err);
	}
	for (int c = 0; c < JAIL_CGROUP_MAX; c++) {
		if (!(mask & (1u << c)))
			continue;
		snprintf(dir, sizeof(dir), CGROUP_ROOT "/%s/" CGROUP_PARENT, v1_dirs[c]);
		if (make_dir(dir, err) < 0)
			return -1;
		snprintf(dir, sizeof(dir), CGROUP_ROOT "/%s/" CGROUP_PARENT "/%s", v1_dirs[c],
			 name);
		if (make_dir(dir, err) < 0 || set_limits(c, false, dir, l, err) < 0 ||
		    open_procs(dir, cg, err) < 0) {
			jail_cgroup_close(cg);
			return -1;
		}
	}
	return 0;
}

void jail_cgroup_close(struct jail_cgroup *cg)
{
	for (size_t i = 0; i < cg->n; i++)
		close(cg->procs[i]);
	cg->n = 0;
}

/* rmdir, retried while the last killed processes leave it (EBUSY). */
static int remove_dir(const char *dir, loam_err *err)
{
	for (int i = 0; rmdir(dir) < 0; i++) {
		if (errno == ENOENT)
			return 0;
		if (errno != EBUSY || i >= REMOVE_TRIES)
			return loam_fail_errno(err, "cgroup: remove %s", dir);
		loam_sleep_ms(REMOVE_PAUSE_MS);
	}
	return 0;
}

int jail_cgroup_remove(const char *name, loam_err *err)
{
	char dir[256];
	if (!jail_caps()->cgroup)
		return 0;
	if (is_v2()) {
		snprintf(dir, sizeof(dir), CGROUP_ROOT "/" CGROUP_PARENT "/%s", name);
		return remove_dir(dir, err);
	}
	for (int c = 0; c < JAIL_CGROUP_MAX; c++) {
		snprintf(dir, sizeof(dir), CGROUP_ROOT "/%s/" CGROUP_PARENT "/%s", v1_dirs[c],
			 name);
		if (remove_dir(dir, err) < 0)
			return -1;
	}
	return 0;
}
