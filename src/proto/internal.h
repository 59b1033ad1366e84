/*
 * Shared between the files of the protocol's client side: one agent run
 * that answers with a JSON object, and reading a VM status object.
 */
#ifndef LOAM_PROTO_INTERNAL_H
#define LOAM_PROTO_INTERNAL_H

#include <jansson.h>

#include "proto/client.h"

int loam_agent_timeout(const struct loam_agent *a);
/* Runs argv (argv[0] the agent, argv[1] the verb) with optional stdin and
 * parses the one JSON object it prints; NULL with *err otherwise. */
json_t *loam_agent_call(const struct loam_agent *a, const char *const *argv, const char *in,
			int timeout_ms, loam_err *err);
void loam_vm_status_read(const json_t *j, struct loam_vm_status *out);
bool loam_json_true(const json_t *obj, const char *key);

#endif
