/*
 * An in-process API over a real SQLite database in a temp dir, for the
 * security tests and the API fuzz target: requests go straight to
 * loam_api_handle() (the same function loamd's HTTP server calls), so a
 * test can send thousands of bodies without sockets, and the whole stored
 * state can be fingerprinted to prove that a refused request wrote nothing.
 */
#ifndef LOAM_TESTS_API_FIXTURE_H
#define LOAM_TESTS_API_FIXTURE_H

#include <stddef.h>

#include "api/api.h"

#define API_FIXTURE_TOKEN "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

struct api_fixture {
	char dir[256];
	char db_url[300];
	struct loam_db *db;
	struct loam_allocator *alloc;
	struct loam_api *api;
};

/* Makes the temp dir, the migrated database, the allocator and the API,
 * plus an SSH host "h1" (10.0.0.1) and a VM "v1" (x64 standard-2).
 * tmp_root: where the temp dir goes ("/dev/shm" is fastest). */
int api_fixture_open(struct api_fixture *f, const char *tmp_root);
/* The same with the API's roots for ssh_key and state_dir (NULL-terminated;
 * "@" in one stands for the fixture's temp dir). */
int api_fixture_open_roots(struct api_fixture *f, const char *tmp_root,
			   const char *const *ssh_key_roots, const char *const *host_state_roots);
void api_fixture_close(struct api_fixture *f);

/* Runs one request with the right token; returns the status, *body the
 * response (caller frees; may pass NULL). */
int api_fixture_call(struct api_fixture *f, const char *method, const char *path, const char *body,
		     size_t len, char **resp_body);
/* The same with another Authorization header (NULL: none). */
int api_fixture_call_as(struct api_fixture *f, const char *auth, const char *method,
			const char *path, const char *body, char **resp_body);

/* Every row of every table the API writes, as one string (caller frees). */
char *api_fixture_digest(struct api_fixture *f);

#endif
