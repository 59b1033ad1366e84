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

#include "db/host_artifact.h"
#include "lib/cleanup.h"
#include "lib/xalloc.h"

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
	struct loam_image_index *x = xcalloc(1, sizeof(*x));
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
	cleanup_host_artifacts struct loam_host_artifacts images = {0};
	if (loam_host_artifacts_images(db, &images, err) < 0)
		return -1;
	struct image_entry *v = xcalloc(images.n, sizeof(*v));
	for (size_t i = 0; i < images.n; i++) {
		snprintf(v[i].host_id, sizeof(v[i].host_id), "%s", images.v[i].host_id);
		snprintf(v[i].name, sizeof(v[i].name), "%s", images.v[i].name);
		snprintf(v[i].arch, sizeof(v[i].arch), "%s", images.v[i].arch);
	}
	pthread_mutex_lock(&x->mu);
	free(x->v);
	x->v = v;
	x->n = images.n;
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
