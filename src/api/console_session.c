/*
 * Console sessions: a table in memory of who logged in, keyed by the
 * SHA-256 of a random id that only the browser's cookie holds (HttpOnly,
 * SameSite=Strict), with a per-session CSRF token for the forms. A
 * session ends at log-out, after SESSION_IDLE_MS without a request, or
 * SESSION_TTL_MS after log-in; a restart of loamd ends them all. When the
 * table is full the least recently seen session makes room.
 */
#include "api/console_internal.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "api/internal.h"
#include "lib/sha256.h"
#include "lib/xalloc.h"

#define SESSION_MAX	1024
#define SESSION_TTL_MS	((int64_t)12 * 3600 * 1000)
#define SESSION_IDLE_MS ((int64_t)2 * 3600 * 1000)

struct session {
	bool used;
	char id_hash[LOAM_SHA256_HEX_LEN + 1];
	struct console_session_view view;
	int64_t created_ms, seen_ms;
};

struct console_sessions {
	pthread_mutex_t mu;
	struct session v[SESSION_MAX];
};

struct console_sessions *console_sessions_new(void)
{
	struct console_sessions *s = xcalloc(1, sizeof(*s));
	pthread_mutex_init(&s->mu, NULL);
	return s;
}

void console_sessions_free(struct console_sessions *s)
{
	if (!s)
		return;
	pthread_mutex_destroy(&s->mu);
	OPENSSL_cleanse(s->v, sizeof(s->v));
	free(s);
}

int console_random_hex(char out[CONSOLE_HEX_LEN + 1], loam_err *err)
{
	unsigned char raw[CONSOLE_HEX_LEN / 2];
	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return loam_fail(err, LOAM_E_INTERNAL, "RAND_bytes failed");
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < sizeof(raw); i++) {
		out[2 * i] = digits[raw[i] >> 4];
		out[2 * i + 1] = digits[raw[i] & 15];
	}
	out[CONSOLE_HEX_LEN] = '\0';
	OPENSSL_cleanse(raw, sizeof(raw));
	return 0;
}

static bool live(const struct session *s, int64_t now_ms)
{
	return s->used && now_ms - s->created_ms < SESSION_TTL_MS &&
	       now_ms - s->seen_ms < SESSION_IDLE_MS;
}

/* A free slot, an expired one, or the least recently seen. Under mu. */
static struct session *slot_for_new(struct console_sessions *s, int64_t now_ms)
{
	struct session *oldest = &s->v[0];
	for (size_t i = 0; i < SESSION_MAX; i++) {
		if (!live(&s->v[i], now_ms))
			return &s->v[i];
		if (s->v[i].seen_ms < oldest->seen_ms)
			oldest = &s->v[i];
	}
	return oldest;
}

int console_session_create(struct console_sessions *s, const struct loam_principal *who,
			   int64_t now_ms, char id[CONSOLE_HEX_LEN + 1], loam_err *err)
{
	struct session fresh = {.used = true, .created_ms = now_ms, .seen_ms = now_ms};
	if (console_random_hex(id, err) < 0 || console_random_hex(fresh.view.csrf, err) < 0 ||
	    loam_sha256_buf(id, CONSOLE_HEX_LEN, fresh.id_hash, err) < 0)
		return -1;
	fresh.view.who = *who;
	if (who->kind == LOAM_PRINCIPAL_PROJECT)
		snprintf(fresh.view.principal, sizeof(fresh.view.principal), "project %s",
			 who->project);
	else
		snprintf(fresh.view.principal, sizeof(fresh.view.principal), "operator");
	pthread_mutex_lock(&s->mu);
	*slot_for_new(s, now_ms) = fresh;
	pthread_mutex_unlock(&s->mu);
	OPENSSL_cleanse(&fresh, sizeof(fresh));
	return 0;
}

/* The session whose id hashes to hash, or NULL. Under mu. Every slot is
 * compared, in constant time, so the time taken says nothing of which. */
static struct session *find_locked(struct console_sessions *s, const char *hash)
{
	struct session *found = NULL;
	for (size_t i = 0; i < SESSION_MAX; i++)
		if (s->v[i].used && loam_secret_equal(s->v[i].id_hash, hash))
			found = &s->v[i];
	return found;
}

static bool hash_id(const char *id, char hash[LOAM_SHA256_HEX_LEN + 1])
{
	loam_err err = NULL;
	if (!id || !loam_sha256_hex_valid(id)) /* 64 lower-case hex, as we make them */
		return false;
	if (loam_sha256_buf(id, CONSOLE_HEX_LEN, hash, &err) < 0) {
		loam_err_free(&err);
		return false;
	}
	return true;
}

int console_session_find(struct console_sessions *s, const char *id, int64_t now_ms,
			 struct console_session_view *out)
{
	char hash[LOAM_SHA256_HEX_LEN + 1];
	if (!hash_id(id, hash))
		return 0;
	pthread_mutex_lock(&s->mu);
	struct session *found = find_locked(s, hash);
	if (found && !live(found, now_ms))
		found = NULL;
	if (found) {
		found->seen_ms = now_ms;
		*out = found->view;
	}
	pthread_mutex_unlock(&s->mu);
	return found != NULL;
}

void console_session_end(struct console_sessions *s, const char *id)
{
	char hash[LOAM_SHA256_HEX_LEN + 1];
	if (!hash_id(id, hash))
		return;
	pthread_mutex_lock(&s->mu);
	struct session *found = find_locked(s, hash);
	if (found)
		OPENSSL_cleanse(found, sizeof(*found));
	pthread_mutex_unlock(&s->mu);
}
