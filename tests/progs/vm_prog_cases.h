/*
 * What both VM prog test files share (test_vm_prog.c: the way up, every
 * label against every signal, rows that vanish; test_vm_prog_faults.c:
 * agent failures and timeouts, placement, the host watcher): scripts for
 * the scripted agent, checks on the VM row and strand, and bringing a VM
 * to a given label. Static, like t.h, so the checks count in the test
 * that includes it.
 */
#ifndef LOAM_TESTS_VM_PROG_CASES_H
#define LOAM_TESTS_VM_PROG_CASES_H

#include <string.h>

#include "engine/engine.h"
#include "lib/cleanup.h"
#include "progs/progs.h"
#include "t.h"
#include "vm_prog_t.h"

#define FAST	  "{}"
#define SLOW_PREP "{\"prep_ms\": 600000}"
#define SLOW_BOOT "{\"ready_ms\": 600000}"
#define MAX_STEPS 60

#define CHECK_STATE(f, id, want)                                                                   \
	do {                                                                                       \
		cleanup_free char *_s = fx_state(f, id);                                           \
		CHECK_STR(_s, want);                                                               \
	} while (0)

#define CHECK_LABEL(f, id, want)                                                                   \
	do {                                                                                       \
		cleanup_free char *_l = fx_label(f, id);                                           \
		CHECK_STR(_l, want);                                                               \
	} while (0)

#define CHECK_REASON(f, id, part)                                                                  \
	do {                                                                                       \
		cleanup_free char *_r = fx_reason(f, id);                                          \
		CHECK_CONTAINS(_r, part);                                                          \
	} while (0)

#define CHECK_RESUME(f, id, want)                                                                  \
	do {                                                                                       \
		cleanup_free char *_r = fx_frame(f, id, "resume");                                 \
		CHECK_STR(_r, want);                                                               \
	} while (0)

/* Runs the strand to its end: its rows gone, the strand done. */
static inline void check_destroyed(struct fx *f, const char *id)
{
	for (int i = 0; i < MAX_STEPS && !fx_done(f, id); i++)
		if (!fx_step(f))
			fx_due(f, id);
	CHECK(fx_done(f, id));
	CHECK_STATE(f, id, "(none)");
	CHECK_INT(fx_int(f, "SELECT count(*) FROM vm_artifact WHERE vm_id = ?", id), 0);
}

static inline char *boot(struct fx *f, const char *name)
{
	char *id = fx_vm(f, name, "x64", "firmware");
	CHECK(fx_until_state(f, id, "running", 20000));
	return id;
}

/* Brings a new VM to `label` and leaves it there, its outcome applied. */
static inline char *reach(struct fx *f, const char *label, const char *name)
{
	bool queued = strcmp(label, "start") == 0;
	bool held_prep = strcmp(label, "prep") == 0;
	bool held_boot = strcmp(label, "wait_ready") == 0;
	bool fails = strcmp(label, "failed") == 0;
	fx_script(f, "h1",
		  held_prep   ? SLOW_PREP
		  : held_boot ? SLOW_BOOT
		  : fails     ? "{\"ready_ms\": 600000, \"vmm_dies_ms\": 0}"
			      : FAST);
	fx_host_set(f, "h1", "allocation_state", queued ? "draining" : "accepting");
	char *id = fx_vm(f, name, "x64", "firmware");
	const char *via = strcmp(label, "stop") == 0 || strcmp(label, "stopped") == 0 ? "stop"
			  : strcmp(label, "reboot") == 0			      ? "reboot"
			  : strcmp(label, "destroy") == 0			      ? "destroy"
										      : NULL;
	if (via) {
		CHECK(fx_until_label(f, id, "wait", MAX_STEPS));
		fx_signal(f, id, via);
		CHECK(fx_step(f));
		if (strcmp(label, "stopped") == 0)
			CHECK(fx_step(f));
	} else {
		CHECK(fx_until_label(f, id, label, MAX_STEPS));
		if (queued || held_prep || held_boot) /* let it start waiting */
			CHECK(fx_step(f));
	}
	CHECK_LABEL(f, id, label);
	return id;
}

/* Steps the strand until its tries reach n, skipping each backoff. */
static inline void fail_until_tries(struct fx *f, const char *id, int n)
{
	for (int i = 0; i < MAX_STEPS && fx_tries(f, id) < n; i++)
		if (!fx_step(f))
			fx_due(f, id);
}

#endif
