/*
 * Running programs by argv. loam never hands a string to a shell: every
 * program is started with posix_spawn from an argv array, so data can never
 * be parsed as shell syntax. Output is captured, stdin may be fed, and a
 * timeout kills the whole process group.
 */
#ifndef LOAM_SPAWN_H
#define LOAM_SPAWN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "lib/err.h"

struct loam_spawn_opts {
	const char *const *argv; /* argv[0] is looked up in PATH if it has no '/' */
	const char *const *envp; /* NULL: inherit the caller's environment */
	const char *cwd;	 /* NULL: inherit */
	const char *stdin_data;	 /* fed to the child's stdin, then closed; NULL: /dev/null */
	size_t stdin_len;
	int timeout_ms;	     /* 0: no timeout */
	size_t max_output;   /* cap per stream; 0: 64 MiB. Excess is dropped. */
	bool inherit_stdout; /* stream to our stdout instead of capturing */
	bool inherit_stderr; /* stream to our stderr instead of capturing */
};

struct loam_spawn_result {
	int exit_status; /* valid when !signaled && !timed_out */
	int term_signal; /* valid when signaled */
	bool signaled;
	bool timed_out;
	char *out; /* NUL-terminated captured stdout ("" if none) */
	size_t out_len;
	char *err; /* NUL-terminated captured stderr */
	size_t err_len;
};

/*
 * Runs the program to completion. Returns 0 when it could be run and waited
 * for, whatever its exit status; -1 when it could not be started.
 */
int loam_spawn(const struct loam_spawn_opts *opts, struct loam_spawn_result *res, loam_err *err);

/* Convenience: runs and fails unless the exit status is 0; the error carries
 * the program name, the status and the last line of stderr. */
int loam_spawn_ok(const struct loam_spawn_opts *opts, struct loam_spawn_result *res, loam_err *err);

void loam_spawn_result_free(struct loam_spawn_result *res);

/* A program's captured output, as loam_spawn and the SSH transport gather
 * it: capped at max bytes (the excess is dropped), NUL-terminated. */
struct loam_output {
	char *buf;
	size_t len, cap, max;
};
void loam_output_append(struct loam_output *o, const char *data, size_t n);
/* Hands the text over (never NULL, "" when nothing came); *len its length. */
char *loam_output_take(struct loam_output *o, size_t *len);
/* The last non-empty line of s (NULL counts as ""), cut to fit buf: what an
 * error message quotes of a failed program's stderr. */
const char *loam_output_last_line(const char *s, char *buf, size_t cap);

#endif
