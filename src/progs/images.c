/*
 * The in-memory index of installed boot images (see images.h): a flat list
 * of (host, image, arch) behind a mutex. Fleets hold a handful of images per
 * host, so a linear scan is the simplest thing that is fast enough.
 */
#include "progs/images.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/cleanup.h"

struct image_entry {
	char host_id[27];
	char name[64];
	char arch[16];
};

struct loam_image_index {
	pthread_mutex_t mu;
	struct image_entry *v;
	size_t n;
};

struct loam_image_index *loam_image_index_new(void)
{
	struct loam_image_index *x = calloc(1, sizeof(*x));
	if (!x)
		abort();
	pthread_mutex_init(&x->mu, NULL);
	return x;
}

void loam_image_index_free(struct loam_image_index *x)
{
	if (!x)
		return;
	pthread_mutex_destroy(&x->mu);
	free(x->v);
	free(x);
}

int loam_image_index_reload(struct loam_image_index *x, struct loam_db *db, loam_err *err)
{
	cleanup_rows struct loam_db_rows *r = NULL;
	if (loam_db_query(db,
			  "SELECT host_id, name, arch FROM host_artifact WHERE component = 'image' "
			  "AND state = 'installed'",
			  DB_NOARGS, &r, err) < 0)
		return -1;
	size_t n = loam_db_rows_count(r);
	struct image_entry *v = calloc(n ? n : 1, sizeof(*v));
	if (!v)
		abort();
	for (size_t i = 0; i < n; i++) {
		snprintf(v[i].host_id, sizeof(v[i].host_id), "%s", loam_db_rows_text(r, i, 0));
		snprintf(v[i].name, sizeof(v[i].name), "%s", loam_db_rows_text(r, i, 1));
		snprintf(v[i].arch, sizeof(v[i].arch), "%s", loam_db_rows_text(r, i, 2));
	}
	pthread_mutex_lock(&x->mu);
	free(x->v);
	x->v = v;
	x->n = n;
	pthread_mutex_unlock(&x->mu);
	return 0;
}

bool loam_image_index_present(void *ctx, const char *host_id, const char *image, const char *arch)
{
	struct loam_image_index *x = ctx;
	bool found = false;
	pthread_mutex_lock(&x->mu);
	for (size_t i = 0; i < x->n && !found; i++)
		found = strcmp(x->v[i].host_id, host_id) == 0 && strcmp(x->v[i].name, image) == 0 &&
			strcmp(x->v[i].arch, arch) == 0;
	pthread_mutex_unlock(&x->mu);
	return found;
}
