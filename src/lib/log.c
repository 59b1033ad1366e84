/*
 * Log sink. One mutex keeps lines whole when worker threads log at once.
 */
#include "lib/log.h"

#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *log_program = "loam";
static bool log_json;
static enum loam_log_level log_min = LOAM_LOG_INFO;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void loam_log_init(const char *program, bool json, enum loam_log_level min_level)
{
	log_program = program;
	log_json = json;
	log_min = min_level;
}

int loam_log_level_parse(const char *s)
{
	for (int i = 0; i < 4; i++)
		if (strcmp(s, level_names[i]) == 0)
			return i;
	return -1;
}

static void emit_json(enum loam_log_level level, const char *msg)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	json_t *rec =
	    json_pack("{s:f, s:s, s:s, s:s}", "ts", (double)ts.tv_sec + (double)ts.tv_nsec / 1e9,
		      "level", level_names[level], "prog", log_program, "msg", msg);
	char *line = rec ? json_dumps(rec, JSON_COMPACT) : NULL;
	if (line)
		fprintf(stderr, "%s\n", line);
	free(line);
	json_decref(rec);
}

void loam_log(enum loam_log_level level, const char *fmt, ...)
{
	if (level < log_min)
		return;
	char *msg = NULL;
	va_list ap;
	va_start(ap, fmt);
	int n = vasprintf(&msg, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	pthread_mutex_lock(&log_lock);
	if (log_json)
		emit_json(level, msg);
	else
		fprintf(stderr, "%s: %s: %s\n", log_program, level_names[level], msg);
	pthread_mutex_unlock(&log_lock);
	free(msg);
}
