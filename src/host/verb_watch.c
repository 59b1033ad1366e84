/*
 * `loam-host watch --state-dir DIR [--timeout-ms N] [--vm ID]... [--job
 * NAME]...`: the control plane's long poll. It returns as soon as one of
 * the named VMs has booted (its readiness line is on the serial log) or
 * lost its QEMU, or one of the named jobs has ended, and lists every such
 * event; or after N ms (default 1000, at most 10000) with none. A VM event
 * carries the VM's status object (as vm-wait-ready prints it), so the
 * caller needs no second call to act on it.
 *
 * Output: {"events": [{"vm": ID, "status": {...}} | {"job": NAME,
 * "state": ...}], "timed_out": bool}.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/clock.h"
#include "host/job.h"
#include "host/verbs.h"
#include "host/vm.h"
#include "host/vm_status.h"
#include "lib/cleanup.h"
#include "lib/json.h"
#include "lib/valid.h"
#include "proto/agent.h"

#define WATCH_MAX	 64
#define WATCH_DEFAULT_MS 1000
#define WATCH_LIMIT_MS	 10000
#define WATCH_POLL_MS	 20

struct watch {
	struct vm_paths vm[WATCH_MAX];
	off_t seen[WATCH_MAX];
	size_t nvm;
	struct job_paths job[WATCH_MAX];
	size_t njob;
	long timeout_ms;
};

static int add_item(struct watch *w, const char *state_dir, const char *opt, const char *v,
		    loam_err *err)
{
	if (w->nvm + w->njob >= WATCH_MAX)
		return loam_fail(err, LOAM_E_INVALID, "watch takes at most %d VMs and jobs",
				 WATCH_MAX);
	if (strcmp(opt, LOAM_OPT_VM) == 0) {
		w->seen[w->nvm] = -1;
		return vm_paths_init(state_dir, v, &w->vm[w->nvm++], err);
	}
	return job_paths_init(state_dir, v, &w->job[w->njob++], err);
}

static const char *state_dir_of(int argc, char **argv)
{
	for (int i = 1; i + 1 < argc; i++)
		if (strcmp(argv[i], LOAM_OPT_STATE_DIR) == 0)
			return argv[i + 1];
	return NULL;
}

static int parse_args(int argc, char **argv, struct watch *w, loam_err *err)
{
	const char *state_dir = state_dir_of(argc, argv);
	if (!state_dir)
		return loam_fail(err, LOAM_E_INVALID, "%s DIR is required", LOAM_OPT_STATE_DIR);
	w->timeout_ms = WATCH_DEFAULT_MS;
	for (int i = 1; i < argc; i++) {
		const char *opt = argv[i];
		bool item = strcmp(opt, LOAM_OPT_VM) == 0 || strcmp(opt, LOAM_OPT_JOB) == 0;
		if (i + 1 >= argc || (!item && strcmp(opt, LOAM_OPT_STATE_DIR) != 0 &&
				      strcmp(opt, LOAM_OPT_TIMEOUT_MS) != 0))
			return loam_fail(err, LOAM_E_INVALID, "unexpected argument '%.64s'",
					 loam_has_unsafe_chars(opt) ? "?" : opt);
		const char *v = argv[++i];
		if (item && add_item(w, state_dir, opt, v, err) < 0)
			return -1;
		if (strcmp(opt, LOAM_OPT_TIMEOUT_MS) == 0) {
			char *end = NULL;
			w->timeout_ms = strtol(v, &end, 10);
			if (*end || end == v || w->timeout_ms < 0 || w->timeout_ms > WATCH_LIMIT_MS)
				return loam_fail(err, LOAM_E_INVALID, "%s must be 0..%d",
						 LOAM_OPT_TIMEOUT_MS, WATCH_LIMIT_MS);
		}
	}
	return 0;
}

/* Appends an event for every VM or job that has settled. */
static void collect(struct watch *w, json_t *events)
{
	for (size_t i = 0; i < w->nvm; i++)
		if (vm_boot_settled(&w->vm[i], &w->seen[i]))
			json_array_append_new(events, json_pack("{s:s, s:o}", LOAM_KEY_VM,
								w->vm[i].id, LOAM_KEY_STATUS,
								vm_status_json(&w->vm[i], false)));
	for (size_t i = 0; i < w->njob; i++) {
		struct job_status st;
		job_read(&w->job[i], 0, &st);
		if (st.state != JOB_RUNNING)
			json_array_append_new(events,
					      json_pack("{s:s, s:s}", LOAM_KEY_JOB, w->job[i].name,
							LOAM_KEY_STATE,
							st.state == JOB_DONE   ? LOAM_JOB_DONE
							: st.state == JOB_LOST ? LOAM_JOB_LOST
									       : LOAM_JOB_ABSENT));
	}
}

int loam_host_verb_watch(int argc, char **argv)
{
	cleanup_err loam_err err = NULL;
	cleanup_free struct watch *w = calloc(1, sizeof(*w));
	if (!w)
		return loam_fail(&err, LOAM_E_INTERNAL, "out of memory"),
		       loam_host_report(LOAM_VERB_WATCH, &err);
	if (parse_args(argc, argv, w, &err) < 0)
		return loam_host_report(LOAM_VERB_WATCH, &err);
	int64_t until = loam_now_ms() + w->timeout_ms;
	json_t *events = json_array();
	for (collect(w, events); json_array_size(events) == 0 && loam_now_ms() < until;
	     collect(w, events))
		loam_sleep_ms(WATCH_POLL_MS);
	bool timed_out = json_array_size(events) == 0;
	cleanup_json json_t *out =
	    json_pack("{s:o, s:b}", LOAM_KEY_EVENTS, events, LOAM_KEY_TIMED_OUT, timed_out);
	cleanup_free char *text = loam_json_dump(out);
	printf("%s\n", text);
	return fflush(stdout) == 0 ? 0 : 1;
}

int loam_host_watch_args_check(int argc, char **argv, loam_err *err)
{
	cleanup_free struct watch *w = calloc(1, sizeof(*w));
	if (!w)
		return loam_fail(err, LOAM_E_INTERNAL, "out of memory");
	return parse_args(argc, argv, w, err);
}
