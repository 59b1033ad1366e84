/*
 * The error type: a kind and a heap message that grows context as it travels
 * up. Allocation failure while building a message aborts, because no caller
 * can do anything useful with a half-built error.
 */
#include "lib/err.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/xalloc.h"

static struct loam_error *new_error(enum loam_err_kind kind, int sys_errno, char *msg)
{
	struct loam_error *e = xcalloc(1, sizeof(*e));
	e->kind = kind;
	e->sys_errno = sys_errno;
	e->msg = msg;
	return e;
}

int loam_fail(loam_err *err, enum loam_err_kind kind, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *msg = xvasprintf(fmt, ap);
	va_end(ap);
	if (!err) {
		free(msg);
		return -1;
	}
	loam_err_free(err);
	*err = new_error(kind, 0, msg);
	return -1;
}

int loam_fail_errno(loam_err *err, const char *fmt, ...)
{
	int saved = errno;
	va_list ap;
	va_start(ap, fmt);
	char *ctx = xvasprintf(fmt, ap);
	va_end(ap);
	if (!err) {
		free(ctx);
		return -1;
	}
	char *msg = xasprintf("%s: %s", ctx, strerror(saved));
	free(ctx);
	enum loam_err_kind kind = LOAM_E_IO;
	if (saved == ENOENT)
		kind = LOAM_E_NOTFOUND;
	else if (saved == ETIMEDOUT)
		kind = LOAM_E_TIMEOUT;
	else if (saved == ENOSPC || saved == EDQUOT)
		kind = LOAM_E_NOSPACE;
	loam_err_free(err);
	*err = new_error(kind, saved, msg);
	errno = saved;
	return -1;
}

int loam_err_wrap(loam_err *err, const char *fmt, ...)
{
	if (!err)
		return -1;
	va_list ap;
	va_start(ap, fmt);
	char *ctx = xvasprintf(fmt, ap);
	va_end(ap);
	if (!*err) {
		*err = new_error(LOAM_E_INTERNAL, 0, ctx);
		return -1;
	}
	char *msg = xasprintf("%s: %s", ctx, (*err)->msg);
	free(ctx);
	free((*err)->msg);
	(*err)->msg = msg;
	return -1;
}

const char *loam_err_msg(const loam_err err)
{
	return err ? err->msg : "no error";
}

enum loam_err_kind loam_err_kind_of(const loam_err err)
{
	return err ? err->kind : LOAM_E_INTERNAL;
}

const char *loam_err_kind_name(enum loam_err_kind kind)
{
	switch (kind) {
	case LOAM_E_INVALID:
		return "invalid";
	case LOAM_E_NOTFOUND:
		return "not_found";
	case LOAM_E_CONFLICT:
		return "conflict";
	case LOAM_E_IO:
		return "io";
	case LOAM_E_UNAVAILABLE:
		return "unavailable";
	case LOAM_E_AUTH:
		return "unauthorized";
	case LOAM_E_NOCAPACITY:
		return "no_capacity";
	case LOAM_E_TIMEOUT:
		return "timeout";
	case LOAM_E_QUOTA:
		return "quota";
	case LOAM_E_RATELIMIT:
		return "rate_limited";
	case LOAM_E_NOSPACE:
		return "no_space";
	case LOAM_E_INTERNAL:
		break;
	}
	return "internal";
}

int loam_err_exit_status(const loam_err err)
{
	return loam_err_kind_of(err) == LOAM_E_INVALID ? 2 : 1;
}

int loam_err_http_status(const loam_err err)
{
	switch (loam_err_kind_of(err)) {
	case LOAM_E_INVALID:
		return 400;
	case LOAM_E_AUTH:
		return 401;
	case LOAM_E_NOTFOUND:
		return 404;
	case LOAM_E_CONFLICT:
		return 409;
	case LOAM_E_UNAVAILABLE:
	case LOAM_E_NOCAPACITY:
		return 503;
	case LOAM_E_TIMEOUT:
		return 504;
	case LOAM_E_QUOTA:
		return 403;
	case LOAM_E_RATELIMIT:
		return 429;
	case LOAM_E_NOSPACE:
		return 507;
	case LOAM_E_IO:
	case LOAM_E_INTERNAL:
		break;
	}
	return 500;
}

void loam_err_free(loam_err *err)
{
	if (!err || !*err)
		return;
	free((*err)->msg);
	free(*err);
	*err = NULL;
}
