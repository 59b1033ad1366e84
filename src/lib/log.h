/*
 * Logging for all three binaries. Human-readable lines on a terminal
 * ("loamd: warn: host h1 unreachable"), JSON lines with --log-json so that
 * log shippers get structured records. Logs go to stderr; stdout is kept for
 * a command's own output (JSON that callers parse).
 */
#ifndef LOAM_LOG_H
#define LOAM_LOG_H

#include <stdbool.h>

enum loam_log_level { LOAM_LOG_DEBUG, LOAM_LOG_INFO, LOAM_LOG_WARN, LOAM_LOG_ERROR };

void loam_log_init(const char *program, bool json, enum loam_log_level min_level);
void loam_log(enum loam_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Parses "debug", "info", "warn" or "error"; returns -1 for anything else. */
int loam_log_level_parse(const char *s);

#define log_debug(...) loam_log(LOAM_LOG_DEBUG, __VA_ARGS__)
#define log_info(...)  loam_log(LOAM_LOG_INFO, __VA_ARGS__)
#define log_warn(...)  loam_log(LOAM_LOG_WARN, __VA_ARGS__)
#define log_error(...) loam_log(LOAM_LOG_ERROR, __VA_ARGS__)

#endif
