/*
 * The host watcher (watch.h). One thread per host with something to
 * watch: it long-polls the agent's `watch` with everything registered for
 * that host (slices of WATCH_SLICE_MS, so that what is registered during a
 * poll joins the next one soon), and for each event it wakes the strand
 * that waits on it. A thread with nothing to watch for a while ends; the
 * next registration starts one again. Wakes go through one DB connection
 * of the watcher's own.
 */
#include "progs/watch.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "db/db.h"
#include "engine/engine.h"
#include "lib/cleanup.h"
#include "lib/clock.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "progs/hostops.h"
#include "progs/progs.h"

#define WATCH_SLICE_MS	    500
#define WATCH_IDLE_MS	    10000
#define WATCH_ERROR_MS	    1000
#define WATCH_MAX_HOSTS	    1024
#define WATCH_ITEMS_MAX	    64
#define WATCH_ITEM_TTL_MS   (30LL * 60 * 1000)
#define WATCH_RESULT_TTL_MS 60000

struct item {
	bool job;
	char name[64], strand[27];
	int64_t added_at;
	struct item *next;
};

struct result {
	char strand[27];
	struct loam_vm_status status;
	int64_t at;
	struct result *next;
};

struct host {
	struct loam_watch *w;
	char id[27];
	struct item *items;
	pthread_t thread;
	bool started, running;
	pthread_cond_t cond;
};

struct loam_watch {
	struct loamd_app *app;
	char *db_url;
	pthread_mutex_t lock; /* hosts, items, results, stopping */
	struct host *hosts[WATCH_MAX_HOSTS];
	size_t nhosts;
	struct result *results;
	bool stopping;
	pthread_mutex_t db_lock;
	struct loam_db *db;
};

int loam_watch_new(struct loamd_app *app, const char *db_url, struct loam_watch **out,
		   loam_err *err)
{
	struct loam_watch *w = xcalloc(1, sizeof(*w));
	w->app = app;
	w->db_url = xstrdup(db_url);
	pthread_mutex_init(&w->lock, NULL);
	pthread_mutex_init(&w->db_lock, NULL);
	if (loam_db_open(db_url, &w->db, err) < 0) {
		loam_watch_free(w);
		return loam_err_wrap(err, "host watcher");
	}
	*out = w;
	return 0;
}

static void result_free(struct result *r)
{
	loam_vm_status_free(&r->status);
	free(r);
}

void loam_watch_free(struct loam_watch *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	w->stopping = true;
	for (size_t i = 0; i < w->nhosts; i++)
		pthread_cond_broadcast(&w->hosts[i]->cond);
	pthread_mutex_unlock(&w->lock);
	for (size_t i = 0; i < w->nhosts; i++) {
		struct host *h = w->hosts[i];
		if (h->started)
			pthread_join(h->thread, NULL);
		for (struct item *it = h->items, *next; it; it = next) {
			next = it->next;
			free(it);
		}
		pthread_cond_destroy(&h->cond);
		free(h);
	}
	for (struct result *r = w->results, *next; r; r = next) {
		next = r->next;
		result_free(r);
	}
	loam_db_close(w->db);
	pthread_mutex_destroy(&w->lock);
	pthread_mutex_destroy(&w->db_lock);
	free(w->db_url);
	free(w);
}

/* ---- one host's thread ---- */

/* Waits on the host's condition for up to ms; false once stopping. */
static bool host_sleep(struct host *h, int ms)
{
	struct timespec until = loam_abstime_in(ms);
	if (!h->w->stopping)
		pthread_cond_timedwait(&h->cond, &h->w->lock, &until);
	return !h->w->stopping;
}

/* What to ask the agent about, from the registered items (under lock). */
static size_t snapshot(struct host *h, struct loam_watch_item *items, char names[][64])
{
	size_t n = 0;
	int64_t now = loam_db_now_ms();
	for (struct item **p = &h->items; *p;) {
		struct item *it = *p;
		if (now - it->added_at > WATCH_ITEM_TTL_MS) { /* its strand moved on long ago */
			*p = it->next;
			free(it);
			continue;
		}
		bool dup = false;
		for (size_t i = 0; i < n && !dup; i++)
			dup = items[i].job == it->job && strcmp(names[i], it->name) == 0;
		if (!dup && n < WATCH_ITEMS_MAX) {
			memcpy(names[n], it->name, sizeof(names[n]));
			items[n] = (struct loam_watch_item){.job = it->job, .name = names[n]};
			n++;
		}
		p = &it->next;
	}
	return n;
}

/* One long poll of the host's agent; the lock is not held meanwhile. */
static int poll_host(struct host *h, const struct loam_watch_item *items, size_t n,
		     struct loam_watch_event **events, size_t *nevents, loam_err *err)
{
	struct loam_watch *w = h->w;
	cleanup_host_row struct loam_host_row row = {0};
	pthread_mutex_lock(&w->db_lock);
	int rc = loam_host_row_load(w->db, h->id, &row, err);
	pthread_mutex_unlock(&w->db_lock);
	if (rc < 0)
		return -1;
	if (!row.agent_path || (!row.host_key && strcmp(row.transport, "local") != 0))
		return loam_fail(err, LOAM_E_CONFLICT, "host %s is not ready to watch", row.name);
	struct loam_strand_ctx ctx = {.app = w->app}; /* the key is pinned: no DB write */
	cleanup_host_conn struct loam_host_conn c = {0};
	if (loam_host_connect(&ctx, &row, &c, err) < 0)
		return -1;
	struct loam_agent a = {.t = c.t, .path = row.agent_path, .state_dir = row.state_dir};
	return loam_agent_watch(&a, items, n, WATCH_SLICE_MS, events, nevents, err);
}

static void keep_result(struct loam_watch *w, const char *strand, struct loam_vm_status *st)
{
	struct result *r = xcalloc(1, sizeof(*r));
	memcpy(r->strand, strand, sizeof(r->strand));
	r->status = *st;
	*st = (struct loam_vm_status){0};
	r->at = loam_db_now_ms();
	r->next = w->results;
	w->results = r;
}

/* Takes the items an event settles (under lock); returns how many strands
 * it put into wake (room for WATCH_ITEMS_MAX). An item registered after
 * the poll began waits for the next poll: what this one saw may be older
 * than the item (a VM stopped, then started again). */
static size_t settle(struct host *h, struct loam_watch_event *e, int64_t polled_at, char wake[][27],
		     size_t nwake)
{
	for (struct item **p = &h->items; *p;) {
		struct item *it = *p;
		if (it->job != e->job || strcmp(it->name, e->name) != 0 ||
		    it->added_at > polled_at) {
			p = &it->next;
			continue;
		}
		*p = it->next;
		if (!e->job) {
			struct loam_vm_status copy;
			loam_vm_status_copy(&e->vm, &copy);
			keep_result(h->w, it->strand, &copy);
		}
		if (nwake < WATCH_ITEMS_MAX)
			memcpy(wake[nwake++], it->strand, 27);
		free(it);
	}
	return nwake;
}

static void wake_all(struct loam_watch *w, char wake[][27], size_t n)
{
	pthread_mutex_lock(&w->db_lock);
	for (size_t i = 0; i < n; i++) {
		cleanup_err loam_err err = NULL;
		if (loam_strand_wake(w->db, wake[i], &err) < 0)
			log_warn("host watcher: wake %s: %s", wake[i], loam_err_msg(err));
	}
	pthread_mutex_unlock(&w->db_lock);
}

/* One round: poll, settle, wake. Called and returns with the lock held. */
static void watch_round(struct host *h, const struct loam_watch_item *items, size_t n)
{
	struct loam_watch *w = h->w;
	int64_t polled_at = loam_db_now_ms();
	pthread_mutex_unlock(&w->lock);
	struct loam_watch_event *events = NULL;
	size_t nevents = 0;
	cleanup_err loam_err err = NULL;
	int rc = poll_host(h, items, n, &events, &nevents, &err);
	pthread_mutex_lock(&w->lock);
	if (rc < 0) {
		log_warn("host watcher: %s (the waiting labels poll meanwhile)", loam_err_msg(err));
		host_sleep(h, WATCH_ERROR_MS);
		return;
	}
	char wake[WATCH_ITEMS_MAX][27];
	size_t nwake = 0;
	for (size_t i = 0; i < nevents; i++)
		nwake = settle(h, &events[i], polled_at, wake, nwake);
	loam_watch_events_free(events, nevents);
	pthread_mutex_unlock(&w->lock);
	wake_all(w, wake, nwake);
	pthread_mutex_lock(&w->lock);
}

static void *host_main(void *arg)
{
	struct host *h = arg;
	struct loam_watch *w = h->w;
	struct loam_watch_item items[WATCH_ITEMS_MAX];
	char names[WATCH_ITEMS_MAX][64];
	pthread_mutex_lock(&w->lock);
	while (!w->stopping) {
		size_t n = snapshot(h, items, names);
		if (n == 0 && (!host_sleep(h, WATCH_IDLE_MS) || !h->items))
			break;
		if (n > 0)
			watch_round(h, items, n);
	}
	h->running = false;
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

/* ---- registering ---- */

static struct host *host_of(struct loam_watch *w, const char *host_id)
{
	for (size_t i = 0; i < w->nhosts; i++)
		if (strcmp(w->hosts[i]->id, host_id) == 0)
			return w->hosts[i];
	if (w->nhosts == WATCH_MAX_HOSTS)
		return NULL;
	struct host *h = xcalloc(1, sizeof(*h));
	h->w = w;
	snprintf(h->id, sizeof(h->id), "%s", host_id);
	pthread_cond_init(&h->cond, NULL);
	w->hosts[w->nhosts++] = h;
	return h;
}

/* Starts the host's thread unless it runs (under lock). */
static void ensure_thread(struct host *h)
{
	if (h->running)
		return;
	if (h->started)
		pthread_join(h->thread, NULL); /* it has ended (running is false) */
	h->started = h->running = pthread_create(&h->thread, NULL, host_main, h) == 0;
	if (!h->started)
		log_warn("host watcher: no thread for host %s; its labels poll", h->id);
}

/* The item already registered for the same thing and strand, or NULL. */
static struct item *find_item(struct host *h, bool job, const char *name, const char *strand)
{
	for (struct item *it = h->items; it; it = it->next)
		if (it->job == job && strcmp(it->name, name) == 0 &&
		    strcmp(it->strand, strand) == 0)
			return it;
	return NULL;
}

static void add(struct loam_watch *w, const char *host_id, bool job, const char *name,
		const char *strand)
{
	pthread_mutex_lock(&w->lock);
	struct host *h = w->stopping ? NULL : host_of(w, host_id);
	struct item *known = h ? find_item(h, job, name, strand) : NULL;
	if (known)
		known->added_at = loam_db_now_ms();
	if (h && !known) {
		struct item *it = xcalloc(1, sizeof(*it));
		*it = (struct item){.job = job, .added_at = loam_db_now_ms(), .next = h->items};
		snprintf(it->name, sizeof(it->name), "%s", name);
		snprintf(it->strand, sizeof(it->strand), "%s", strand);
		h->items = it;
		ensure_thread(h);
		pthread_cond_broadcast(&h->cond);
	}
	pthread_mutex_unlock(&w->lock);
}

void loam_watch_vm(struct loam_watch *w, const char *host_id, const char *vm_id,
		   const char *strand_id)
{
	add(w, host_id, false, vm_id, strand_id);
}

void loam_watch_job(struct loam_watch *w, const char *host_id, const char *job,
		    const char *strand_id)
{
	add(w, host_id, true, job, strand_id);
}

bool loam_watch_take(struct loam_watch *w, const char *strand_id, struct loam_vm_status *out)
{
	bool found = false;
	int64_t now = loam_db_now_ms();
	pthread_mutex_lock(&w->lock);
	for (struct result **p = &w->results; *p;) {
		struct result *r = *p;
		bool mine = !found && strcmp(r->strand, strand_id) == 0;
		if (!mine && now - r->at <= WATCH_RESULT_TTL_MS) {
			p = &r->next;
			continue;
		}
		*p = r->next;
		if (mine) {
			*out = r->status;
			r->status = (struct loam_vm_status){0};
			found = true;
		}
		result_free(r);
	}
	pthread_mutex_unlock(&w->lock);
	return found;
}

void loam_watch_forget(struct loam_watch *w, const char *strand_id)
{
	struct loam_vm_status dropped = {0};
	while (loam_watch_take(w, strand_id, &dropped))
		loam_vm_status_free(&dropped);
	pthread_mutex_lock(&w->lock);
	for (size_t i = 0; i < w->nhosts; i++)
		for (struct item **p = &w->hosts[i]->items; *p;) {
			struct item *it = *p;
			if (strcmp(it->strand, strand_id) != 0) {
				p = &it->next;
				continue;
			}
			*p = it->next;
			free(it);
		}
	pthread_mutex_unlock(&w->lock);
}
