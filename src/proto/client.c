/*
 * The agent's VM verbs from the control plane (see client.h): each builds
 * the argv from proto/agent.h's words, runs it through the transport, and
 * reads the one JSON object the verb prints into a typed answer.
 */
#include "proto/client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/cleanup.h"
#include "lib/json.h"
#include "lib/xalloc.h"
#include "proto/agent.h"
#include "proto/internal.h"

int loam_agent_timeout(const struct loam_agent *a)
{
	return a->timeout_ms > 0 ? a->timeout_ms : LOAM_AGENT_CALL_TIMEOUT_MS;
}

json_t *loam_agent_call(const struct loam_agent *a, const char *const *argv, const char *in,
			int timeout_ms, loam_err *err)
{
	struct loam_spawn_result res = {0};
	int rc = loam_transport_run_ok(a->t, argv, in, in ? strlen(in) : 0, timeout_ms, &res, err);
	json_t *j = rc == 0 ? loam_json_parse(res.out, res.out_len, argv[1], err) : NULL;
	if (j && !json_is_object(j)) {
		json_decref(j);
		j = NULL;
		loam_fail(err, LOAM_E_IO, "%s printed no JSON object", argv[1]);
	}
	loam_spawn_result_free(&res);
	if (!j)
		loam_err_wrap(err, "%s on host %s", argv[1], loam_transport_name(a->t));
	return j;
}

/* `agent VERB [ID] --state-dir DIR [--timeout S]`, S < 0: none. */
static json_t *vm_call(const struct loam_agent *a, const char *verb, const char *id, int timeout_s,
		       const char *in, loam_err *err)
{
	char secs[16];
	const char *argv[8] = {a->path, verb};
	size_t n = 2;
	if (id)
		argv[n++] = id;
	argv[n++] = LOAM_OPT_STATE_DIR;
	argv[n++] = a->state_dir;
	if (timeout_s >= 0) {
		snprintf(secs, sizeof(secs), "%d", timeout_s);
		argv[n++] = LOAM_OPT_TIMEOUT;
		argv[n++] = secs;
	}
	argv[n] = NULL;
	return loam_agent_call(a, argv, in, loam_agent_timeout(a), err);
}

bool loam_json_true(const json_t *obj, const char *key)
{
	return json_is_true(json_object_get(obj, key));
}

static void copy_str(char *out, size_t cap, const json_t *obj, const char *key)
{
	snprintf(out, cap, "%s", json_string_value(json_object_get(obj, key)) ?: "");
}

void loam_vm_status_read(const json_t *j, struct loam_vm_status *out)
{
	*out = (struct loam_vm_status){
	    .exists = loam_json_true(j, LOAM_KEY_EXISTS),
	    .running = loam_json_true(j, LOAM_KEY_RUNNING),
	    .ready = loam_json_true(j, LOAM_KEY_READY),
	    .timed_out = loam_json_true(j, LOAM_KEY_TIMED_OUT),
	    .pid = (long)json_integer_value(json_object_get(j, LOAM_KEY_PID)),
	    .serial_tail =
		xstrdup(json_string_value(json_object_get(j, LOAM_KEY_SERIAL_TAIL)) ?: ""),
	};
	const json_t *st = json_object_get(j, LOAM_KEY_STORAGE);
	if (json_is_object(st)) {
		const char *failed = json_string_value(json_object_get(st, LOAM_KEY_FAILED));
		out->has_storage = true;
		out->storage_supervised = json_is_integer(json_object_get(st, LOAM_KEY_SUPERVISOR));
		out->storage_running = loam_json_true(st, LOAM_KEY_RUNNING);
		out->storage_pid = (long)json_integer_value(json_object_get(st, LOAM_KEY_PID));
		out->storage_restarts =
		    (long)json_integer_value(json_object_get(st, LOAM_KEY_RESTARTS));
		out->storage_failed = failed ? xstrdup(failed) : NULL;
	}
	copy_str(out->guest_machine, sizeof(out->guest_machine), j, LOAM_KEY_GUEST_MACHINE);
	copy_str(out->qmp, sizeof(out->qmp), j, LOAM_KEY_QMP);
	/* ready means the guest said which machine it is */
	out->ready = out->ready && out->guest_machine[0];
	json_t *keys = json_object_get(j, LOAM_KEY_HOST_KEYS), *k;
	size_t i;
	json_array_foreach(keys, i,
			   k) if (json_is_string(k) && out->nhost_keys < LOAM_HOST_KEYS_MAX)
	    out->host_keys[out->nhost_keys++] = xstrdup(json_string_value(k));
}

void loam_vm_status_copy(const struct loam_vm_status *s, struct loam_vm_status *out)
{
	*out = *s;
	out->serial_tail = s->serial_tail ? xstrdup(s->serial_tail) : NULL;
	out->storage_failed = s->storage_failed ? xstrdup(s->storage_failed) : NULL;
	for (size_t i = 0; i < s->nhost_keys; i++)
		out->host_keys[i] = xstrdup(s->host_keys[i]);
}

void loam_vm_status_free(struct loam_vm_status *s)
{
	free(s->serial_tail);
	s->serial_tail = NULL;
	free(s->storage_failed);
	s->storage_failed = NULL;
	for (size_t i = 0; i < s->nhost_keys; i++)
		free(s->host_keys[i]);
	s->nhost_keys = 0;
}

int loam_agent_vm_prep(const struct loam_agent *a, const struct loam_vm_prep_spec *spec,
		       loam_err *err)
{
	cleanup_free char *in = loam_vm_prep_spec_json(spec);
	cleanup_json json_t *j = vm_call(a, LOAM_VERB_VM_PREP, NULL, -1, in, err);
	return j ? 0 : -1;
}

int loam_agent_vm_start(const struct loam_agent *a, const char *id, bool *started, long *pid,
			loam_err *err)
{
	cleanup_json json_t *j = vm_call(a, LOAM_VERB_VM_START, id, -1, NULL, err);
	if (!j)
		return -1;
	if (started)
		*started = loam_json_true(j, LOAM_KEY_STARTED);
	if (pid)
		*pid = (long)json_integer_value(json_object_get(j, LOAM_KEY_PID));
	return 0;
}

int loam_agent_vm_argv(const struct loam_agent *a, const char *id, struct loam_argv *out,
		       struct loam_argv *env, loam_err *err)
{
	const char *argv[] = {a->path,	    LOAM_VERB_VM_ARGV, id,  LOAM_OPT_STATE_DIR,
			      a->state_dir, LOAM_OPT_PATHS,    NULL};
	cleanup_json json_t *j = loam_agent_call(a, argv, NULL, loam_agent_timeout(a), err);
	if (!j)
		return -1;
	const json_t *words = json_object_get(j, LOAM_KEY_ARGV);
	if (!json_is_array(words) || json_array_size(words) == 0)
		return loam_fail(err, LOAM_E_IO, "%s printed no argv", LOAM_VERB_VM_ARGV);
	size_t i;
	const json_t *w;
	json_array_foreach(words, i, w)
	{
		loam_argv_add(out, json_string_value(w) ?: "");
	}
	json_array_foreach(json_object_get(j, LOAM_KEY_ENV), i, w)
	{
		if (env && json_is_string(w))
			loam_argv_add(env, json_string_value(w));
	}
	return 0;
}

static int status_call(const struct loam_agent *a, const char *verb, const char *id, int timeout_s,
		       struct loam_vm_status *out, loam_err *err)
{
	cleanup_json json_t *j = vm_call(a, verb, id, timeout_s, NULL, err);
	if (!j)
		return -1;
	loam_vm_status_read(j, out);
	return 0;
}

int loam_agent_vm_status(const struct loam_agent *a, const char *id, struct loam_vm_status *out,
			 loam_err *err)
{
	return status_call(a, LOAM_VERB_VM_STATUS, id, -1, out, err);
}

int loam_agent_vm_wait_ready(const struct loam_agent *a, const char *id, int timeout_s,
			     struct loam_vm_status *out, loam_err *err)
{
	return status_call(a, LOAM_VERB_VM_WAIT_READY, id, timeout_s, out, err);
}

int loam_agent_vm_stop(const struct loam_agent *a, const char *id, int timeout_s, bool *was_running,
		       loam_err *err)
{
	cleanup_json json_t *j = vm_call(a, LOAM_VERB_VM_STOP, id, timeout_s, NULL, err);
	if (j && was_running)
		*was_running = loam_json_true(j, LOAM_KEY_WAS_RUNNING);
	return j ? 0 : -1;
}

int loam_agent_vm_net(const struct loam_agent *a, const char *id,
		      const struct loam_vm_net_spec *net, loam_err *err)
{
	cleanup_json json_t *spec = loam_vm_net_spec_json(net);
	cleanup_free char *in = loam_json_dump(spec);
	cleanup_json json_t *j = vm_call(a, LOAM_VERB_VM_NET, id, -1, in, err);
	return j ? 0 : -1;
}

int loam_agent_vm_purge(const struct loam_agent *a, const char *id, bool *existed, loam_err *err)
{
	cleanup_json json_t *j = vm_call(a, LOAM_VERB_VM_PURGE, id, -1, NULL, err);
	if (j && existed)
		*existed = loam_json_true(j, LOAM_KEY_EXISTED);
	return j ? 0 : -1;
}
