/*
 * Detached jobs: one of the agent's own long verbs (vm-prep, install) run
 * in the background, so that the control plane starts it with one short
 * call and asks again later instead of holding a worker while it runs (the
 * way Ubicloud's daemonizer does). A job has a name; starting it again
 * with the same input is idempotent, and its exit status and output stay
 * until it is reaped.
 *
 * Everything lives under D/jobs/<name>/ (proto/agent.h), a root-only
 * directory outside every VM's folder: the job's input digest, stdin,
 * stdout, stderr, the monitor's pid and, once it ended, its exit status.
 * The job runs as: setsid'd session leader (exits at once) → monitor
 * (waits for the verb, writes the exit status) → the verb itself and what
 * it starts, all in one session, so that cancelling kills all of it.
 */
#ifndef LOAM_HOST_JOB_H
#define LOAM_HOST_JOB_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "host/vm.h"
#include "lib/err.h"

#define JOB_PATH_MAX VM_PATH_MAX

struct job_paths {
	char name[64];
	char jobs[JOB_PATH_MAX]; /* D/jobs */
	char dir[JOB_PATH_MAX];
	char input[JOB_PATH_MAX], in[JOB_PATH_MAX], out[JOB_PATH_MAX], err[JOB_PATH_MAX];
	char pid[JOB_PATH_MAX], exit[JOB_PATH_MAX];
};

enum job_state { JOB_ABSENT, JOB_RUNNING, JOB_DONE, JOB_LOST };

struct job_status {
	enum job_state state;
	int exit_status; /* JOB_DONE and not signaled */
	int signal;	 /* JOB_DONE: the signal that ended it, or 0 */
};

/* Validates the state dir and the name (a DNS label) and fills the paths. */
int job_paths_init(const char *state_dir, const char *name, struct job_paths *p, loam_err *err);

/* True for the verbs a job may run. */
bool job_verb_allowed(const char *verb);

/*
 * Starts words (an allowed verb of this agent and its arguments) with
 * stdin_data, detached, unless a job of that name runs or ended with the
 * same words and stdin (then nothing happens). A finished job with other
 * input is replaced; a running one is a conflict (LOAM_E_CONFLICT). *st is
 * the job's state after up to wait_ms for it to end.
 */
int job_start(const struct job_paths *p, const char *const *words, const char *stdin_data,
	      size_t stdin_len, long wait_ms, struct job_status *st, loam_err *err);

/* The job's state now; after waiting up to wait_ms for a running job. */
void job_read(const struct job_paths *p, long wait_ms, struct job_status *st);

/* {"name", "state", "exit_status", "signal", "stdout", "stderr",
 * "reaped"}; with reap, a job that ended is forgotten (its folder goes). */
json_t *job_status_json(const struct job_paths *p, const struct job_status *st, bool reap);

/* Kills the job (every process of its session) and forgets it. */
int job_cancel(const struct job_paths *p, bool *existed, loam_err *err);

#endif
