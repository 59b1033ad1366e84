/*
 * Detached jobs and the watch long poll, from the control plane (see
 * client.h): a label starts a long verb as a job and asks again later, and
 * a watcher outside the worker pool long-polls `watch` to learn at once
 * when a VM has booted or a job has ended.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/cleanup.h"
#include "lib/json.h"
#include "lib/xalloc.h"
#include "proto/agent.h"
#include "proto/internal.h"

#define WATCH_MARGIN_MS 10000

static enum loam_job_state job_state_of(const char *s)
{
	s = s ? s : "";
	return strcmp(s, LOAM_JOB_RUNNING) == 0 ? LOAM_JOB_IS_RUNNING
	       : strcmp(s, LOAM_JOB_DONE) == 0	? LOAM_JOB_IS_DONE
	       : strcmp(s, LOAM_JOB_LOST) == 0	? LOAM_JOB_IS_LOST
						: LOAM_JOB_IS_ABSENT;
}

static void job_status_read(const json_t *j, struct loam_job_status *out)
{
	const json_t *code = json_object_get(j, LOAM_KEY_EXIT_STATUS);
	*out = (struct loam_job_status){
	    .state = job_state_of(json_string_value(json_object_get(j, LOAM_KEY_STATE))),
	    .exit_status = json_is_integer(code) ? (int)json_integer_value(code) : -1,
	    .signal = (int)json_integer_value(json_object_get(j, LOAM_KEY_SIGNAL)),
	    .out = xstrdup(json_string_value(json_object_get(j, LOAM_KEY_STDOUT)) ?: ""),
	    .err = xstrdup(json_string_value(json_object_get(j, LOAM_KEY_STDERR)) ?: ""),
	    .reaped = loam_json_true(j, LOAM_KEY_REAPED),
	};
}

void loam_job_status_free(struct loam_job_status *s)
{
	free(s->out);
	free(s->err);
	s->out = s->err = NULL;
}

bool loam_job_succeeded(const struct loam_job_status *s)
{
	return s->state == LOAM_JOB_IS_DONE && s->exit_status == 0;
}

/* The job's stderr ends with the agent's own message: its last line. */
static const char *message_of(const char *err, int *len)
{
	const char *end = err + strlen(err);
	while (end > err && strchr("\r\n", end[-1]))
		end--;
	const char *nl = memrchr(err, '\n', (size_t)(end - err));
	const char *start = nl ? nl + 1 : err;
	*len = (int)(end - start);
	return start;
}

int loam_job_fail(const struct loam_agent *a, const struct loam_job_status *s, const char *what,
		  loam_err *err)
{
	int len = 0;
	const char *msg = message_of(s->err, &len);
	const char *host = loam_transport_name(a->t);
	if (s->state == LOAM_JOB_IS_LOST)
		return loam_fail(err, LOAM_E_IO,
				 "%s on host %s was lost (its monitor is gone: a host reboot?)",
				 what, host);
	if (s->signal)
		return loam_fail(err, LOAM_E_IO, "%s on host %s killed by signal %d", what, host,
				 s->signal);
	return loam_fail(err, LOAM_E_IO, "%s on host %s exited with status %d%s%.*s", what, host,
			 s->exit_status, len ? ": " : "", len > 500 ? 500 : len, msg);
}

static int job_call(const struct loam_agent *a, const char *const *argv, const char *in,
		    struct loam_job_status *out, loam_err *err)
{
	cleanup_json json_t *j = loam_agent_call(a, argv, in, loam_agent_timeout(a), err);
	if (!j)
		return -1;
	job_status_read(j, out);
	return 0;
}

int loam_agent_job_start(const struct loam_agent *a, const char *name, const char *const *words,
			 const char *stdin_data, int wait_ms, bool reap,
			 struct loam_job_status *out, loam_err *err)
{
	char wait[16];
	snprintf(wait, sizeof(wait), "%d", wait_ms);
	const char *argv[48] = {a->path,      LOAM_VERB_JOB_START, name, LOAM_OPT_STATE_DIR,
				a->state_dir, LOAM_OPT_WAIT_MS,	   wait};
	size_t n = 7;
	if (reap)
		argv[n++] = LOAM_OPT_REAP;
	argv[n++] = LOAM_OPT_END;
	for (; *words && n + 1 < sizeof(argv) / sizeof(*argv); words++)
		argv[n++] = *words;
	argv[n] = NULL;
	return job_call(a, argv, stdin_data ? stdin_data : "", out, err);
}

int loam_agent_job_status(const struct loam_agent *a, const char *name, int wait_ms, bool reap,
			  struct loam_job_status *out, loam_err *err)
{
	char wait[16];
	snprintf(wait, sizeof(wait), "%d", wait_ms);
	const char *argv[] = {a->path,	    LOAM_VERB_JOB_STATUS, name, LOAM_OPT_STATE_DIR,
			      a->state_dir, LOAM_OPT_WAIT_MS,	  wait, reap ? LOAM_OPT_REAP : NULL,
			      NULL};
	return job_call(a, argv, NULL, out, err);
}

int loam_agent_job_cancel(const struct loam_agent *a, const char *name, bool *existed,
			  loam_err *err)
{
	const char *argv[] = {a->path, LOAM_VERB_JOB_CANCEL, name, LOAM_OPT_STATE_DIR, a->state_dir,
			      NULL};
	cleanup_json json_t *j = loam_agent_call(a, argv, NULL, loam_agent_timeout(a), err);
	if (j && existed)
		*existed = loam_json_true(j, LOAM_KEY_EXISTED);
	return j ? 0 : -1;
}

void loam_agent_vm_prep_job_name(const char *vm_id, char out[64])
{
	snprintf(out, 64, LOAM_JOB_PREFIX_VM_PREP "%s", vm_id);
}

int loam_agent_vm_prep_job(const struct loam_agent *a, const struct loam_vm_prep_spec *spec,
			   int wait_ms, struct loam_job_status *out, loam_err *err)
{
	char name[64];
	loam_agent_vm_prep_job_name(spec->id, name);
	cleanup_free char *in = loam_vm_prep_spec_json(spec);
	const char *const words[] = {LOAM_VERB_VM_PREP, LOAM_OPT_STATE_DIR, a->state_dir, NULL};
	return loam_agent_job_start(a, name, words, in, wait_ms, true, out, err);
}

int loam_agent_install_job(const struct loam_agent *a, const char *request, int wait_ms,
			   struct loam_job_status *out, loam_err *err)
{
	const char *const words[] = {LOAM_VERB_INSTALL, NULL};
	return loam_agent_job_start(a, LOAM_JOB_INSTALL, words, request, wait_ms, true, out, err);
}

/* ---- watch ---- */

static void event_read(const json_t *e, struct loam_watch_event *out)
{
	const char *job = json_string_value(json_object_get(e, LOAM_KEY_JOB));
	const char *vm = json_string_value(json_object_get(e, LOAM_KEY_VM));
	*out = (struct loam_watch_event){.job = job != NULL};
	snprintf(out->name, sizeof(out->name), "%s", job ? job : vm ? vm : "");
	if (job)
		out->job_state =
		    job_state_of(json_string_value(json_object_get(e, LOAM_KEY_STATE)));
	else
		loam_vm_status_read(json_object_get(e, LOAM_KEY_STATUS), &out->vm);
}

int loam_agent_watch(const struct loam_agent *a, const struct loam_watch_item *items, size_t n,
		     int timeout_ms, struct loam_watch_event **events, size_t *nevents,
		     loam_err *err)
{
	*events = NULL;
	*nevents = 0;
	char ms[16];
	snprintf(ms, sizeof(ms), "%d", timeout_ms);
	cleanup_argv struct loam_argv argv = {0};
	loam_argv_add(&argv, a->path);
	loam_argv_add(&argv, LOAM_VERB_WATCH);
	loam_argv_add(&argv, LOAM_OPT_STATE_DIR);
	loam_argv_add(&argv, a->state_dir);
	loam_argv_add(&argv, LOAM_OPT_TIMEOUT_MS);
	loam_argv_add(&argv, ms);
	for (size_t i = 0; i < n; i++) {
		loam_argv_add(&argv, items[i].job ? LOAM_OPT_JOB : LOAM_OPT_VM);
		loam_argv_add(&argv, items[i].name);
	}
	cleanup_json json_t *j =
	    loam_agent_call(a, loam_argv_view(&argv), NULL, timeout_ms + WATCH_MARGIN_MS, err);
	if (!j)
		return -1;
	const json_t *list = json_object_get(j, LOAM_KEY_EVENTS);
	size_t count = json_array_size(list);
	*events = count ? xcalloc(count, sizeof(**events)) : NULL;
	for (size_t i = 0; i < count; i++)
		event_read(json_array_get(list, i), &(*events)[i]);
	*nevents = count;
	return 0;
}

void loam_watch_events_free(struct loam_watch_event *events, size_t n)
{
	for (size_t i = 0; i < n; i++)
		loam_vm_status_free(&events[i].vm);
	free(events);
}
