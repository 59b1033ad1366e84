/*
 * "Jail this child with this spec": the one way the agent starts a process
 * it does not trust (QEMU, qemu-storage-daemon). The child starts in new
 * mount, PID and IPC namespaces, joins its cgroup, lowers its rlimits,
 * sees only a minimal read-only root (pivot_root into a tmpfs with the
 * listed host paths, a few /dev nodes, its own /proc and run/ as /run),
 * drops to its user with no new privileges and execs. A small init, the
 * namespace's pid 1 and already unprivileged, reaps it and tells the agent
 * how it ended; the agent learns the jailed process's host pid from the
 * kernel, never from a file the jailed user can write. A part the host
 * cannot give (jail_caps: an emulated host has no namespaces) is left out,
 * never silently: the learn report names it with the reason. Without the
 * minimal root the child's working directory is still run/.
 */
#ifndef LOAM_HOST_JAIL_H
#define LOAM_HOST_JAIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/err.h"

/* The jail's own fds live at this number and above until the exec. */
#define JAIL_FD_PRIVATE 256

/* ---- cgroups (jail_cgroup.c): v2, else v1 cpu, memory, pids ---- */

struct jail_limits {
	unsigned cpus;	       /* CPU time: this many CPUs' worth */
	uint64_t memory_bytes; /* 0: no memory limit */
	unsigned pids;	       /* processes and threads */
};

#define JAIL_CGROUP_MAX 3

struct jail_cgroup {
	int procs[JAIL_CGROUP_MAX]; /* cgroup.procs of each hierarchy, at JAIL_FD_PRIVATE+ */
	size_t n;
};

/* Makes (or reuses) the cgroup `name` (e.g. "vm-<id>") under loam/ in every
 * hierarchy the host has, sets l and opens its cgroup.procs. Without cgroups
 * cg->n is 0 and that is no error. */
int jail_cgroup_create(const char *name, const struct jail_limits *l, struct jail_cgroup *cg,
		       loam_err *err);
void jail_cgroup_close(struct jail_cgroup *cg);
/* Removes the cgroup `name` once its processes are gone; absent is fine. */
int jail_cgroup_remove(const char *name, loam_err *err);
/* What the host offers: "cgroup v2 cpu+memory+pids", "cgroup v1 ..." or
 * "" when none of the three controllers is there. */
void jail_cgroup_support(char *out, size_t size);
/* Root may make cgroups there; else why not, in why. */
bool jail_cgroup_writable(char *why, size_t size);

/* ---- the minimal root (jail_mount.c) ---- */

struct jail_view {
	const char *mount_on;  /* a root-owned directory the new root's tmpfs covers */
	int run_fd;	       /* bound at /run, the working directory */
	const char *run_path;  /* its path, opened again in the new namespace */
	const char *const *ro; /* host paths seen read-only at the same place */
	const char *const *rw; /* host paths seen writable (a hugetlbfs) */
};

/* In the child, as root, in its new mount and PID namespaces: builds the
 * view and pivots into it. On failure returns -1 with errno set and *what
 * naming the step. */
int jail_view_enter(const struct jail_view *v, const char **what);

/* ---- the init as a logger (jail_log.c) ---- */

#define JAIL_LOGS_MAX 2
#define JAIL_LOG_HEAD (1 << 20) /* kept from a log's start: the boot */
#define JAIL_LOG_CAP  (4 << 20) /* a log's size at most */

struct jail_log {
	int pipe_r; /* what the jailed process writes, at JAIL_FD_PRIVATE+ */
	int file;   /* the root-owned log, opened read-write by root, likewise */
};

/* The init's life once the jailed process runs: copies the logs, reaps,
 * writes child's wait status to report; returns when no child is left. */
void jail_init_loop(pid_t child, int report, const struct jail_log *logs, size_t n_logs);

/* ---- the jailed process (jail.c) ---- */

struct jail_spec {
	uid_t uid;
	gid_t groups[2]; /* the first is the primary group */
	size_t n_groups;
	struct jail_view view;
	const struct jail_cgroup *cgroup; /* NULL: none */
	unsigned max_files;		  /* RLIMIT_NOFILE; core dumps are always off */
	/* In the child as root, before the view: put fds in place (below
	 * JAIL_FD_PRIVATE), enter a network namespace. -1 with a message on
	 * stderr fails the start. */
	int (*setup)(void *ctx);
	void *ctx;
	int keep_fds;	   /* fds 0..keep_fds-1 reach the exec */
	int err_fd;	   /* the jailed process's stderr */
	char *const *argv; /* argv[0]: an absolute path inside the view */
	char *const *envp;
	const char *name;		     /* the init's process name */
	bool new_net;			     /* an empty network namespace (setup enters none) */
	struct jail_log logs[JAIL_LOGS_MAX]; /* copied by the init, capped */
	size_t n_logs;
};

struct jail_proc {
	pid_t init;	 /* the namespace's pid 1, as the host sees it */
	int report_fd;	 /* the init's report: the exec's time, then the wait status */
	int64_t exec_ns; /* CLOCK_MONOTONIC just before the exec; 0: not read yet */
};

/* Starts the jailed process. */
int jail_spawn(const struct jail_spec *j, struct jail_proc *out, loam_err *err);
/* The jailed process's host pid (the init's one child), 0 when it is gone. */
pid_t jail_child_pid(const struct jail_proc *p);
/* When the init forked the process that execs (CLOCK_MONOTONIC ns; waits up
 * to timeout_ms), -1 when it failed before. */
int64_t jail_exec_ns(struct jail_proc *p, int timeout_ms);
/* The jailed process's wait status once it ended (waits up to timeout_ms
 * for each report); -1 when it did not end by then or the init failed
 * before starting it. */
int jail_exit_status(struct jail_proc *p, int timeout_ms);
void jail_proc_close(struct jail_proc *p);
/* ---- what this host can give (jail_probe.c) ---- */

#define JAIL_MISSING_MAX 8
#define JAIL_REASON_LEN	 192

struct jail_caps {
	unsigned long ns_flags; /* the CLONE_NEW* flags clone accepts here */
	bool pivot_root;	/* the minimal root (it needs a mount namespace) */
	bool cgroup;		/* root can make cgroups */
	bool sandbox;		/* seccomp as QEMU needs it for -sandbox */
	/* each part left out, as "part: reason" */
	char missing[JAIL_MISSING_MAX][JAIL_REASON_LEN];
	size_t n_missing;
};

/* Probed on the first call in this process, then kept. The VM user, no new
 * privileges, rlimits and root's log files need no probe: they always hold. */
const struct jail_caps *jail_caps(void);
/* The parts this host applies, as "sandbox, mountns, pidns, ipcns, netns,
 * pivot_root, cgroup v1 cpu+memory+pids, rlimits" (sandbox: QEMU's seccomp
 * filter). */
void jail_support(char *out, size_t size);

#endif
