/*
 * The job verbs (job.h, docs/agent-vm-verbs.md):
 *
 *   job-start NAME --state-dir DIR [--wait-ms N] [--reap] -- VERB ARGS...
 *   job-status NAME --state-dir DIR [--wait-ms N] [--reap]
 *   job-cancel NAME --state-dir DIR
 *
 * job-start is idempotent, so the control plane calls it again to ask how
 * the job is doing: the same words and stdin start nothing new. Each prints
 * one JSON object; --wait-ms (at most 1000) lets a job that ends quickly
 * answer in the same call.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/job.h"
#include "host/verbs.h"
#include "lib/cleanup.h"
#include "lib/fs.h"
#include "lib/json.h"
#include "lib/valid.h"
#include "proto/agent.h"

#define WAIT_MS_MAX 1000
#define STDIN_MAX   (4u << 20)
#define WORDS_MAX   32

struct job_args {
	const char *name, *state_dir;
	long wait_ms;
	bool reap;
	const char *words[WORDS_MAX + 1]; /* job-start: the verb and its arguments */
};

static int parse_wait(const char *v, long *out, loam_err *err)
{
	char *end = NULL;
	*out = strtol(v, &end, 10);
	if (*end || end == v || *out < 0 || *out > WAIT_MS_MAX)
		return loam_fail(err, LOAM_E_INVALID, "%s must be 0..%d", LOAM_OPT_WAIT_MS,
				 WAIT_MS_MAX);
	return 0;
}

static int take_words(int argc, char **argv, int i, struct job_args *a, loam_err *err)
{
	if (argc - i < 1 || argc - i > WORDS_MAX)
		return loam_fail(err, LOAM_E_INVALID, "after %s: a verb and at most %d words",
				 LOAM_OPT_END, WORDS_MAX - 1);
	for (int k = 0; i < argc; i++, k++)
		a->words[k] = argv[i];
	return 0;
}

static int parse_args(int argc, char **argv, bool with_words, struct job_args *a, loam_err *err)
{
	*a = (struct job_args){0};
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], LOAM_OPT_STATE_DIR) == 0 && i + 1 < argc) {
			a->state_dir = argv[++i];
		} else if (strcmp(argv[i], LOAM_OPT_WAIT_MS) == 0 && i + 1 < argc) {
			if (parse_wait(argv[++i], &a->wait_ms, err) < 0)
				return -1;
		} else if (strcmp(argv[i], LOAM_OPT_REAP) == 0) {
			a->reap = true;
		} else if (with_words && strcmp(argv[i], LOAM_OPT_END) == 0) {
			if (take_words(argc, argv, i + 1, a, err) < 0)
				return -1;
			break;
		} else if (!a->name && argv[i][0] != '-') {
			a->name = argv[i];
		} else {
			return loam_fail(err, LOAM_E_INVALID, "unexpected argument '%.64s'",
					 loam_has_unsafe_chars(argv[i]) ? "?" : argv[i]);
		}
	}
	if (!a->state_dir || !a->name)
		return loam_fail(err, LOAM_E_INVALID, "a job name and %s DIR are required",
				 LOAM_OPT_STATE_DIR);
	if (with_words && !a->words[0])
		return loam_fail(err, LOAM_E_INVALID, "job-start needs %s VERB [ARGS...]",
				 LOAM_OPT_END);
	return 0;
}

static int print_json(json_t *j)
{
	cleanup_free char *s = loam_json_dump(j);
	json_decref(j);
	printf("%s\n", s);
	return fflush(stdout) == 0 ? 0 : 1;
}

int loam_host_verb_job_start(int argc, char **argv)
{
	cleanup_err loam_err err = NULL;
	struct job_args a;
	struct job_paths p;
	struct job_status st;
	cleanup_free char *in = NULL;
	size_t len = 0;
	if (parse_args(argc, argv, true, &a, &err) < 0 ||
	    job_paths_init(a.state_dir, a.name, &p, &err) < 0 ||
	    loam_read_file("/dev/stdin", STDIN_MAX, &in, &len, &err) < 0 ||
	    job_start(&p, a.words, in, len, a.wait_ms, &st, &err) < 0)
		return loam_host_report(LOAM_VERB_JOB_START, &err);
	return print_json(job_status_json(&p, &st, a.reap));
}

int loam_host_verb_job_status(int argc, char **argv)
{
	cleanup_err loam_err err = NULL;
	struct job_args a;
	struct job_paths p;
	if (parse_args(argc, argv, false, &a, &err) < 0 ||
	    job_paths_init(a.state_dir, a.name, &p, &err) < 0)
		return loam_host_report(LOAM_VERB_JOB_STATUS, &err);
	struct job_status st;
	job_read(&p, a.wait_ms, &st);
	return print_json(job_status_json(&p, &st, a.reap));
}

int loam_host_verb_job_cancel(int argc, char **argv)
{
	cleanup_err loam_err err = NULL;
	struct job_args a;
	struct job_paths p;
	bool existed = false;
	if (parse_args(argc, argv, false, &a, &err) < 0 ||
	    job_paths_init(a.state_dir, a.name, &p, &err) < 0 || job_cancel(&p, &existed, &err) < 0)
		return loam_host_report(LOAM_VERB_JOB_CANCEL, &err);
	return print_json(
	    json_pack("{s:s, s:b}", LOAM_KEY_NAME, a.name, LOAM_KEY_EXISTED, existed));
}

int loam_host_job_args_check(int argc, char **argv, loam_err *err)
{
	struct job_args a;
	struct job_paths p;
	if (parse_args(argc, argv, true, &a, err) < 0 ||
	    job_paths_init(a.state_dir, a.name, &p, err) < 0)
		return -1;
	return job_verb_allowed(a.words[0])
		   ? 0
		   : loam_fail(err, LOAM_E_INVALID, "a job cannot run that verb");
}
