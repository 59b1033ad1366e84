/*
 * A small QMP client: the agent's only way to ask a running QEMU about its
 * state and to power it down. Connects to the VM's unix socket, reads the
 * greeting, negotiates capabilities, then runs commands one at a time,
 * skipping the asynchronous events QEMU interleaves with the replies. Every
 * step has a deadline so a wedged QEMU cannot hang the agent.
 */
#ifndef LOAM_HOST_QMP_H
#define LOAM_HOST_QMP_H

#include <jansson.h>

#include "lib/err.h"

struct loam_qmp;

/* Connects and completes qmp_capabilities within timeout_ms. */
int loam_qmp_connect(const char *socket_path, int timeout_ms, struct loam_qmp **out, loam_err *err);
/* Runs command (args may be NULL) and sets *ret to its "return" value (a
 * new reference; the caller decrefs). A QMP error reply fails with its
 * description. */
int loam_qmp_execute(struct loam_qmp *q, const char *command, json_t *args, json_t **ret,
		     loam_err *err);
void loam_qmp_close(struct loam_qmp *q);

/* Convenience: connect, query-status, close. *status is "running",
 * "paused", "shutdown", ... (the caller frees). */
int loam_qmp_query_status(const char *socket_path, int timeout_ms, char **status, loam_err *err);

#endif
