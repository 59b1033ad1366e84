/*
 * struct loam_argv. Allocation failure aborts: an argv is tiny, and a
 * half-built command line must never run.
 */
#include "lib/argv.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void push(struct loam_argv *a, char *word)
{
	if (a->n + 2 > a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 16;
		char **nv = realloc(a->v, cap * sizeof(*nv));
		if (!nv)
			abort();
		a->v = nv;
		a->cap = cap;
	}
	a->v[a->n++] = word;
	a->v[a->n] = NULL;
}

void loam_argv_add(struct loam_argv *a, const char *word)
{
	char *w = strdup(word);
	if (!w)
		abort();
	push(a, w);
}

void loam_argv_addf(struct loam_argv *a, const char *fmt, ...)
{
	char *w = NULL;
	va_list ap;
	va_start(ap, fmt);
	int n = vasprintf(&w, fmt, ap);
	va_end(ap);
	if (n < 0)
		abort();
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
