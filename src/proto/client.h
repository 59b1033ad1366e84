/*
 * The control plane's side of the agent protocol: one C function per agent
 * verb, with typed inputs and outputs, over a transport (local or SSH). The
 * words and keys come from proto/agent.h, so the progs, the benchmarks and
 * the agent cannot drift apart. Every call is one short agent run; the long
 * work (vm-prep, install) runs as a detached job that later calls ask about,
 * and `watch` is the long poll that says when a VM has booted or a job has
 * ended (docs/agent-vm-verbs.md).
 *
 * Failures: the agent's own message (its last stderr line) in a LOAM_E_IO
 * error, LOAM_E_TIMEOUT when the call ran out of time, LOAM_E_UNAVAILABLE
 * when the connection broke (loam_transport_is_broken then says so).
 */
#ifndef LOAM_PROTO_CLIENT_H
#define LOAM_PROTO_CLIENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/argv.h"
#include "lib/err.h"
#include "lib/topology.h"
#include "proto/agent.h"
#include "transport/transport.h"

/* Each call's limit unless the caller sets one: every verb answers fast. */
#define LOAM_AGENT_CALL_TIMEOUT_MS 30000
/* How long a job call waits for a job that ends quickly (a vm-prep takes
 * tens to a few hundred ms), so that it answers in the call that started
 * it: long while other workers are idle (the wait keeps nothing waiting),
 * short when they are all busy (a slow job then costs its worker little;
 * the host watcher reports its end). */
#define LOAM_AGENT_JOB_WAIT_IDLE_MS 500
#define LOAM_AGENT_JOB_WAIT_BUSY_MS 50

static inline int loam_agent_job_wait_ms(int idle_workers)
{
	return idle_workers > 0 ? LOAM_AGENT_JOB_WAIT_IDLE_MS : LOAM_AGENT_JOB_WAIT_BUSY_MS;
}

/* The agent on one host. */
struct loam_agent {
	struct loam_transport *t;
	const char *path;      /* the agent binary there */
	const char *state_dir; /* its --state-dir there */
	int timeout_ms;	       /* per call; 0: LOAM_AGENT_CALL_TIMEOUT_MS */
};

/* ---- VM verbs ---- */

/* One inbound rule of a VM's firewall: a port open to all but the host's
 * other VMs, or (from) to one prefix, other VMs included. */
struct loam_vm_net_port {
	unsigned port;
	const char *proto; /* "tcp" or "udp" */
	const char *from;  /* a CIDR, or NULL */
};

/* A VM's network: vm-prep's "net" and vm-net's stdin (docs/network.md). */
struct loam_vm_net_spec {
	const char *mac, *ipv4, *ipv4_pool, *ipv6, *ipv6_prefix, *host_ipv6_prefix;
	unsigned queues;
	bool egress;
	const struct loam_vm_net_port *ports;
	size_t nports;
};
json_t *loam_vm_net_spec_json(const struct loam_vm_net_spec *n);

/* vm-prep's spec; NULL strings are left out (the agent's defaults). */
struct loam_vm_prep_spec {
	const char *id, *name, *arch;
	unsigned vcpus, memory_mib, disk_gib; /* disk_gib 0: the image's size */
	bool hugepages, kvm;
	struct loam_topology topo; /* all 0: the agent's default */
	const char *image, *image_format, *fw_code, *fw_vars;
	const char *meta_data, *user_data, *network_config; /* meta_data NULL: no seed */
	const char *kernel, *initrd, *cmdline;		    /* kernel NULL: firmware boot */
	bool kernel_firmware; /* direct kernel through UEFI, or without it */
	const char *qemu, *hugepage_dir;
	const struct loam_vm_net_spec *net; /* NULL: no network (unless net_json) */
	const json_t *net_json;		    /* a saved spec's "net", as it was */
	const char *vmm_dir, *storage_dir;  /* the pinned bundles' install dirs, or NULL */
};

/* The spec as the JSON text vm-prep reads; the caller frees. */
char *loam_vm_prep_spec_json(const struct loam_vm_prep_spec *s);
/* And back (a saved vm.json): the strings point into j. */
int loam_vm_prep_spec_read(const json_t *j, struct loam_vm_prep_spec *s, loam_err *err);

/* What vm-status, vm-wait-ready and watch report of a VM. */
struct loam_vm_status {
	bool exists, running, ready, timed_out;
	long pid;		/* 0: none */
	char guest_machine[33]; /* "" until ready */
	char qmp[24];		/* QMP's status, "" when not asked or not running */
	char *serial_tail;	/* the serial log's last lines, printable ASCII */
	/* The storage daemon: has_storage when the VM has one on record;
	 * storage_supervised while its supervisor lives; storage_failed the
	 * supervisor's reason for giving up (with the daemon's log), or NULL. */
	bool has_storage, storage_supervised, storage_running;
	long storage_pid, storage_restarts;
	char *storage_failed;
	/* the guest's SSH host keys ("TYPE BASE64") once ready, as printed */
	char *host_keys[LOAM_HOST_KEYS_MAX];
	size_t nhost_keys;
};
void loam_vm_status_free(struct loam_vm_status *s);
/* A deep copy of *s. */
void loam_vm_status_copy(const struct loam_vm_status *s, struct loam_vm_status *out);
#define cleanup_vm_status __attribute__((cleanup(loam_vm_status_free)))

/* vm-prep in the foreground (the bench's direct boot); the VM prog runs
 * it as a job: loam_agent_vm_prep_job. */
int loam_agent_vm_prep(const struct loam_agent *a, const struct loam_vm_prep_spec *spec,
		       loam_err *err);
int loam_agent_vm_start(const struct loam_agent *a, const char *id, bool *started, long *pid,
			loam_err *err);
/* The QEMU argv of the VM with its files named by path (vm-argv --paths:
 * the machine vm-start runs, for a reference boot outside loam), appended
 * to out, and what QEMU needs in its environment besides (NAME=VALUE
 * words), appended to env (may be NULL). */
int loam_agent_vm_argv(const struct loam_agent *a, const char *id, struct loam_argv *out,
		       struct loam_argv *env, loam_err *err);
/* With QMP's view (up to 5 s on the host). */
int loam_agent_vm_status(const struct loam_agent *a, const char *id, struct loam_vm_status *out,
			 loam_err *err);
/* Without QMP; waits up to timeout_s (0: answers at once) for the guest. */
int loam_agent_vm_wait_ready(const struct loam_agent *a, const char *id, int timeout_s,
			     struct loam_vm_status *out, loam_err *err);
/* Power-down for up to timeout_s (0: straight to QMP quit), then kill. */
int loam_agent_vm_stop(const struct loam_agent *a, const char *id, int timeout_s, bool *was_running,
		       loam_err *err);
int loam_agent_vm_purge(const struct loam_agent *a, const char *id, bool *existed, loam_err *err);
/* vm-net: applies a changed network (open ports, egress) to a prepared VM;
 * LOAM_E_IO with the agent's "no network ... yet" when prep has not made
 * it (then prep applies the current one). */
int loam_agent_vm_net(const struct loam_agent *a, const char *id,
		      const struct loam_vm_net_spec *net, loam_err *err);

/* ---- detached jobs ---- */

enum loam_job_state { LOAM_JOB_IS_RUNNING, LOAM_JOB_IS_DONE, LOAM_JOB_IS_LOST, LOAM_JOB_IS_ABSENT };

struct loam_job_status {
	enum loam_job_state state;
	int exit_status; /* done and not signaled; else -1 */
	int signal;	 /* done by a signal; else 0 */
	char *out;	 /* the job's stdout, once it ended */
	char *err;	 /* the tail of its stderr */
	bool reaped;
};
void loam_job_status_free(struct loam_job_status *s);
#define cleanup_job_status __attribute__((cleanup(loam_job_status_free)))
/* True for a job that ended with exit status 0. */
bool loam_job_succeeded(const struct loam_job_status *s);
/* For a job that did not succeed: "<what> on HOST failed: <its message>". */
int loam_job_fail(const struct loam_agent *a, const struct loam_job_status *s, const char *what,
		  loam_err *err);

/* job-start NAME -- words... with stdin; idempotent (asking again with the
 * same words and stdin starts nothing new). Waits up to wait_ms (at most
 * 1000) for the end; with reap, an ended job is forgotten on the host. */
int loam_agent_job_start(const struct loam_agent *a, const char *name, const char *const *words,
			 const char *stdin_data, int wait_ms, bool reap,
			 struct loam_job_status *out, loam_err *err);
int loam_agent_job_status(const struct loam_agent *a, const char *name, int wait_ms, bool reap,
			  struct loam_job_status *out, loam_err *err);
int loam_agent_job_cancel(const struct loam_agent *a, const char *name, bool *existed,
			  loam_err *err);

/* vm-prep of spec as job "vm-prep-<id>", reaped once it ended. */
int loam_agent_vm_prep_job(const struct loam_agent *a, const struct loam_vm_prep_spec *spec,
			   int wait_ms, struct loam_job_status *out, loam_err *err);
/* The name of a VM's prep job, for watch and job-cancel. */
void loam_agent_vm_prep_job_name(const char *vm_id, char out[64]);
/* install (request: its stdin) as job "install", reaped once it ended. */
int loam_agent_install_job(const struct loam_agent *a, const char *request, int wait_ms,
			   struct loam_job_status *out, loam_err *err);

/* ---- watch: the long poll ---- */

struct loam_watch_item {
	bool job;	  /* a job's name, else a VM id */
	const char *name; /* 1..63 of [a-z0-9-] */
};

struct loam_watch_event {
	bool job;
	char name[64];
	enum loam_job_state job_state; /* job */
	struct loam_vm_status vm;      /* VM: booted (ready) or QEMU gone */
};

/* Waits up to timeout_ms (at most 10000) for a VM of items to boot or lose
 * its QEMU, or a job to end; *events (freed with loam_watch_events_free)
 * lists every one that did, none when the time ran out. */
int loam_agent_watch(const struct loam_agent *a, const struct loam_watch_item *items, size_t n,
		     int timeout_ms, struct loam_watch_event **events, size_t *nevents,
		     loam_err *err);
void loam_watch_events_free(struct loam_watch_event *events, size_t n);

/* ---- host verbs ---- */

/* `arch`: the agent answers with this machine's canonical arch. */
int loam_agent_arch(const struct loam_agent *a, char out[16], loam_err *err);

/* What `learn` reports that the control plane stores (DESIGN.md §4). */
struct loam_agent_facts {
	char arch[16];
	int64_t cpus, cores, sockets, dies, threads_per_core, numa_nodes, memory_gib;
	int64_t hugepages_1g_total, storage_total_gib, storage_available_gib;
	bool kvm;
	char *cpu_model, *os, *kernel; /* NULL when not reported */
	char *raw;		       /* the whole JSON object */
};
void loam_agent_facts_free(struct loam_agent_facts *f);
#define cleanup_agent_facts __attribute__((cleanup(loam_agent_facts_free)))
/* learn --storage-dir DIR (the agent's state dir when NULL). */
int loam_agent_learn(const struct loam_agent *a, const char *storage_dir,
		     struct loam_agent_facts *out, loam_err *err);

#endif
