/*
 * The prog engine: durable state machines after Ubicloud's progs. A strand
 * is a row (prog, label, stack of JSON frames, schedule, lease). The
 * dispatcher leases due strands, runs the label's function, and applies its
 * outcome (hop, nap, push, pop, bud) in one transaction, so a crash at any
 * point resumes at the last applied label. Labels must be idempotent.
 */
#ifndef LOAM_ENGINE_H
#define LOAM_ENGINE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "db/db.h"
#include "lib/err.h"

struct loam_strand_ctx {
	struct loam_db *db;
	const char *id;	    /* strand id */
	const char *prog;   /* current frame's prog */
	const char *label;  /* current label */
	json_t *frame;	    /* current frame's state; mutations are saved with the outcome */
	json_t *child_exit; /* after a push: the child's pop value; after bud: array of them */
	int tries;	    /* failed attempts of this label so far */
	void *app;	    /* process-wide services (struct loamd_app in loamd) */
	const char *owner;  /* lease owner running this label ("<owner>/<worker>") */
	void *subject;	    /* what the prog's before hook loaded (freed by the engine) */
	int idle_workers;   /* other workers of this process idle as the label began (0
			       outside an engine): a label may then wait a little longer on
			       a host without keeping any work waiting */
};

enum loam_outcome_kind { LOAM_OUT_HOP, LOAM_OUT_NAP, LOAM_OUT_PUSH, LOAM_OUT_POP, LOAM_OUT_BUD };

struct loam_outcome {
	enum loam_outcome_kind kind;
	const char *label;	/* HOP: next label; PUSH/BUD: label to resume at */
	int nap_ms;		/* NAP */
	const char *child_prog; /* PUSH: prog run on this strand's stack */
	json_t *child_frame;	/* PUSH/BUD: initial state (stolen) */
	json_t *pop_value;	/* POP: value handed to the parent (stolen) */
	json_t *buds;		/* BUD: array of {"prog":..,"frame":{..}} (stolen) */
};

struct loam_outcome loam_hop(const char *label);
struct loam_outcome loam_nap(int ms);
struct loam_outcome loam_push(const char *prog, json_t *frame, const char *resume_label);
struct loam_outcome loam_pop(json_t *value);
struct loam_outcome loam_bud(json_t *buds, const char *resume_label);

/* A label returns 0 and fills *out, or -1 with *err: the failure is
 * recorded on the strand and the label retried with exponential backoff. */
typedef int (*loam_label_fn)(struct loam_strand_ctx *ctx, struct loam_outcome *out, loam_err *err);

struct loam_label {
	const char *name;
	loam_label_fn fn;
	int deadline_s; /* flag the strand as stuck after this long here; 0: none */
	/* The labels this one may hop to (or push/bud and resume at), NULL-
	 * terminated; an outcome naming another fails the label. NULL: any
	 * (test progs); every prog loamd runs declares them, and a test checks
	 * that each names a label of the prog (loam_engine_check_prog). */
	const char *const *next;
};
#define LOAM_NEXT(...) ((const char *const[]){__VA_ARGS__, NULL})
#define LOAM_NEXT_NONE ((const char *const[]){NULL})

/*
 * Runs before every label of the prog, once per run: loads the subject
 * (ctx->subject, freed with subject_free after the label) and takes what
 * every label would otherwise repeat (a destroy signal, a row that has
 * gone). Returns 0 to run the label, 1 when it set *out itself (the label
 * does not run), -1 with *err as a label's failure.
 */
typedef int (*loam_before_fn)(struct loam_strand_ctx *ctx, struct loam_outcome *out, loam_err *err);

struct loam_prog {
	const char *name;
	const struct loam_label *labels; /* NULL-terminated by name; [0] is the start */
	loam_before_fn before;		 /* may be NULL */
	void (*subject_free)(void *subject);
};

/* Progs register once at start-up (before any engine runs). */
void loam_engine_register(const struct loam_prog *prog);

/* Creates a strand at the prog's first label, or at `label`. Works inside a
 * caller's transaction; with `id` non-NULL the id is chosen by the caller
 * (so that a strand can share its id with the row it manages). `frame` is
 * borrowed (NULL: {}); out_id may be NULL. */
int loam_strand_create(struct loam_db *db, const char *prog, const char *label, json_t *frame,
		       const char *id, char out_id[27], loam_err *err);
/* Raises a named signal ("stop", "destroy") and makes the strand due now. */
int loam_strand_signal(struct loam_db *db, const char *strand_id, const char *signal,
		       loam_err *err);
/* Inside a label: true (and clears it) if the signal was raised. */
bool loam_strand_take_signal(struct loam_strand_ctx *ctx, const char *signal);
/*
 * Makes the strand due now, also while its label runs: the nap that label
 * ends with is then cut short. Idle workers of this process look at once.
 * For watchers that learn of an event a napping label waits for; a strand
 * that is done or gone is left alone.
 */
int loam_strand_wake(struct loam_db *db, const char *strand_id, loam_err *err);
/* *live: the strand exists and is not done. */
int loam_strand_live(struct loam_db *db, const char *strand_id, bool *live, loam_err *err);

struct loam_engine;
struct loam_engine_opts {
	const char *db_url;
	const char *owner; /* lease owner name, unique per process */
	int workers;	   /* dispatcher threads, each with its own DB connection */
	int lease_ms;	   /* default 30000 */
	void *app;
	int poll_ms; /* idle workers look for due strands this often; default 200 */
};
int loam_engine_start(const struct loam_engine_opts *opts, struct loam_engine **out, loam_err *err);
void loam_engine_stop(struct loam_engine *e); /* waits for running labels */
/* Makes idle workers look for due strands now (e.g. after the API created
 * one) instead of at their next poll. */
void loam_engine_wake(struct loam_engine *e);
/* Runs due strands until none is due (tests). Returns how many ran. */
int loam_engine_run_due(struct loam_db *db, const char *owner, void *app, loam_err *err);

/* Takes at most one due strand under a lease of lease_ms, runs its label
 * and applies the outcome. Returns 1 if one ran, 0 if none was due. */
int loam_engine_run_one(struct loam_db *db, const char *owner, int lease_ms, void *app,
			loam_err *err);

/* Flags strands whose current label outlived its deadline_s (column
 * `stuck`, plus a warning in the log). Returns how many were flagged. */
int loam_engine_flag_stuck(struct loam_db *db, loam_err *err);

/* Status for the API: with id, one object (LOAM_E_NOTFOUND if none); with
 * NULL, an array of every strand. Keys: id, prog, label, depth, schedule,
 * lease_owner, lease_expires_at, parent_id, done, exitval, tries,
 * last_error, label_since, deadline_at, stuck, signals, created_at,
 * updated_at. */
int loam_strand_status_json(struct loam_db *db, const char *id, json_t **out, loam_err *err);

/* Retry delay after the n-th failure of a label: 1 s doubling to 60 s. */
int64_t loam_engine_backoff_ms(int tries);

/* The registered prog of that name, or NULL. */
const struct loam_prog *loam_engine_find_prog(const char *name);
const struct loam_label *loam_engine_find_label(const struct loam_prog *prog, const char *name);
/* The i-th registered prog, or NULL past the last. */
const struct loam_prog *loam_engine_prog_at(int i);
/* Fails unless every label declares its next labels and each names a label
 * of the prog. */
int loam_engine_check_prog(const struct loam_prog *prog, loam_err *err);

#endif
