/*
 * A cache of open transports, so that a prog talking to a host over many
 * steps pays for the SSH handshake once. Idle transports wait on a list
 * keyed by host name and connection details; a transport is handed to one
 * caller at a time. An idle connection the peer has closed (sshd restarted,
 * host rebooted) is dropped at acquire time and a new one is opened.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/xalloc.h"
#include "transport/internal.h"

struct loam_transport_pool {
	pthread_mutex_t lock;
	struct loam_transport *idle;
};

struct loam_transport_pool *loam_transport_pool_new(void)
{
	struct loam_transport_pool *p = xcalloc(1, sizeof(*p));
	pthread_mutex_init(&p->lock, NULL);
	return p;
}

void loam_transport_pool_free(struct loam_transport_pool *p)
{
	if (!p)
		return;
	while (p->idle) {
		struct loam_transport *t = p->idle;
		p->idle = t->next;
		loam_transport_close(t);
	}
	pthread_mutex_destroy(&p->lock);
	free(p);
}

/* A connection is reusable only for the same host reached the same way;
 * the pinned key is checked separately (see usable) so that the connection
 * of a first contact is reused once the caller has pinned its key. */
static char *pool_key(const struct loam_host_target *tg)
{
	char *k = xasprintf("%d\n%s\n%s\n%d\n%s\n%s", (int)tg->kind, tg->name ? tg->name : "",
			    tg->address ? tg->address : "", tg->port, tg->user ? tg->user : "",
			    tg->key_file ? tg->key_file : "");
	return k;
}

static struct loam_transport *take_idle(struct loam_transport_pool *p, const char *key)
{
	pthread_mutex_lock(&p->lock);
	struct loam_transport **pp = &p->idle;
	while (*pp && strcmp((*pp)->pool_key, key) != 0)
		pp = &(*pp)->next;
	struct loam_transport *t = *pp;
	if (t) {
		*pp = t->next;
		t->next = NULL;
	}
	pthread_mutex_unlock(&p->lock);
	return t;
}

static bool usable(struct loam_transport *t, const struct loam_host_target *tg)
{
	if (t->broken)
		return false;
	if (t->kind != LOAM_TRANSPORT_SSH)
		return true;
	/* A newly pinned key that this connection's server did not present
	 * means a fresh connect, which then refuses the host. */
	if (tg->pinned_host_key && !loam_ssh_key_matches(tg->pinned_host_key, t->host_key))
		return false;
	return loam_ssh_alive(t);
}

int loam_transport_pool_acquire(struct loam_transport_pool *p,
				const struct loam_host_target *target, struct loam_transport **out,
				char **seen_host_key, loam_err *err)
{
	*out = NULL;
	if (seen_host_key)
		*seen_host_key = NULL;
	char *key = pool_key(target);
	struct loam_transport *t;
	while ((t = take_idle(p, key)) && !usable(t, target))
		loam_transport_close(t);
	if (!t && loam_transport_open(target, &t, seen_host_key, err) < 0) {
		free(key);
		return -1;
	}
	if (!target->pinned_host_key && seen_host_key && !*seen_host_key && t->host_key) {
		*seen_host_key = xstrdup(t->host_key);
	}
	free(t->pool_key);
	t->pool_key = key;
	*out = t;
	return 0;
}

void loam_transport_pool_release(struct loam_transport_pool *p, struct loam_transport *t,
				 bool broken)
{
	if (!t)
		return;
	if (broken || t->broken || !t->pool_key) {
		loam_transport_close(t);
		return;
	}
	pthread_mutex_lock(&p->lock);
	t->next = p->idle;
	p->idle = t;
	pthread_mutex_unlock(&p->lock);
}
