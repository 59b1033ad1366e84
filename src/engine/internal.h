/*
 * Shared between the engine's files: the private run state that wraps the
 * public struct loam_strand_ctx, and helpers for the strand row.
 */
#ifndef LOAM_ENGINE_INTERNAL_H
#define LOAM_ENGINE_INTERNAL_H

#include "engine/engine.h"

#define LOAM_DEFAULT_LEASE_MS 30000

/* A frame as stored in strand.stack: {"prog", "label", "state", ...}. */
json_t *loam_frame_new(const char *prog, const char *label, json_t *state);
/* NULL when the label has no deadline. */
struct loam_db_val loam_deadline_val(const char *prog, const char *label, int64_t since);
/* Inserts one strand row with a one-frame stack. */
int loam_strand_insert(struct loam_db *db, const char *id, const char *prog, const char *label,
		       json_t *state, const char *parent_id, int64_t now, loam_err *err);
/* The names of the signals pending on a strand, sorted. */
json_t *loam_strand_signals(struct loam_db *db, const char *id, loam_err *err);
/* Fails with LOAM_E_INVALID unless prog (and label, when given) exist. */
int loam_check_prog_label(const char *prog, const char *label, loam_err *err);
/* Fails unless label `from` declares `to` among its next labels (or
 * declares none). */
int loam_check_next(const struct loam_label *from, const char *prog, const char *to, loam_err *err);
/* Every engine of this process looks for due strands now (loam_strand_wake). */
void loam_engines_wake_all(void);
/* Around each label: how many other workers of this process are idle now. */
int loam_engines_label_begin(void);
void loam_engines_label_end(void);

#endif
