/*
 * Serves the artifact store read-only over HTTP (loamd routes
 * /artifacts/<rel_path> here). Hosts download firmware, images and agents
 * from it and check every byte against the manifest, so this only has to be
 * safe: it refuses any path that is not a plain relative path of safe words,
 * and anything that resolves outside the store (symlinks included).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "artifact/serve.h"
#include "lib/cleanup.h"

static bool safe_segment(const char *s, size_t n)
{
	if (n == 0 || s[0] == '.' || s[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || strchr(".+~:_-", s[i])))
			return false;
	return true;
}

bool loam_artifact_rel_path_ok(const char *rel)
{
	if (!rel || !*rel || strlen(rel) > 1024)
		return false;
	for (const char *p = rel;;) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);
		if (!safe_segment(p, n))
			return false;
		if (!slash)
			return true;
		p = slash + 1;
	}
}

static int respond_text(struct MHD_Connection *conn, unsigned status, const char *msg)
{
	struct MHD_Response *r =
	    MHD_create_response_from_buffer(strlen(msg), (void *)msg, MHD_RESPMEM_MUST_COPY);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", "text/plain");
	int ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

/* Opens store_dir/rel only if its real path stays inside the store. */
static int open_inside(const char *store_dir, const char *rel, unsigned *status)
{
	char root[PATH_MAX], real[PATH_MAX];
	cleanup_free char *want = NULL;
	if (!realpath(store_dir, root) || asprintf(&want, "%s/%s", root, rel) < 0) {
		*status = MHD_HTTP_NOT_FOUND;
		return -1;
	}
	if (!realpath(want, real)) {
		*status =
		    errno == ENOENT || errno == ENOTDIR ? MHD_HTTP_NOT_FOUND : MHD_HTTP_FORBIDDEN;
		return -1;
	}
	size_t n = strlen(root);
	if (strncmp(real, root, n) != 0 || real[n] != '/') {
		*status = MHD_HTTP_FORBIDDEN;
		return -1;
	}
	int fd = open(real, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		if (fd >= 0)
			close(fd);
		*status = MHD_HTTP_NOT_FOUND;
		return -1;
	}
	return fd;
}

int loam_artifact_serve(struct MHD_Connection *conn, const char *store_dir, const char *rel_path)
{
	if (!loam_artifact_rel_path_ok(rel_path))
		return respond_text(conn, MHD_HTTP_BAD_REQUEST,
				    "bad artifact path: use store-relative words, no '..'\n");
	unsigned status = 0;
	int fd = open_inside(store_dir, rel_path, &status);
	if (fd < 0)
		return respond_text(conn, status,
				    status == MHD_HTTP_FORBIDDEN ? "outside the artifact store\n"
								 : "no such artifact\n");
	struct stat st;
	if (fstat(fd, &st) < 0) {
		close(fd);
		return respond_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "stat failed\n");
	}
	/* The response owns fd from here and closes it. */
	struct MHD_Response *r = MHD_create_response_from_fd((uint64_t)st.st_size, fd);
	if (!r) {
		close(fd);
		return MHD_NO;
	}
	size_t n = strlen(rel_path);
	MHD_add_response_header(r, "Content-Type",
				n > 5 && strcmp(rel_path + n - 5, ".json") == 0
				    ? "application/json"
				    : "application/octet-stream");
	int ret = MHD_queue_response(conn, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}
