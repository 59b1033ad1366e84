/*
 * The API's read-only view of strands (the prog engine's durable state
 * machines, src/engine/): what `GET /v1/strands` and a host's `strand`
 * show, without the stack or the lease token. The engine itself reads and
 * writes strands through its own queries; this is only for watching them.
 */
#ifndef LOAM_DB_STRAND_VIEW_H
#define LOAM_DB_STRAND_VIEW_H

#include <stdbool.h>
#include <stdint.h>

#include "db/db.h"
#include "lib/err.h"

struct loam_strand_view {
	char *id, *prog, *label;
	bool done, stuck;
	int64_t tries;
	char *last_error;	  /* NULL: none */
	int64_t schedule;	  /* due at (unix ms) */
	char *lease_owner;	  /* NULL: not leased */
	int64_t lease_expires_at; /* when has_lease_expiry */
	bool has_lease_expiry;
	char *parent_id; /* NULL: not budded */
	char *exitval;	 /* JSON text once done, else NULL */
	int64_t created_at, updated_at;
};

void loam_strand_view_free(struct loam_strand_view *s);

struct loam_strand_views {
	struct loam_strand_view *v;
	size_t n;
};

void loam_strand_views_free(struct loam_strand_views *l);
#define cleanup_strand_views __attribute__((cleanup(loam_strand_views_free)))

/* 1 with *out filled, 0 when there is no such strand. */
int loam_strand_view_get(struct loam_db *db, const char *id, struct loam_strand_view *out,
			 loam_err *err);
/* Strands by id (ids sort by creation time), a page of them (page->after:
 * an id; NULL page: all). */
int loam_strand_view_list(struct loam_db *db, const struct loam_db_page *page,
			  struct loam_strand_views *out, loam_err *err);
/* Whether the strand exists and has not finished. */
int loam_strand_is_live(struct loam_db *db, const char *id, bool *live, loam_err *err);

/* For the other model files of src/db that join strands into their rows:
 * the view's columns of the strand aliased `s`, and reading them back from
 * column `first` on. */
#define LOAM_STRAND_VIEW_COLS                                                                      \
	"s.id, s.prog, s.label, s.done, s.tries, s.last_error, s.stuck, s.schedule, "              \
	"s.lease_owner, s.lease_expires_at, s.parent_id, s.exitval, s.created_at, s.updated_at"
#define LOAM_STRAND_VIEW_NCOLS 14
void loam_strand_view_read(const struct loam_db_rows *rows, size_t row, size_t first,
			   struct loam_strand_view *out);

#endif
