/*
 * See stats.h: two GROUP BY queries, read into one shape.
 */
#include "db/stats.h"

#include <stdlib.h>

#include "lib/cleanup.h"
#include "lib/xalloc.h"

void loam_stats_free(struct loam_stats *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->v[i].a);
		free(s->v[i].b);
	}
	free(s->v);
	*s = (struct loam_stats){0};
}

static int grouped(struct loam_db *db, const char *sql, struct loam_stats *out, loam_err *err)
{
	cleanup_rows struct loam_db_rows *rows = NULL;
	if (loam_db_query(db, sql, DB_NOARGS, &rows, err) < 0)
		return -1;
	size_t n = loam_db_rows_count(rows);
	out->v = xcalloc(n ? n : 1, sizeof(*out->v));
	out->n = n;
	for (size_t i = 0; i < n; i++)
		out->v[i] = (struct loam_stat){.a = loam_db_rows_dup(rows, i, 0),
					       .b = loam_db_rows_dup(rows, i, 1),
					       .n = loam_db_rows_int(rows, i, 2)};
	return 0;
}

int loam_stats_vms(struct loam_db *db, struct loam_stats *out, loam_err *err)
{
	return grouped(db, "SELECT state, arch, COUNT(*) FROM vm GROUP BY state, arch", out, err);
}

int loam_stats_strands(struct loam_db *db, struct loam_stats *out, loam_err *err)
{
	return grouped(db,
		       "SELECT prog, label, COUNT(*) FROM strand WHERE done = 0 GROUP BY prog, "
		       "label",
		       out, err);
}
