/*
 * struct loam_argv. Allocation failure aborts: an argv is tiny, and a
 * half-built command line must never run.
 */
#include "lib/argv.h"

#include <stdarg.h>
#include <stdlib.h>

#include "lib/xalloc.h"

static void push(struct loam_argv *a, char *word)
{
	if (a->n + 2 > a->cap) {
		a->cap = a->cap ? a->cap * 2 : 16;
		a->v = xrealloc(a->v, a->cap * sizeof(*a->v));
	}
	a->v[a->n++] = word;
	a->v[a->n] = NULL;
}

void loam_argv_add(struct loam_argv *a, const char *word)
{
	push(a, xstrdup(word));
}

void loam_argv_addf(struct loam_argv *a, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *w = xvasprintf(fmt, ap);
	va_end(ap);
	push(a, w);
}

void loam_argv_free(struct loam_argv *a)
{
	for (size_t i = 0; i < a->n; i++)
		free(a->v[i]);
	free(a->v);
	a->v = NULL;
	a->n = a->cap = 0;
}
