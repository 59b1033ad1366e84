/*
 * The watch on loamd's database file (issue 16): a thread that checks
 * every interval that the SQLite file at the database's path is still the
 * one loamd opened. A file deleted or replaced under a running loamd would
 * otherwise split the state silently: the open connections keep writing to
 * the old inode while anything opened later sees another file (or, were it
 * allowed, a new empty one). On the first mismatch the thread hands the
 * reason to `lost`, which stops loamd. The API checks the same on every
 * connection it takes from its pool, so requests stop at once; this thread
 * covers a loamd that serves no request.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "lib/clock.h"
#include "lib/xalloc.h"
#include "loamd/loamd.h"

struct loamd_dbwatch {
	pthread_t thread;
	struct loam_db *db;
	int interval_ms;
	void (*lost)(const char *why);
	atomic_bool stop;
};

static void *watch_main(void *arg)
{
	struct loamd_dbwatch *w = arg;
	while (!atomic_load(&w->stop)) {
		loam_err err = NULL;
		if (loam_db_check_file(w->db, &err) < 0) {
			w->lost(loam_err_msg(err));
			loam_err_free(&err);
			return NULL;
		}
		for (int slept = 0; slept < w->interval_ms && !atomic_load(&w->stop); slept += 50)
			loam_sleep_ms(50);
	}
	return NULL;
}

int loamd_dbwatch_start(struct loam_db *db, int interval_ms, void (*lost)(const char *why),
			struct loamd_dbwatch **out, loam_err *err)
{
	*out = NULL;
	if (loam_db_backend_of(db) != LOAM_DB_SQLITE)
		return 0;
	struct loamd_dbwatch *w = xcalloc(1, sizeof(*w));
	w->db = db;
	w->interval_ms = interval_ms;
	w->lost = lost;
	if (pthread_create(&w->thread, NULL, watch_main, w) != 0) {
		free(w);
		return loam_fail(err, LOAM_E_INTERNAL, "start the database file watch");
	}
	*out = w;
	return 0;
}

void loamd_dbwatch_stop(struct loamd_dbwatch *w)
{
	if (!w)
		return;
	atomic_store(&w->stop, true);
	pthread_join(w->thread, NULL);
	free(w);
}
