/*
 * Allocation that cannot fail, for the few places where running out of
 * memory leaves nothing sensible to do: the process dies with a message
 * instead of each caller repeating `if (!p) abort();`. Code that can report
 * an error upward should still use plain malloc and loam_fail.
 */
#ifndef LOAM_XALLOC_H
#define LOAM_XALLOC_H

#include <stdarg.h>
#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *p, size_t n);
/* NULL in, NULL out. */
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *xvasprintf(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));
/* Returns p, or ends the process as the functions above do when p is NULL:
 * for what a library allocated (json_dumps, ssh_new). */
void *xalloc_check(void *p);

#endif
