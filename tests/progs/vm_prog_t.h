/*
 * The VM prog's test bench: a fresh migrated SQLite database, hosts on the
 * local transport whose agent is the scripted one (tests/progs/
 * scripted_agent.c, scripted per host through DIR/script.json), the real
 * allocator, the real engine stepped one label at a time, and (when asked)
 * the real host watcher. Helpers read what the prog did: the VM row, its
 * strand, and the agent's call log.
 */
#ifndef LOAM_TESTS_VM_PROG_T_H
#define LOAM_TESTS_VM_PROG_T_H

#include <stdbool.h>

#include "db/db.h"
#include "progs/progs.h"

struct fx {
	struct loam_db *db;
	char *url;
	char dir[128];
	struct loamd_app app;
};

/* A fresh bench; with_watch starts the host watcher. */
void fx_open(struct fx *f, const char *tag, bool with_watch);
void fx_close(struct fx *f);

/* An accepting x64 host `name` (its id is the name) with 8 cores (SMT 2),
 * 64 GiB, TCG allowed, an x64 image and firmware installed (db/vm_sim.h);
 * script is its script.json. */
void fx_host(struct fx *f, const char *name, const char *script);
/* Rewrites the host's script.json. */
void fx_script(struct fx *f, const char *host, const char *script);
/* A host column, as the host table stores it. */
void fx_host_set(struct fx *f, const char *host, const char *col, const char *value);

/* A VM row and its strand, as the API makes them; boot is "firmware" or
 * "kernel". Returns its id (the caller frees). */
char *fx_vm(struct fx *f, const char *name, const char *arch, const char *boot);
void fx_signal(struct fx *f, const char *id, const char *signal);
/* Makes the strand due now (skips a nap or a failure's backoff). */
void fx_due(struct fx *f, const char *id);

/* Runs one due label (true when one ran). */
bool fx_step(struct fx *f);
/* Steps (making this strand due when nothing is) until the strand sits
 * at label; false after max steps. */
bool fx_until_label(struct fx *f, const char *id, const char *label, int max);
/* Runs due labels (and waits for naps, up to ms) until the VM's state is
 * state; false when it is not by then. */
bool fx_until_state(struct fx *f, const char *id, const char *state, int ms);

/* The VM's state ("(none)" when the row is gone), reason, the strand's
 * label, tries, last_error and done flag; text results are the caller's. */
char *fx_state(struct fx *f, const char *id);
char *fx_reason(struct fx *f, const char *id);
char *fx_label(struct fx *f, const char *id);
char *fx_last_error(struct fx *f, const char *id);
char *fx_frame(struct fx *f, const char *id, const char *key);
int fx_tries(struct fx *f, const char *id);
bool fx_done(struct fx *f, const char *id);
long long fx_int(struct fx *f, const char *sql, const char *arg);
/* How often the host's agent was called with "VERB[ ARG]". */
int fx_calls(struct fx *f, const char *host, const char *verb, const char *arg);
/* The last vm-prep spec the host's agent got for the VM (freed by caller). */
char *fx_spec(struct fx *f, const char *host, const char *id);

#endif
