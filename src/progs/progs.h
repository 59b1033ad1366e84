/*
 * The progs loamd runs on the engine (src/engine/engine.h), one file of
 * labelled steps each, and struct loamd_app: the process-wide services
 * their labels reach through ctx->app.
 */
#ifndef LOAM_PROGS_H
#define LOAM_PROGS_H

struct loam_transport_pool;
struct loam_allocator;
struct loam_artifact_manifest;
struct loam_image_index;
struct loam_watch;

struct loamd_app {
	struct loam_transport_pool *pool;
	struct loam_allocator *alloc;  /* may be NULL */
	const char *dist_dir;	       /* agents: <dist_dir>/loam-host-<arch>; NULL: "build/dist" */
	const char *state_dir;	       /* loamd's own state dir */
	const char *artifact_base_url; /* "http://ADDR:PORT/artifacts" hosts download from */
	const struct loam_artifact_manifest *manifest; /* the store's; NULL: install nothing */
	const char *artifact_prefix;		       /* install prefix on hosts; NULL: under
							  the host's state dir */
	const char *artifact_store;	 /* the store's dir: its manifest is read again at each
					    install, as `loam host upgrade` reads it; may be NULL */
	struct loam_image_index *images; /* installed boot images, for the allocator; may be NULL */
	int heartbeat_ms;		 /* host check period; 0: 30000 */
	int command_timeout_ms;		 /* agent commands (learn); 0: 300000 */
	int agent_timeout_ms;		 /* each short agent call of the VM prog; 0: 30000 */
	struct loam_watch *watch;	 /* wakes strands when hosts report; NULL: labels poll */
};

/* Registers every prog with the engine; call once before it starts. */
void loam_progs_register_all(void);

/* The cloudify prog's name; its strand id is the host id. */
#define LOAM_PROG_CLOUDIFY "cloudify"
/* The vm prog's name; its strand id is the VM id. */
#define LOAM_PROG_VM "vm"

/* The signals the vm prog takes (the API raises them); "install" and
 * "upgrade" are the cloudify strand's: the host's served arches changed
 * (install the newest of everything it takes), or `loam host upgrade`
 * marked versions to install (only those). */
#define LOAM_SIGNAL_STOP    "stop"
#define LOAM_SIGNAL_START   "start"
#define LOAM_SIGNAL_REBOOT  "reboot"
#define LOAM_SIGNAL_DESTROY "destroy"
#define LOAM_SIGNAL_INSTALL "install"
/* The VM's open ports or its host's egress changed (docs/network.md). */
#define LOAM_SIGNAL_NET	    "net"
#define LOAM_SIGNAL_UPGRADE "upgrade"

#endif
