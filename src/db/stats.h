/*
 * Counts for loamd's /metrics (src/api/metrics.c), grouped in SQL so that a
 * scrape costs one small query each however many VMs and strands there
 * are: VMs by state and arch, and unfinished strands by prog and label.
 */
#ifndef LOAM_DB_STATS_H
#define LOAM_DB_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "db/db.h"
#include "lib/err.h"

/* One group: its two key values and how many rows it has. */
struct loam_stat {
	char *a, *b;
	int64_t n;
};

struct loam_stats {
	struct loam_stat *v;
	size_t n;
};

void loam_stats_free(struct loam_stats *s);
#define cleanup_stats __attribute__((cleanup(loam_stats_free)))

/* a = state, b = arch. */
int loam_stats_vms(struct loam_db *db, struct loam_stats *out, loam_err *err);
/* Strands that are not done: a = prog, b = label. */
int loam_stats_strands(struct loam_db *db, struct loam_stats *out, loam_err *err);

#endif
