/*
 * The host watcher: what lets a label that waits on a host nap instead of
 * holding a worker, and still go on within tens of milliseconds. A label
 * names what it waits for (a VM's boot, a detached job's end) and naps;
 * one thread per host with something to watch, outside the engine's
 * worker pool, long-polls the agent's `watch` verb and, on an event, wakes
 * the waiting strand (loam_strand_wake). A VM's status from the event is
 * kept for its label, which then needs no agent call of its own.
 *
 * Nothing here is durable: after a restart the labels run again at the end
 * of their nap and register anew, so a lost event only costs that nap.
 */
#ifndef LOAM_PROGS_WATCH_H
#define LOAM_PROGS_WATCH_H

#include <stdbool.h>

#include "lib/err.h"
#include "proto/client.h"

struct loamd_app;
struct loam_watch;

/* Its own DB connection to db_url (for the wakes); hosts are reached
 * through app's transport pool. */
int loam_watch_new(struct loamd_app *app, const char *db_url, struct loam_watch **out,
		   loam_err *err);
/* Stops the threads (each within one long poll); call before the pool goes. */
void loam_watch_free(struct loam_watch *w);

/* Wakes strand_id once VM vm_id on host_id has booted or lost its QEMU. */
void loam_watch_vm(struct loam_watch *w, const char *host_id, const char *vm_id,
		   const char *strand_id);
/* Wakes strand_id once job `job` on host_id has ended. */
void loam_watch_job(struct loam_watch *w, const char *host_id, const char *job,
		    const char *strand_id);
/* The VM status the watcher saw for strand_id, handed over once. */
bool loam_watch_take(struct loam_watch *w, const char *strand_id, struct loam_vm_status *out);
/* Drops what is watched and kept for strand_id (a VM about to boot anew). */
void loam_watch_forget(struct loam_watch *w, const char *strand_id);

#endif
