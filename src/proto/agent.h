/*
 * The protocol between loamd and its host agent (loam-host), named once for
 * both sides: every verb, option word and JSON key that crosses the wire,
 * the guest's readiness marker on the serial console, and the layout of the
 * agent's state dir (the per-VM folders and the root-only job folders).
 *
 * Header only, with no dependencies, so that the static agent (src/host),
 * the control plane's per-verb calls (proto/client.h), the benchmarks and
 * the tests all use the same words. The interface itself is documented in
 * docs/agent-vm-verbs.md.
 */
#ifndef LOAM_PROTO_AGENT_H
#define LOAM_PROTO_AGENT_H

/* ---- verbs ---- */

#define LOAM_VERB_ARCH		"arch"
#define LOAM_VERB_LEARN		"learn"
#define LOAM_VERB_INSTALL	"install"
#define LOAM_VERB_UNINSTALL	"uninstall"
#define LOAM_VERB_VM_PREP	"vm-prep"
#define LOAM_VERB_VM_START	"vm-start"
#define LOAM_VERB_VM_ARGV	"vm-argv"
#define LOAM_VERB_VM_STATUS	"vm-status"
#define LOAM_VERB_VM_WAIT_READY "vm-wait-ready"
#define LOAM_VERB_VM_STOP	"vm-stop"
#define LOAM_VERB_VM_PURGE	"vm-purge"
#define LOAM_VERB_JOB_START	"job-start"
#define LOAM_VERB_JOB_STATUS	"job-status"
#define LOAM_VERB_JOB_CANCEL	"job-cancel"
#define LOAM_VERB_WATCH		"watch"
#define LOAM_VERB_VM_NET	"vm-net"

/* ---- option words ---- */

#define LOAM_OPT_STATE_DIR   "--state-dir"
#define LOAM_OPT_STORAGE_DIR "--storage-dir"
#define LOAM_OPT_ROOT	     "--root"
#define LOAM_OPT_TIMEOUT     "--timeout"    /* seconds */
#define LOAM_OPT_WAIT_MS     "--wait-ms"    /* job-start, job-status: wait this long for the end */
#define LOAM_OPT_REAP	     "--reap"	    /* job-start, job-status: forget a finished job */
#define LOAM_OPT_TIMEOUT_MS  "--timeout-ms" /* watch */
#define LOAM_OPT_VM	     "--vm"	    /* watch: a VM to watch for readiness */
#define LOAM_OPT_JOB	     "--job"	    /* watch: a job to watch for its end */
#define LOAM_OPT_PATHS	     "--paths"	    /* vm-argv: files by path, for a boot outside loam */
/* job-start NAME [options] -- VERB ARGS...: the words after this run. */
#define LOAM_OPT_END "--"

/* Exit statuses of every verb: bad input changed nothing. */
#define LOAM_AGENT_EXIT_FAILED	1
#define LOAM_AGENT_EXIT_INVALID 2

/* ---- the guest's readiness line on the serial console ---- */

/* "LOAM-READY machine=<uname -m>" once the guest's init is up. */
#define LOAM_READY_MARK "LOAM-READY machine="
/* cloud-init prints the guest's SSH host keys between these lines on the
 * console on first boot; vm-status reports the keys (at most
 * LOAM_HOST_KEYS_MAX), the VM prog stores them. */
#define LOAM_HOST_KEYS_BEGIN "-----BEGIN SSH HOST KEY KEYS-----"
#define LOAM_HOST_KEYS_END   "-----END SSH HOST KEY KEYS-----"
#define LOAM_HOST_KEYS_MAX   8

/* ---- layout of the agent's state dir D ---- */

/* D/vms/<id>/: one folder per VM, owned by root (group: the VM's), with
 * run/ inside, the only place the VM's user can write (QEMU's pid file). */
#define LOAM_LAYOUT_VMS	       "vms"
#define LOAM_LAYOUT_VM_SPEC    "vm.json"
#define LOAM_LAYOUT_VM_DISK    "disk.qcow2"
#define LOAM_LAYOUT_VM_VARS    "VARS.fd"
#define LOAM_LAYOUT_VM_SEED    "seed.img"
#define LOAM_LAYOUT_VM_SERIAL  "serial.log"
#define LOAM_LAYOUT_VM_CONSOLE "console.log"
#define LOAM_LAYOUT_VM_QMP     "qmp.sock"
#define LOAM_LAYOUT_VM_PIDFILE "qemu.pid" /* in run/ */
/* The storage daemon's vhost-user-blk socket, which it makes in run/. */
#define LOAM_LAYOUT_VM_DISK_SOCK "disk.sock"
/* Written by its root supervisor: "<supervisor pid> <daemon pid> <restarts>". */
#define LOAM_LAYOUT_VM_STORAGE_PID "storage.pid"
#define LOAM_LAYOUT_VM_STORAGE_LOG "storage.log" /* the daemon's stderr */
/* Why the supervisor gave up (the daemon's log tail); gone at the next start. */
#define LOAM_LAYOUT_VM_STORAGE_FAILED "storage.failed"
#define LOAM_LAYOUT_VM_VMM_PID	      "vmm.pid" /* QEMU's host pid, root's */
/* The pid file of a reference boot as root (vm-argv --paths), in the
 * root-owned VM dir: root never writes by path in run/. */
#define LOAM_LAYOUT_VM_REF_PIDFILE "reference.pid"
#define LOAM_LAYOUT_VM_RUN	   "run"
/* The VM's unix user: this prefix and the id (shortened past 24 chars). */
#define LOAM_LAYOUT_VM_USER_PREFIX "loam-vm-"

/* D/jobs/<name>/: root-only (0700), never inside a VM's folder, which the
 * VM's user can write. */
#define LOAM_LAYOUT_JOBS	"jobs"
#define LOAM_LAYOUT_JOB_INPUT	"input.sha256" /* digest of argv and stdin */
#define LOAM_LAYOUT_JOB_STDIN	"stdin"
#define LOAM_LAYOUT_JOB_STDOUT	"stdout"
#define LOAM_LAYOUT_JOB_STDERR	"stderr"
#define LOAM_LAYOUT_JOB_PID	"pid"  /* "<monitor pid> <session> <start ticks>" */
#define LOAM_LAYOUT_JOB_EXIT	"exit" /* "exit N" or "signal N", once it ended */
#define LOAM_JOB_PREFIX_VM_PREP "vm-prep-"
#define LOAM_JOB_INSTALL	"install"

/* D/net/<id>/: a VM's network as root keeps it (0700, root's; docs/network.md). */
#define LOAM_LAYOUT_NET		     "net"
#define LOAM_LAYOUT_NET_SPEC	     "net.json"
#define LOAM_LAYOUT_NET_NFT	     "rules.nft"
#define LOAM_LAYOUT_NET_DNSMASQ_CONF "dnsmasq.conf"
#define LOAM_LAYOUT_NET_DNSMASQ_PID  "dnsmasq.pid"
#define LOAM_LAYOUT_NET_DNSMASQ_LOG  "dnsmasq.log"
/* A VM's network namespace: this prefix and its id (/run/netns/loam-<id>). */
#define LOAM_LAYOUT_NETNS_PREFIX "loam-"

/* ---- vm-prep's spec (stdin) ---- */

#define LOAM_KEY_ID		"id"
#define LOAM_KEY_NAME		"name"
#define LOAM_KEY_ARCH		"arch"
#define LOAM_KEY_VCPUS		"vcpus"
#define LOAM_KEY_MEMORY_MIB	"memory_mib"
#define LOAM_KEY_HUGEPAGES	"hugepages"
#define LOAM_KEY_KVM		"kvm"
#define LOAM_KEY_TOPOLOGY	"topology"
#define LOAM_KEY_PACKAGES	"packages"
#define LOAM_KEY_DIES		"dies"
#define LOAM_KEY_CORES		"cores"
#define LOAM_KEY_THREADS	"threads"
#define LOAM_KEY_IMAGE		"image"
#define LOAM_KEY_IMAGE_FORMAT	"image_format"
#define LOAM_KEY_FW_CODE	"fw_code"
#define LOAM_KEY_FW_VARS	"fw_vars"
#define LOAM_KEY_DISK_GIB	"disk_gib"
#define LOAM_KEY_SEED		"seed"
#define LOAM_KEY_META_DATA	"meta-data"
#define LOAM_KEY_USER_DATA	"user-data"
#define LOAM_KEY_NETWORK_CONFIG "network-config"
#define LOAM_KEY_DIRECT_KERNEL	"direct_kernel"
#define LOAM_KEY_KERNEL		"kernel"
#define LOAM_KEY_INITRD		"initrd"
#define LOAM_KEY_CMDLINE	"cmdline"
#define LOAM_KEY_FIRMWARE	"firmware"
#define LOAM_KEY_JAIL_MS	"jail_ms" /* vm-start: what the jail added */
#define LOAM_KEY_QEMU		"qemu"	  /* refused: the VMM comes from the bundle */
#define LOAM_KEY_VMM_DIR	"vmm_dir" /* the pinned vmm bundle: bin/ lib/qemu/ share/qemu/ */
#define LOAM_KEY_STORAGE_DIR	"storage_dir" /* the pinned storage bundle: bin/ */
#define LOAM_KEY_HUGEPAGE_DIR	"hugepage_dir"
/* "net": the VM's network (optional; none: the VM has no NIC). Also
 * vm-net's stdin. */
#define LOAM_KEY_NET		  "net"
#define LOAM_KEY_MAC		  "mac"
#define LOAM_KEY_QUEUES		  "queues"
#define LOAM_KEY_IPV4		  "ipv4"
#define LOAM_KEY_IPV4_POOL	  "ipv4_pool"
#define LOAM_KEY_IPV6		  "ipv6"
#define LOAM_KEY_IPV6_PREFIX	  "ipv6_prefix"
#define LOAM_KEY_HOST_IPV6_PREFIX "host_ipv6_prefix"
#define LOAM_KEY_EGRESS		  "egress"
#define LOAM_KEY_OPEN_PORTS	  "open_ports"
#define LOAM_KEY_PORT		  "port"
#define LOAM_KEY_PROTO		  "proto"
#define LOAM_KEY_FROM		  "from"

/* ---- the VM verbs' answers ---- */

#define LOAM_KEY_USER	       "user" /* vm-prep */
#define LOAM_KEY_UID	       "uid"
#define LOAM_KEY_DIR	       "dir"
#define LOAM_KEY_DISK	       "disk"
#define LOAM_KEY_VARS	       "vars"
#define LOAM_KEY_PID	       "pid" /* vm-start, vm-status */
#define LOAM_KEY_STARTED       "started"
#define LOAM_KEY_ARGV	       "argv"	/* vm-argv */
#define LOAM_KEY_ENV	       "env"	/* vm-argv: ["NAME=value"] QEMU needs */
#define LOAM_KEY_EXISTS	       "exists" /* vm-status, vm-wait-ready */
#define LOAM_KEY_RUNNING       "running"
#define LOAM_KEY_QMP	       "qmp"
#define LOAM_KEY_READY	       "ready"
#define LOAM_KEY_GUEST_MACHINE "guest_machine"
#define LOAM_KEY_SERIAL_TAIL   "serial_tail"
/* vm-status: {"supervisor", "pid", "running", "restarts", "failed"} of the
 * storage daemon, or null when the VM has none (not started). */
#define LOAM_KEY_STORAGE     "storage"
#define LOAM_KEY_SUPERVISOR  "supervisor"
#define LOAM_KEY_RESTARTS    "restarts"
#define LOAM_KEY_FAILED	     "failed"
#define LOAM_KEY_HOST_KEYS   "host_keys"   /* vm-status: ["TYPE BASE64"] from the console */
#define LOAM_KEY_TIMED_OUT   "timed_out"   /* vm-wait-ready, watch */
#define LOAM_KEY_WAS_RUNNING "was_running" /* vm-stop */
#define LOAM_KEY_STOPPED_BY  "stopped_by"
#define LOAM_KEY_EXISTED     "existed" /* vm-purge, job-cancel */
#define LOAM_KEY_PURGED	     "purged"

/* ---- jobs and watch ---- */

#define LOAM_KEY_STATE	     "state" /* one of the LOAM_JOB_* below */
#define LOAM_KEY_EXIT_STATUS "exit_status"
#define LOAM_KEY_SIGNAL	     "signal"
#define LOAM_KEY_STDOUT	     "stdout"
#define LOAM_KEY_STDERR	     "stderr"
#define LOAM_KEY_REAPED	     "reaped"
#define LOAM_KEY_EVENTS	     "events" /* watch: [{"vm": ID, "status": {...}} | {"job": NAME, ...}] */
#define LOAM_KEY_VM	     "vm"
#define LOAM_KEY_JOB	     "job"
#define LOAM_KEY_STATUS	     "status"
#define LOAM_JOB_RUNNING     "running"
#define LOAM_JOB_DONE	     "done"
#define LOAM_JOB_LOST	     "lost" /* its monitor is gone without an exit status */
#define LOAM_JOB_ABSENT	     "absent"

/* ---- learn's facts that the control plane stores (DESIGN.md §4) ---- */

#define LOAM_FACT_CPUS		    "cpus"
#define LOAM_FACT_CORES		    "cores"
#define LOAM_FACT_SOCKETS	    "sockets"
#define LOAM_FACT_DIES		    "dies"
#define LOAM_FACT_THREADS_PER_CORE  "threads_per_core"
#define LOAM_FACT_NUMA_NODES	    "numa_nodes"
#define LOAM_FACT_MEMORY_GIB	    "memory_gib"
#define LOAM_FACT_HUGEPAGES_TOTAL   "hugepages_1g_total"
#define LOAM_FACT_HUGEPAGES_FREE    "hugepages_1g_free"
#define LOAM_FACT_STORAGE_TOTAL	    "storage_total_gib"
#define LOAM_FACT_STORAGE_AVAILABLE "storage_available_gib"
#define LOAM_FACT_KVM		    "kvm"
#define LOAM_FACT_CPU_MODEL	    "cpu_model"
#define LOAM_FACT_OS		    "os"
#define LOAM_FACT_JAIL		    "jail" /* the parts of the VM jail this host applies */
/* the parts it cannot, each "part: reason" */
#define LOAM_FACT_JAIL_MISSING "jail_missing"
#define LOAM_FACT_KERNEL       "kernel"
/* Only on a host whose userland runs under a user-mode emulator. */
#define LOAM_FACT_EMULATION	    "emulation"
#define LOAM_FACT_EMULATION_MISSING "emulation_missing"

/* ---- install and uninstall (stdin and answer) ---- */

#define LOAM_KEY_PREFIX	   "prefix"
#define LOAM_KEY_ENTRIES   "entries"
#define LOAM_KEY_RESULTS   "results"
#define LOAM_KEY_COMPONENT "component"
#define LOAM_KEY_VERSION   "version"
#define LOAM_KEY_KIND	   "kind"
#define LOAM_KEY_URL	   "url"
#define LOAM_KEY_SHA256	   "sha256"
#define LOAM_KEY_SIZE	   "size"
#define LOAM_KEY_DEPENDS   "depends" /* Debian packages a bundle needs; in results: */
#define LOAM_KEY_MISSING   "missing" /* {"state", "missing", "error"} of them */
#define LOAM_KEY_PATH	   "path"
#define LOAM_KEY_ERROR	   "error"
#define LOAM_KEY_HOST	   "host"

#endif
