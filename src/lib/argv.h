/*
 * A growable, NULL-terminated argv that owns its strings. Used to assemble
 * command lines (QEMU's, remote agent calls) one word at a time, so that no
 * command is ever a string to be split by a shell.
 */
#ifndef LOAM_ARGV_H
#define LOAM_ARGV_H

#include <stddef.h>

struct loam_argv {
	char **v; /* NULL-terminated */
	size_t n, cap;
};

void loam_argv_add(struct loam_argv *a, const char *word);
void loam_argv_addf(struct loam_argv *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void loam_argv_free(struct loam_argv *a);
static inline const char *const *loam_argv_view(const struct loam_argv *a)
{
	return (const char *const *)a->v;
}

#define cleanup_argv __attribute__((cleanup(loam_argv_free)))

#endif
