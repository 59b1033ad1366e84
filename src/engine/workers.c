/*
 * The dispatcher's threads. Each worker has its own DB connection (a
 * struct loam_db is never shared) and a lease owner name "<owner>/<n>".
 * One more thread renews the leases of labels still running, so a long
 * label (an upload, a learn under emulation) keeps its strand while a
 * killed process's leases simply run out and other workers take over.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "engine/internal.h"
#include "lib/cleanup.h"
#include "lib/clock.h"
#include "lib/log.h"
#include "lib/xalloc.h"

#define STUCK_SCAN_MS 1000

struct worker {
	struct loam_engine *e;
	pthread_t thread;
	int index;
	char owner[128];
};

struct loam_engine {
	struct loam_engine_opts opts;
	char *db_url, *owner;
	atomic_bool stopping;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	uint64_t wakes; /* under lock: a worker that saw an older count does not sleep */
	struct worker *workers;
	int nworkers;
	pthread_t renewer;
	bool renewer_started;
};

/* The engines running in this process, for loam_strand_wake. */
#define MAX_ENGINES 16
static pthread_mutex_t engines_lock = PTHREAD_MUTEX_INITIALIZER;
static struct loam_engine *engines[MAX_ENGINES];
static atomic_int workers_total, labels_running;

int loam_engines_label_begin(void)
{
	int running = atomic_fetch_add(&labels_running, 1) + 1;
	int idle = atomic_load(&workers_total) - running;
	return idle > 0 ? idle : 0;
}

void loam_engines_label_end(void)
{
	atomic_fetch_sub(&labels_running, 1);
}

static void engines_add(struct loam_engine *e)
{
	pthread_mutex_lock(&engines_lock);
	for (int i = 0; i < MAX_ENGINES; i++)
		if (!engines[i]) {
			engines[i] = e;
			atomic_fetch_add(&workers_total, e->nworkers);
			break;
		}
	pthread_mutex_unlock(&engines_lock);
}

static void engines_remove(struct loam_engine *e)
{
	pthread_mutex_lock(&engines_lock);
	for (int i = 0; i < MAX_ENGINES; i++)
		if (engines[i] == e) {
			engines[i] = NULL;
			atomic_fetch_sub(&workers_total, e->nworkers);
		}
	pthread_mutex_unlock(&engines_lock);
}

void loam_engines_wake_all(void)
{
	pthread_mutex_lock(&engines_lock);
	for (int i = 0; i < MAX_ENGINES; i++)
		if (engines[i])
			loam_engine_wake(engines[i]);
	pthread_mutex_unlock(&engines_lock);
}

static uint64_t wakes_seen(struct loam_engine *e)
{
	pthread_mutex_lock(&e->lock);
	uint64_t n = e->wakes;
	pthread_mutex_unlock(&e->lock);
	return n;
}

/* Sleeps up to ms, or until the engine stops or is woken; a wake that came
 * after `seen` was read (while the caller was busy) is not lost. */
static void idle_since(struct loam_engine *e, int ms, uint64_t seen)
{
	struct timespec until = loam_abstime_in(ms);
	pthread_mutex_lock(&e->lock);
	if (!atomic_load(&e->stopping) && e->wakes == seen)
		pthread_cond_timedwait(&e->wake, &e->lock, &until);
	pthread_mutex_unlock(&e->lock);
}

static void idle(struct loam_engine *e, int ms)
{
	idle_since(e, ms, wakes_seen(e));
}

static struct loam_db *open_until_stopped(struct loam_engine *e, const char *who)
{
	while (!atomic_load(&e->stopping)) {
		struct loam_db *db = NULL;
		cleanup_err loam_err err = NULL;
		if (loam_db_open(e->db_url, &db, &err) == 0)
			return db;
		log_error("%s: open database: %s (retrying)", who, loam_err_msg(err));
		idle(e, 1000);
	}
	return NULL;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct loam_engine *e = w->e;
	struct loam_db *db = open_until_stopped(e, w->owner);
	int64_t next_scan = 0;
	while (db && !atomic_load(&e->stopping)) {
		cleanup_err loam_err err = NULL;
		if (w->index == 0 && loam_db_now_ms() >= next_scan) {
			next_scan = loam_db_now_ms() + STUCK_SCAN_MS;
			if (loam_engine_flag_stuck(db, &err) < 0) {
				log_error("%s: %s", w->owner, loam_err_msg(err));
				loam_err_free(&err);
			}
		}
		uint64_t seen = wakes_seen(e);
		int rc = loam_engine_run_one(db, w->owner, e->opts.lease_ms, e->opts.app, &err);
		if (rc == 1)
			continue;
		if (rc < 0 && loam_err_kind_of(err) == LOAM_E_UNAVAILABLE) {
			/* The connection may be gone (a restarted PostgreSQL):
			 * start afresh rather than fail on it forever. */
			log_error("%s: %s; reconnecting", w->owner, loam_err_msg(err));
			loam_db_close(db);
			db = open_until_stopped(e, w->owner);
			continue;
		}
		if (rc < 0)
			log_error("%s: %s", w->owner, loam_err_msg(err));
		idle_since(e, e->opts.poll_ms, seen);
	}
	loam_db_close(db);
	return NULL;
}

/* Extends every lease this process holds whose label is still running. The
 * token check leaves alone leases that were lost or released meanwhile. */
static void *renewer_main(void *arg)
{
	struct loam_engine *e = arg;
	struct loam_db *db = open_until_stopped(e, e->owner);
	while (db && !atomic_load(&e->stopping)) {
		idle(e, e->opts.lease_ms / 3);
		int64_t now = 0;
		cleanup_err loam_err err = NULL;
		/* The database's clock, as the lease was taken with. */
		if (loam_db_clock_ms(db, &now, &err) < 0) {
			log_warn("%s: renew leases: %s", e->owner, loam_err_msg(err));
			continue;
		}
		for (int i = 0; i < e->nworkers && !atomic_load(&e->stopping); i++) {
			if (loam_db_exec(
				db,
				"UPDATE strand SET lease_expires_at = ? WHERE lease_owner = ? "
				"AND lease_token IS NOT NULL AND lease_expires_at >= ?",
				DB_ARGS(DB_INT(now + e->opts.lease_ms),
					DB_TEXT(e->workers[i].owner), DB_INT(now)),
				NULL, &err) < 0) {
				log_warn("%s: renew leases: %s", e->owner, loam_err_msg(err));
				loam_err_free(&err);
			}
		}
	}
	loam_db_close(db);
	return NULL;
}

static void engine_free(struct loam_engine *e)
{
	pthread_mutex_destroy(&e->lock);
	pthread_cond_destroy(&e->wake);
	free(e->workers);
	free(e->db_url);
	free(e->owner);
	free(e);
}

int loam_engine_start(const struct loam_engine_opts *opts, struct loam_engine **out, loam_err *err)
{
	if (!opts->owner || !*opts->owner)
		return loam_fail(err, LOAM_E_INVALID, "engine: a lease owner name is required");
	struct loam_engine *e = xcalloc(1, sizeof(*e));
	e->opts = *opts;
	e->db_url = xstrdup(opts->db_url);
	e->owner = xstrdup(opts->owner);
	e->opts.db_url = e->db_url;
	e->opts.owner = e->owner;
	if (e->opts.workers <= 0)
		e->opts.workers = 2;
	if (e->opts.lease_ms <= 0)
		e->opts.lease_ms = LOAM_DEFAULT_LEASE_MS;
	if (e->opts.poll_ms <= 0)
		e->opts.poll_ms = 200;
	pthread_mutex_init(&e->lock, NULL);
	pthread_cond_init(&e->wake, NULL);
	e->workers = xcalloc((size_t)e->opts.workers, sizeof(*e->workers));
	for (int i = 0; i < e->opts.workers; i++) {
		struct worker *w = &e->workers[i];
		*w = (struct worker){.e = e, .index = i};
		snprintf(w->owner, sizeof(w->owner), "%s/%d", e->owner, i);
	}
	for (int i = 0; i < e->opts.workers; i++) {
		if (pthread_create(&e->workers[i].thread, NULL, worker_main, &e->workers[i]) != 0) {
			e->nworkers = i;
			loam_engine_stop(e);
			return loam_fail(err, LOAM_E_INTERNAL,
					 "engine: cannot start worker threads");
		}
		e->nworkers = i + 1;
	}
	e->renewer_started = pthread_create(&e->renewer, NULL, renewer_main, e) == 0;
	engines_add(e);
	log_info("engine %s: %d workers, lease %d ms", e->owner, e->nworkers, e->opts.lease_ms);
	*out = e;
	return 0;
}

void loam_engine_stop(struct loam_engine *e)
{
	if (!e)
		return;
	engines_remove(e);
	pthread_mutex_lock(&e->lock);
	atomic_store(&e->stopping, true);
	pthread_cond_broadcast(&e->wake);
	pthread_mutex_unlock(&e->lock);
	for (int i = 0; i < e->nworkers; i++)
		pthread_join(e->workers[i].thread, NULL);
	if (e->renewer_started)
		pthread_join(e->renewer, NULL);
	engine_free(e);
}

void loam_engine_wake(struct loam_engine *e)
{
	pthread_mutex_lock(&e->lock);
	e->wakes++;
	pthread_cond_broadcast(&e->wake);
	pthread_mutex_unlock(&e->lock);
}
