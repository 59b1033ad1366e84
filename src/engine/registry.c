/*
 * The registry of progs and the outcome constructors. Progs register once
 * at start-up, before any engine thread runs, so lookups need no lock.
 */
#include <stdio.h>
#include <string.h>

#include "engine/internal.h"

#define MAX_PROGS 64

static const struct loam_prog *progs[MAX_PROGS];
static int nprogs;

void loam_engine_register(const struct loam_prog *prog)
{
	if (loam_engine_find_prog(prog->name))
		return; /* registering twice is harmless */
	if (nprogs == MAX_PROGS) {
		fprintf(stderr, "loam: more than %d progs; raise MAX_PROGS\n", MAX_PROGS);
		abort(); /* a build-time limit */
	}
	progs[nprogs++] = prog;
}

const struct loam_prog *loam_engine_find_prog(const char *name)
{
	for (int i = 0; i < nprogs; i++)
		if (strcmp(progs[i]->name, name) == 0)
			return progs[i];
	return NULL;
}

const struct loam_label *loam_engine_find_label(const struct loam_prog *prog, const char *name)
{
	for (const struct loam_label *l = prog->labels; l->name; l++)
		if (strcmp(l->name, name) == 0)
			return l;
	return NULL;
}

const struct loam_prog *loam_engine_prog_at(int i)
{
	return i >= 0 && i < nprogs ? progs[i] : NULL;
}

int loam_engine_check_prog(const struct loam_prog *prog, loam_err *err)
{
	for (const struct loam_label *l = prog->labels; l->name; l++) {
		if (!l->next)
			return loam_fail(err, LOAM_E_INVALID,
					 "prog %s: label %s declares no next labels", prog->name,
					 l->name);
		for (const char *const *n = l->next; *n; n++)
			if (!loam_engine_find_label(prog, *n))
				return loam_fail(err, LOAM_E_INVALID,
						 "prog %s: label %s names next label '%s', which "
						 "the prog does not have",
						 prog->name, l->name, *n);
	}
	return 0;
}

int loam_check_next(const struct loam_label *from, const char *prog, const char *to, loam_err *err)
{
	if (!from->next)
		return 0;
	for (const char *const *n = from->next; *n; n++)
		if (strcmp(*n, to) == 0)
			return 0;
	return loam_fail(err, LOAM_E_INTERNAL,
			 "prog %s: label %s went to '%s', which it does not declare as next", prog,
			 from->name, to);
}

int loam_check_prog_label(const char *prog, const char *label, loam_err *err)
{
	const struct loam_prog *p = loam_engine_find_prog(prog);
	if (!p)
		return loam_fail(err, LOAM_E_INVALID, "no prog named '%s' is registered", prog);
	if (label && !loam_engine_find_label(p, label))
		return loam_fail(err, LOAM_E_INVALID, "prog '%s' has no label '%s'", prog, label);
	return 0;
}

int64_t loam_engine_backoff_ms(int tries)
{
	if (tries < 1)
		tries = 1;
	if (tries > 7)
		return 60000;
	int64_t ms = 1000LL << (tries - 1);
	return ms > 60000 ? 60000 : ms;
}

struct loam_outcome loam_hop(const char *label)
{
	return (struct loam_outcome){.kind = LOAM_OUT_HOP, .label = label};
}

struct loam_outcome loam_nap(int ms)
{
	return (struct loam_outcome){.kind = LOAM_OUT_NAP, .nap_ms = ms < 0 ? 0 : ms};
}

struct loam_outcome loam_push(const char *prog, json_t *frame, const char *resume_label)
{
	return (struct loam_outcome){
	    .kind = LOAM_OUT_PUSH, .child_prog = prog, .child_frame = frame, .label = resume_label};
}

struct loam_outcome loam_pop(json_t *value)
{
	return (struct loam_outcome){.kind = LOAM_OUT_POP, .pop_value = value};
}

struct loam_outcome loam_bud(json_t *buds, const char *resume_label)
{
	return (struct loam_outcome){.kind = LOAM_OUT_BUD, .buds = buds, .label = resume_label};
}
