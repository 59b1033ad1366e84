/*
 * Scope-bound cleanup, as crun does it: a variable declared with one of these
 * attributes is freed or closed when it leaves scope, so early returns on
 * error paths cannot leak. Steal a value out with loam_steal() to keep it.
 */
#ifndef LOAM_CLEANUP_H
#define LOAM_CLEANUP_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <dirent.h>

#include "lib/err.h"

static inline void loam_freep(void *p)
{
	free(*(void **)p);
}

static inline void loam_closep(int *fd)
{
	if (*fd >= 0)
		close(*fd);
}

static inline void loam_fclosep(FILE **f)
{
	if (*f)
		fclose(*f);
}

static inline void loam_closedirp(DIR **d)
{
	if (*d)
		closedir(*d);
}

static inline void loam_err_freep(loam_err *e)
{
	loam_err_free(e);
}

/* Frees a NULL-terminated array of strings and the array. */
static inline void loam_strvfreep(char ***v)
{
	if (!*v)
		return;
	for (char **s = *v; *s; s++)
		free(*s);
	free(*v);
}

#define cleanup_free   __attribute__((cleanup(loam_freep)))
#define cleanup_close  __attribute__((cleanup(loam_closep)))
#define cleanup_fclose __attribute__((cleanup(loam_fclosep)))
#define cleanup_dir    __attribute__((cleanup(loam_closedirp)))
#define cleanup_err    __attribute__((cleanup(loam_err_freep)))
#define cleanup_strv   __attribute__((cleanup(loam_strvfreep)))

/* Returns *pp and sets it to NULL, so cleanup no longer frees it. */
#define loam_steal(pp)                                                                             \
	({                                                                                         \
		__typeof__(*(pp)) _v = *(pp);                                                      \
		*(pp) = NULL;                                                                      \
		_v;                                                                                \
	})

#define loam_steal_fd(pfd)                                                                         \
	({                                                                                         \
		int _fd = *(pfd);                                                                  \
		*(pfd) = -1;                                                                       \
		_fd;                                                                               \
	})

#endif
