/*
 * Creates of VMs and hosts per token (issue 16): a token bucket per token,
 * in this loamd's memory, of `burst` creates refilled at `per_s` a second.
 * A create over it is refused with 429 and the seconds until the bucket
 * holds one again (Retry-After). Buckets idle for long are dropped, so the
 * table stays as small as the set of tokens in use.
 */
#include "api/internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lib/clock.h"
#include "lib/xalloc.h"

#define BUCKETS_MAX 4096

struct bucket {
	char key[32];
	double level;
	int64_t at_ms; /* when level was last brought up to date */
};

struct api_limiter {
	pthread_mutex_t mu;
	double per_s, burst;
	struct bucket *v;
	size_t n;
};

struct api_limiter *api_limiter_new(double per_s, unsigned burst)
{
	struct api_limiter *l = xcalloc(1, sizeof(*l));
	pthread_mutex_init(&l->mu, NULL);
	l->per_s = per_s;
	l->burst = burst;
	l->v = xcalloc(BUCKETS_MAX, sizeof(*l->v));
	return l;
}

void api_limiter_free(struct api_limiter *l)
{
	if (!l)
		return;
	pthread_mutex_destroy(&l->mu);
	free(l->v);
	free(l);
}

static void refill(struct api_limiter *l, struct bucket *b, int64_t now)
{
	b->level = fmin(l->burst, b->level + (double)(now - b->at_ms) * l->per_s / 1000.0);
	b->at_ms = now;
}

/* The key's bucket; a full one (unused for a while) makes room when the
 * table is full, as a full bucket is what a new one starts as. */
static struct bucket *bucket_of(struct api_limiter *l, const char *key, int64_t now)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i].key, key) == 0)
			return &l->v[i];
	size_t slot = l->n;
	for (size_t i = 0; slot == BUCKETS_MAX && i < l->n; i++) {
		refill(l, &l->v[i], now);
		if (l->v[i].level >= l->burst)
			slot = i;
	}
	if (slot == BUCKETS_MAX)
		slot = 0; /* every token is busy: the first one's bucket starts over */
	else if (slot == l->n)
		l->n++;
	struct bucket *b = &l->v[slot];
	snprintf(b->key, sizeof(b->key), "%s", key);
	b->level = l->burst;
	b->at_ms = now;
	return b;
}

int api_limiter_take(struct api_limiter *l, const char *key)
{
	int64_t now = loam_now_ms();
	pthread_mutex_lock(&l->mu);
	struct bucket *b = bucket_of(l, key, now);
	refill(l, b, now);
	int wait_s = 0;
	if (b->level >= 1.0)
		b->level -= 1.0;
	else
		wait_s = (int)ceil((1.0 - b->level) / l->per_s);
	pthread_mutex_unlock(&l->mu);
	return wait_s > 0 ? wait_s : 0;
}
