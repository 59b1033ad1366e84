/*
 * The artifact store's HTTP handler: loamd routes GET /artifacts/<rel_path>
 * here. Read-only; refuses path traversal and anything outside the store.
 */
#ifndef LOAM_ARTIFACT_SERVE_H
#define LOAM_ARTIFACT_SERVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <microhttpd.h>

/* Queues the response for store_dir/rel_path (200 with the file, 400 for a
 * path that is not plain safe words, 403 outside the store, 404 missing) and
 * returns what MHD_queue_response returned (MHD_YES / MHD_NO). */
int loam_artifact_serve(struct MHD_Connection *conn, const char *store_dir, const char *rel_path);

/* A relative path of safe words ([A-Za-z0-9.+~:_-], none starting with '.'
 * or '-') joined by single '/'. */
bool loam_artifact_rel_path_ok(const char *rel);

#endif
