/*
 * What of the jail this host can give (see jail.h), probed once per agent
 * run: a child cloned with the namespace flags that exits at once (and,
 * given a mount namespace, tries pivot_root into a tmpfs first), and root's
 * write access to the cgroup hierarchies, and seccomp the way QEMU checks
 * it before it offers -sandbox at all. A part the host refuses is left out
 * of every jail and named with the reason, so `loam host show` says so
 * instead of the jail weakening silently. An emulated host is the case in
 * point: qemu-user refuses clone's namespace flags with EINVAL and has no
 * seccomp(2), so its QEMU knows no -sandbox option.
 */
#include "host/jail.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* Covered by a tmpfs in the probe's own mount namespace only (pivot_steps). */
#define PROBE_MOUNT "/tmp"

static const struct {
	unsigned long flag;
	const char *part, *clone_name, *ns_file;
} namespaces[] = {
    {CLONE_NEWNS, "mountns", "CLONE_NEWNS", "/proc/self/ns/mnt"},
    {CLONE_NEWPID, "pidns", "CLONE_NEWPID", "/proc/self/ns/pid"},
    {CLONE_NEWIPC, "ipcns", "CLONE_NEWIPC", "/proc/self/ns/ipc"},
    {CLONE_NEWNET, "netns", "CLONE_NEWNET", "/proc/self/ns/net"},
};
#define N_NAMESPACES (sizeof(namespaces) / sizeof(namespaces[0]))

/* How the probe child's pivot_root failed: the step and its errno. */
struct pivot_failure {
	int step, err;
};

static const char *const pivot_steps[] = {"make / private", "mount a tmpfs on /tmp",
					  "pivot_root into it"};

static __attribute__((format(printf, 3, 4))) void add_missing(struct jail_caps *c, const char *part,
							      const char *fmt, ...)
{
	if (c->n_missing >= JAIL_MISSING_MAX)
		return;
	char *out = c->missing[c->n_missing++];
	int n = snprintf(out, JAIL_REASON_LEN, "%s: ", part);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(out + n, JAIL_REASON_LEN - (size_t)n, fmt, ap);
	va_end(ap);
}

/* In the probe child, in its own mount namespace: the view's pivot_root. */
static __attribute__((noreturn)) void try_pivot(int report)
{
	struct pivot_failure f = {0, 0};
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		goto fail;
	f.step = 1;
	if (mount("loam-probe", PROBE_MOUNT, "tmpfs", MS_NOSUID | MS_NODEV, "size=16k") < 0)
		goto fail;
	f.step = 2;
	if (chdir(PROBE_MOUNT) < 0 || syscall(SYS_pivot_root, ".", ".") < 0)
		goto fail;
	_exit(0);
fail:
	f.err = errno;
	(void)!write(report, &f, sizeof(f));
	_exit(1);
}

/* Clones a child with flags that exits at once (after trying pivot_root
 * when flags hold CLONE_NEWNS); 0, or -1 with errno. *pivot gets the
 * child's pivot_root failure, if any. */
static int try_clone(unsigned long flags, struct pivot_failure *pivot)
{
	int fds[2];
	*pivot = (struct pivot_failure){-1, 0};
	if (pipe2(fds, O_CLOEXEC) < 0)
		return -1;
	pid_t pid = (pid_t)syscall(SYS_clone, flags | SIGCHLD, NULL, NULL, NULL, NULL);
	if (pid == 0) {
		if (flags & CLONE_NEWNS)
			try_pivot(fds[1]);
		_exit(0);
	}
	int saved = errno;
	close(fds[1]);
	if (pid > 0) {
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		if (read(fds[0], pivot, sizeof(*pivot)) != (ssize_t)sizeof(*pivot))
			*pivot = (struct pivot_failure){-1, 0};
	}
	close(fds[0]);
	errno = saved;
	return pid < 0 ? -1 : 0;
}

/* Why clone refused a namespace, with what it most likely means. */
static const char *hint(int err, const char *ns_file)
{
	if (err == EINVAL && access(ns_file, F_OK) == 0)
		return " (the kernel has it: qemu-user emulation?)";
	if (err == EINVAL)
		return " (a kernel without it)";
	if (err == EPERM)
		return " (not root, or a container forbids it)";
	return "";
}

static void probe_pivot(struct jail_caps *c, const struct pivot_failure *f)
{
	if (!(c->ns_flags & CLONE_NEWNS)) {
		add_missing(c, "pivot_root", "needs a mount namespace");
		return;
	}
	c->pivot_root = f->step < 0;
	if (!c->pivot_root)
		add_missing(c, "pivot_root", "%s failed: %s", pivot_steps[f->step],
			    strerror(f->err));
}

/* All flags at once (one clone where the host has them all), else one by
 * one to learn which the host refuses. */
static void probe_namespaces(struct jail_caps *c)
{
	unsigned long all = 0;
	struct pivot_failure pivot, one;
	for (size_t i = 0; i < N_NAMESPACES; i++)
		all |= namespaces[i].flag;
	if (try_clone(all, &pivot) == 0) {
		c->ns_flags = all;
		probe_pivot(c, &pivot);
		return;
	}
	for (size_t i = 0; i < N_NAMESPACES; i++) {
		if (try_clone(namespaces[i].flag, &one) == 0) {
			c->ns_flags |= namespaces[i].flag;
			if (namespaces[i].flag == CLONE_NEWNS)
				pivot = one;
			continue;
		}
		int err = errno;
		add_missing(c, namespaces[i].part, "clone(%s) failed: %s%s",
			    namespaces[i].clone_name, strerror(err),
			    hint(err, namespaces[i].ns_file));
	}
	probe_pivot(c, &pivot);
}

static void probe_cgroup(struct jail_caps *c)
{
	char have[96], why[JAIL_REASON_LEN];
	jail_cgroup_support(have, sizeof(have));
	if (!*have) {
		add_missing(c, "cgroup", "no cpu, memory or pids controller under /sys/fs/cgroup");
		return;
	}
	c->cgroup = jail_cgroup_writable(why, sizeof(why));
	if (!c->cgroup)
		add_missing(c, "cgroup", "%s", why);
}

/* QEMU registers -sandbox only when this call fails with EFAULT (the
 * kernel has seccomp filters with TSYNC and read the NULL program); it
 * would refuse the option otherwise, so the jail leaves it out. */
static void probe_seccomp(struct jail_caps *c)
{
	errno = 0;
	long rc = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, NULL);
	/* EACCES: this process lacks CAP_SYS_ADMIN; QEMU runs with no-new-privs */
	c->sandbox = rc < 0 && (errno == EFAULT || errno == EACCES);
	if (!c->sandbox)
		add_missing(c, "sandbox", "seccomp(SECCOMP_SET_MODE_FILTER, TSYNC) failed: %s%s",
			    rc < 0 ? strerror(errno) : "no error",
			    errno == ENOSYS ? " (qemu-user emulation?)" : "");
}

const struct jail_caps *jail_caps(void)
{
	static struct jail_caps caps;
	static bool probed;
	if (!probed) {
		probe_seccomp(&caps);
		probe_namespaces(&caps);
		probe_cgroup(&caps);
		probed = true;
	}
	return &caps;
}

void jail_support(char *out, size_t size)
{
	const struct jail_caps *c = jail_caps();
	size_t len = (size_t)snprintf(out, size, "%s", c->sandbox ? "sandbox" : "");
	for (size_t i = 0; i < N_NAMESPACES; i++)
		if ((c->ns_flags & namespaces[i].flag) && len < size)
			len += (size_t)snprintf(out + len, size - len, "%s%s", len ? ", " : "",
						namespaces[i].part);
	if (c->pivot_root && len < size)
		len += (size_t)snprintf(out + len, size - len, "%spivot_root", len ? ", " : "");
	char cg[96];
	jail_cgroup_support(cg, sizeof(cg));
	if (c->cgroup && len < size)
		len += (size_t)snprintf(out + len, size - len, "%s%s", len ? ", " : "", cg);
	if (len < size)
		snprintf(out + len, size - len, "%srlimits", len ? ", " : "");
}
