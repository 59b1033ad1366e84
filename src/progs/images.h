/*
 * Which boot images each host has installed, per arch, kept in memory for
 * the allocator's image filter (loam_alloc_set_image_arch_check), which
 * runs under the allocator's lock and must not touch the database. It is
 * reloaded from host_artifact whenever an install finishes and at start.
 */
#ifndef LOAM_PROGS_IMAGES_H
#define LOAM_PROGS_IMAGES_H

#include <stdbool.h>

#include "db/db.h"
#include "lib/err.h"

struct loam_image_index;

struct loam_image_index *loam_image_index_new(void);
void loam_image_index_free(struct loam_image_index *x);
/* Re-reads every installed image of every host. */
int loam_image_index_reload(struct loam_image_index *x, struct loam_db *db, loam_err *err);
/* The allocator hook: ctx is the index. */
bool loam_image_index_present(void *ctx, const char *host_id, const char *image, const char *arch);

#endif
