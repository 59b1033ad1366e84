/*
 * One error type for all of loam, carried up the stack as crun does.
 *
 * A function that can fail returns int (0 on success, -1 on failure) and
 * takes `loam_err *err` as its last argument. On failure it fills *err with
 * a kind (which maps to an exit status and an HTTP status) and a message.
 * Callers add context with loam_err_wrap(), so the final message reads from
 * the outermost operation inwards:
 *   "cloudify h1: upload agent: open /x: Permission denied"
 */
#ifndef LOAM_ERR_H
#define LOAM_ERR_H

#include <stdarg.h>

enum loam_err_kind {
	LOAM_E_INTERNAL = 1, /* a bug or an unexpected system failure */
	LOAM_E_INVALID,	     /* bad input from a user: refused, nothing changed */
	LOAM_E_NOTFOUND,     /* the named thing does not exist */
	LOAM_E_CONFLICT,     /* exists already, in use, or in the wrong state */
	LOAM_E_IO,	     /* a file, process or network operation failed */
	LOAM_E_UNAVAILABLE,  /* a host or database is unreachable or busy; retry */
	LOAM_E_AUTH,	     /* missing or wrong credentials, or a changed host key */
	LOAM_E_NOCAPACITY,   /* the allocator found no host; the message explains */
	LOAM_E_TIMEOUT,	     /* an operation ran out of time */
	LOAM_E_QUOTA,	     /* over a project's quota: refused, nothing changed */
	LOAM_E_RATELIMIT,    /* too many requests of a kind; retry later */
	LOAM_E_NOSPACE,	     /* a disk is full (the database's: 507) */
};
#define LOAM_E_LAST LOAM_E_NOSPACE

struct loam_error {
	enum loam_err_kind kind;
	int sys_errno; /* errno at the failure, or 0 */
	char *msg;
};

typedef struct loam_error *loam_err;

/* Sets *err and returns -1. If *err is already set, it is replaced. */
int loam_fail(loam_err *err, enum loam_err_kind kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Like loam_fail, appending ": strerror(errno)". */
int loam_fail_errno(loam_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prefixes context to an existing error ("ctx: old message"); returns -1. */
int loam_err_wrap(loam_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

const char *loam_err_msg(const loam_err err);
enum loam_err_kind loam_err_kind_of(const loam_err err);
const char *loam_err_kind_name(enum loam_err_kind kind);
/* Exit status for CLIs: 2 for invalid input, 1 otherwise. */
int loam_err_exit_status(const loam_err err);
/* HTTP status for the API. */
int loam_err_http_status(const loam_err err);

void loam_err_free(loam_err *err);

#endif
