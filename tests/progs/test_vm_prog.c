/*
 * The vm prog, label by label, through the scripted agent on the local
 * transport (vm_prog_t.h): no QEMU and no root, a real SQLite database,
 * the real allocator and the real engine, stepped one label at a time.
 *
 *  - the way up: placement, pins (through loam_artifact_pick_for_vm's
 *    rule), the spec vm-prep gets (topology, firmware or direct kernel),
 *    the prep job, vm-start and the readiness wait;
 *  - every label against every signal (stop, start, reboot, destroy),
 *    from a strand held at that label: where it goes next and what the VM
 *    row says (docs/vm.md's life cycle);
 *  - agent failures and timeouts at each step that calls the agent: a
 *    failed call is retried with backoff, prep and vm-start give up after
 *    five tries (prep purges what it made), a VMM that dies fails the VM
 *    with its serial tail, a failed destroy keeps the rows until it works;
 *  - rows that vanish under a strand, at every label;
 *  - the placement queue, TCG and emulation refusals;
 *  - with the host watcher: a prep job's end and a guest's readiness wake
 *    the napping label, which then needs no agent call of its own.
 *
 * tests/vmprog/vm_flow.sh runs the same prog with real guests.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc/alloc.h"
#include "engine/engine.h"
#include "lib/cleanup.h"
#include "lib/json.h"
#include "lib/log.h"
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
static void check_destroyed(struct fx *f, const char *id)
{
	for (int i = 0; i < MAX_STEPS && !fx_done(f, id); i++)
		if (!fx_step(f))
			fx_due(f, id);
	CHECK(fx_done(f, id));
	CHECK_STATE(f, id, "(none)");
	CHECK_INT(fx_int(f, "SELECT count(*) FROM vm_artifact WHERE vm_id = ?", id), 0);
}

static char *boot(struct fx *f, const char *name)
{
	char *id = fx_vm(f, name, "x64", "firmware");
	CHECK(fx_until_state(f, id, "running", 20000));
	return id;
}

/* ---- the way up ---- */

static void test_boot_runs(void)
{
	struct fx f;
	fx_open(&f, "boot", false);
	fx_host(&f, "h1", FAST);
	cleanup_free char *id = boot(&f, "web-1");
	CHECK_LABEL(&f, id, "wait");
	CHECK_INT(fx_int(&f, "SELECT provisioned_at > 0 FROM vm WHERE id = ?", id), 1);
	cleanup_free char *machine = NULL;
	{
		cleanup_rows struct loam_db_rows *r = NULL;
		cleanup_err loam_err err = NULL;
		loam_db_query(f.db, "SELECT guest_machine, host_id FROM vm WHERE id = ?",
			      DB_ARGS(DB_TEXT(id)), &r, &err);
		machine = strdup(loam_db_rows_text(r, 0, 0));
		CHECK_STR(loam_db_rows_text(r, 0, 1), "h1");
	}
	CHECK_STR(machine, "x86_64");
	CHECK_INT(fx_int(&f, "SELECT count(*) FROM vm_artifact WHERE vm_id = ?", id), 4);
	char job[64];
	snprintf(job, sizeof(job), "vm-prep-%s", id);
	CHECK_INT(fx_calls(&f, "h1", "job-start", job), 1); /* ended within the call */
	CHECK_INT(fx_calls(&f, "h1", "vm-start", id), 1);
	CHECK_INT(fx_calls(&f, "h1", "vm-wait-ready", id), 1);
	CHECK_INT(fx_int(&f, "SELECT used_cores FROM host WHERE id = ?", "h1"), 1);
	fx_close(&f);
}

static void test_spec_firmware_and_topology(void)
{
	struct fx f;
	fx_open(&f, "spec", false);
	fx_host(&f, "h1", FAST);
	cleanup_free char *id = boot(&f, "web-1");
	cleanup_free char *text = fx_spec(&f, "h1", id);
	cleanup_json json_t *spec = json_loads(text, 0, NULL);
	CHECK_STR(json_string_value(json_object_get(spec, "name")), "web-1");
	CHECK_INT(json_integer_value(json_object_get(spec, "vcpus")), 2);
	CHECK_INT(json_integer_value(json_object_get(spec, "memory_mib")), 8192);
	CHECK(json_is_false(json_object_get(spec, "kvm")));
	json_t *topo = json_object_get(spec, "topology");
	CHECK_INT(json_integer_value(json_object_get(topo, "threads")), 2); /* SMT, own arch */
	CHECK_INT(json_integer_value(json_object_get(topo, "cores")), 1);
	CHECK_CONTAINS(json_string_value(json_object_get(spec, "image")),
		       "/artifacts/image/loam-guest.");
	CHECK_CONTAINS(json_string_value(json_object_get(spec, "fw_code")), "/artifacts/firmware/");
	CHECK(json_is_null(json_object_get(spec, "direct_kernel")));
	CHECK_CONTAINS(
	    json_string_value(json_object_get(json_object_get(spec, "seed"), "meta-data")),
	    "local-hostname: web-1");
	fx_close(&f);
}

static void test_spec_direct_kernel(void)
{
	struct fx f;
	fx_open(&f, "kernel", false);
	fx_host(&f, "h1", FAST);
	cleanup_free char *id = fx_vm(&f, "fast-1", "x64", "kernel");
	CHECK(fx_until_state(&f, id, "running", 20000));
	cleanup_free char *text = fx_spec(&f, "h1", id);
	cleanup_json json_t *spec = json_loads(text, 0, NULL);
	json_t *dk = json_object_get(spec, "direct_kernel");
	CHECK_CONTAINS(json_string_value(json_object_get(dk, "kernel")), "/vmlinuz");
	CHECK_CONTAINS(json_string_value(json_object_get(dk, "initrd")), "/initrd.img");
	CHECK(json_is_false(json_object_get(dk, "firmware")));
	fx_close(&f);
}

static void test_emulated_arch_has_no_smt(void)
{
	struct fx f;
	fx_open(&f, "emul", false);
	fx_host(&f, "h1", FAST);
	cleanup_err loam_err err = NULL;
	loam_db_exec(f.db, "INSERT INTO host_emulation (host_id, arch) VALUES ('h1', 'arm64'); ",
		     DB_NOARGS, NULL, &err);
	loam_db_exec(f.db,
		     "INSERT INTO host_artifact (host_id, component, name, version, arch, kind, "
		     "path, state, installed_at, updated_at) SELECT host_id, component, name, "
		     "version, 'arm64', kind, path, state, installed_at, updated_at FROM "
		     "host_artifact WHERE host_id = 'h1'",
		     DB_NOARGS, NULL, &err);
	fx_host_set(&f, "h1", "accel", "tcg");
	cleanup_free char *id = fx_vm(&f, "arm-1", "arm64", "firmware");
	CHECK(fx_until_state(&f, id, "running", 20000));
	cleanup_free char *text = fx_spec(&f, "h1", id);
	cleanup_json json_t *spec = json_loads(text, 0, NULL);
	CHECK_INT(json_integer_value(json_object_get(json_object_get(spec, "topology"), "threads")),
		  1);
	CHECK_STR(json_string_value(json_object_get(spec, "arch")), "arm64");
	fx_close(&f);
}

/* A newer installed image is what a new VM gets; a VM keeps its first pin. */
static void test_pins_newest_and_keeps_them(void)
{
	struct fx f;
	fx_open(&f, "pins", false);
	fx_host(&f, "h1", FAST);
	cleanup_free char *a = boot(&f, "old-1");
	cleanup_err loam_err err = NULL;
	loam_db_exec(f.db,
		     "INSERT INTO host_artifact (host_id, component, name, version, arch, kind, "
		     "path, state, installed_at, updated_at) VALUES ('h1', 'image', 'loam-guest', "
		     "'2', 'x64', 'tarball', '/img2', 'installed', 5, 5), ('h1', 'image', "
		     "'other-image', '9', 'x64', 'tarball', '/other', 'installed', 9, 9)",
		     DB_NOARGS, NULL, &err);
	cleanup_free char *b = boot(&f, "new-1");
	CHECK_INT(fx_int(&f,
			 "SELECT version FROM vm_artifact WHERE vm_id = ? AND component = 'image'",
			 a),
		  1);
	CHECK_INT(fx_int(&f,
			 "SELECT version FROM vm_artifact WHERE vm_id = ? AND component = 'image'",
			 b),
		  2); /* the VM's own image by name, not the newest of any name */
	/* stop and start keeps the first pins */
	fx_signal(&f, a, LOAM_SIGNAL_STOP);
	CHECK(fx_until_state(&f, a, "stopped", 10000));
	fx_signal(&f, a, LOAM_SIGNAL_START);
	CHECK(fx_until_state(&f, a, "running", 20000));
	CHECK_INT(fx_int(&f,
			 "SELECT version FROM vm_artifact WHERE vm_id = ? AND component = 'image'",
			 a),
		  1);
	fx_close(&f);
}

/* ---- every label against every signal ---- */

/* Brings a new VM to `label` and leaves it there, its outcome applied. */
static char *reach(struct fx *f, const char *label, const char *name)
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

struct expect {
	const char *label, *signal;
	const char *next;  /* the label after one step; "(gone)": destroyed */
	const char *state; /* the VM's state then */
};

static const struct expect table[] = {
    {"start", "stop", "stopped", "stopped"},
    {"start", "start", "start", "waiting"},
    {"start", "reboot", "start", "waiting"},
    {"start", "destroy", "(gone)", NULL},
    {"prep", "stop", "stopped", "stopped"},
    {"prep", "start", "prep", "preparing"},
    {"prep", "reboot", "prep", "preparing"},
    {"prep", "destroy", "(gone)", NULL},
    {"run", "stop", "stopped", "stopped"},
    {"run", "start", "wait_ready", "booting"},
    {"run", "reboot", "wait_ready", "booting"},
    {"run", "destroy", "(gone)", NULL},
    {"wait_ready", "stop", "stop", "booting"},
    {"wait_ready", "start", "wait_ready", "booting"},
    {"wait_ready", "reboot", "wait_ready", "booting"},
    {"wait_ready", "destroy", "(gone)", NULL},
    {"wait", "stop", "stop", "running"},
    {"wait", "start", "wait", "running"},
    {"wait", "reboot", "reboot", "running"},
    {"wait", "destroy", "(gone)", NULL},
    {"stop", "stop", "stopped", "stopped"},
    {"stop", "start", "stopped", "stopped"},
    {"stop", "reboot", "stopped", "stopped"},
    {"stop", "destroy", "(gone)", NULL},
    {"stopped", "stop", "stopped", "stopped"},
    {"stopped", "start", "run", "starting"},
    {"stopped", "reboot", "stopped", "stopped"},
    {"stopped", "destroy", "(gone)", NULL},
    {"reboot", "stop", "run", "rebooting"},
    {"reboot", "start", "run", "rebooting"},
    {"reboot", "reboot", "run", "rebooting"},
    {"reboot", "destroy", "(gone)", NULL},
    {"failed", "stop", "failed", "failed"},
    {"failed", "start", "run", "starting"},
    {"failed", "reboot", "failed", "failed"},
    {"failed", "destroy", "(gone)", NULL},
    {"destroy", "stop", "(gone)", NULL},
    {"destroy", "start", "(gone)", NULL},
    {"destroy", "reboot", "(gone)", NULL},
    {"destroy", "destroy", "(gone)", NULL},
};

static void check_case(struct fx *f, const struct expect *e, int n)
{
	char name[32];
	snprintf(name, sizeof(name), "%s-%d", e->signal, n);
	for (char *c = name; *c; c++)
		*c = *c == '_' ? '-' : *c;
	cleanup_free char *id = reach(f, e->label, name);
	fx_signal(f, id, e->signal);
	CHECK(fx_step(f));
	if (strcmp(e->next, "(gone)") == 0) {
		check_destroyed(f, id);
		return;
	}
	cleanup_free char *label = fx_label(f, id), *state = fx_state(f, id);
	if (strcmp(label, e->next) != 0 || strcmp(state, e->state) != 0)
		fprintf(stderr, "  %s + %s: went to %s (%s), expected %s (%s)\n", e->label,
			e->signal, label, state, e->next, e->state);
	CHECK_STR(label, e->next);
	CHECK_STR(state, e->state);
	/* the signal is used up or dropped: the strand does not spin on it */
	CHECK_INT(fx_int(f, "SELECT count(*) FROM strand_signal WHERE strand_id = ?", id),
		  strcmp(e->label, "stop") == 0 || strcmp(e->label, "reboot") == 0 ? 1 : 0);
}

static void test_each_label_each_signal(void)
{
	const char *labels[] = {"start", "prep",    "run",    "wait_ready", "wait",
				"stop",	 "stopped", "reboot", "failed",	    "destroy"};
	for (size_t l = 0; l < sizeof(labels) / sizeof(*labels); l++) {
		struct fx f;
		fx_open(&f, labels[l], false);
		fx_host(&f, "h1", FAST);
		int n = 0;
		for (size_t i = 0; i < sizeof(table) / sizeof(*table); i++)
			if (strcmp(table[i].label, labels[l]) == 0)
				check_case(&f, &table[i], n++);
		CHECK_INT(n, 4);
		fx_close(&f);
	}
}

/* What a stop before the boot leaves, and how a start picks it up. */
static void test_early_stop_parks_and_resumes(void)
{
	struct fx f;
	fx_open(&f, "park", false);
	fx_host(&f, "h1", FAST);
	const char *from[] = {"start", "prep", "run"};
	for (size_t i = 0; i < 3; i++) {
		char name[16];
		snprintf(name, sizeof(name), "park-%zu", i);
		cleanup_free char *id = reach(&f, from[i], name);
		fx_signal(&f, id, LOAM_SIGNAL_STOP);
		CHECK(fx_step(&f));
		CHECK_STATE(&f, id, "stopped");
		CHECK_REASON(&f, id, "stopped before it booted");
		CHECK_RESUME(&f, id, from[i]);
		CHECK_INT(fx_calls(&f, "h1", "vm-start", id), 0); /* it never booted */
		fx_script(&f, "h1", FAST);
		fx_host_set(&f, "h1", "allocation_state", "accepting");
		fx_signal(&f, id, LOAM_SIGNAL_START);
		CHECK(fx_step(&f));
		CHECK_LABEL(&f, id, from[i]);
		CHECK(fx_until_state(&f, id, "running", 20000));
	}
	fx_close(&f);
}

/* A stopped running VM resumes at run; its QEMU was stopped once. */
static void test_stop_start_reboot_cycle(void)
{
	struct fx f;
	fx_open(&f, "cycle", false);
	fx_host(&f, "h1", FAST);
	cleanup_free char *id = boot(&f, "cyc-1");
	fx_signal(&f, id, LOAM_SIGNAL_STOP);
	CHECK(fx_until_state(&f, id, "stopped", 10000));
	CHECK_RESUME(&f, id, "run");
	CHECK_INT(fx_calls(&f, "h1", "vm-stop", id), 1);
	fx_signal(&f, id, LOAM_SIGNAL_START);
	CHECK(fx_until_state(&f, id, "running", 20000));
	CHECK_INT(fx_calls(&f, "h1", "vm-start", id), 2);
	fx_signal(&f, id, LOAM_SIGNAL_REBOOT);
	CHECK(fx_step(&f)); /* wait → reboot */
	CHECK(fx_step(&f)); /* reboot: vm-stop, rebooting */
	CHECK_STATE(&f, id, "rebooting");
	CHECK(fx_until_state(&f, id, "running", 20000));
	CHECK_INT(fx_calls(&f, "h1", "vm-stop", id), 2);
	CHECK_INT(fx_calls(&f, "h1", "vm-start", id), 3);
	fx_close(&f);
}

static void test_destroy_cancels_prep_and_purges(void)
{
	struct fx f;
	fx_open(&f, "destroy", false);
	fx_host(&f, "h1", FAST);
	cleanup_free char *id = reach(&f, "prep", "gone-1");
	CHECK_INT(fx_int(&f, "SELECT used_cores FROM host WHERE id = ?", "h1"), 1);
	fx_signal(&f, id, LOAM_SIGNAL_DESTROY);
	check_destroyed(&f, id);
	char job[64];
	snprintf(job, sizeof(job), "vm-prep-%s", id);
	CHECK_INT(fx_calls(&f, "h1", "job-cancel", job), 1);
	CHECK_INT(fx_calls(&f, "h1", "vm-purge", id), 1);
	CHECK_INT(fx_int(&f, "SELECT used_cores FROM host WHERE id = ?", "h1"), 0);
	fx_close(&f);
}

/* A VM placed on a host that never got an agent: nothing to purge. */
static void test_destroy_without_agent(void)
{
	struct fx f;
	fx_open(&f, "noagent", false);
	fx_host(&f, "h1", FAST);
	cleanup_free char *id = reach(&f, "prep", "na-1");
	fx_host_set(&f, "h1", "agent_path", NULL);
	fx_signal(&f, id, LOAM_SIGNAL_DESTROY);
	check_destroyed(&f, id);
	CHECK_INT(fx_calls(&f, "h1", "vm-purge", id), 0);
	fx_close(&f);
}

/* ---- agent failures and timeouts ---- */

/* Steps the strand until its tries reach n, skipping each backoff. */
static void fail_until_tries(struct fx *f, const char *id, int n)
{
	for (int i = 0; i < MAX_STEPS && fx_tries(f, id) < n; i++)
		if (!fx_step(f))
			fx_due(f, id);
}

static void test_prep_call_fails_then_works(void)
{
	struct fx f;
	fx_open(&f, "prepcall", false);
	fx_host(&f, "h1",
		"{\"verbs\": {\"job-start\": {\"fail\": \"disk full\", \"fail_times\": 2}}}");
	cleanup_free char *id = fx_vm(&f, "pc-1", "x64", "firmware");
	CHECK(fx_until_label(&f, id, "prep", MAX_STEPS));
	fail_until_tries(&f, id, 1);
	cleanup_free char *last = fx_last_error(&f, id);
	CHECK_CONTAINS(last, "disk full");
	CHECK_STATE(&f, id, "preparing");
	CHECK(fx_until_state(&f, id, "running", 20000));
	CHECK_INT(fx_tries(&f, id), 0);
	fx_close(&f);
}

static void test_prep_job_fails_five_times(void)
{
	struct fx f;
	fx_open(&f, "prepjob", false);
	fx_host(&f, "h1", "{\"prep\": {\"fail\": \"image is world-writable\"}}");
	cleanup_free char *id = fx_vm(&f, "pj-1", "x64", "firmware");
	CHECK(fx_until_label(&f, id, "prep", MAX_STEPS));
	for (int i = 0; i < MAX_STEPS && !fx_done(&f, id); i++) {
		cleanup_free char *label = fx_label(&f, id);
		if (strcmp(label, "failed") == 0)
			break;
		if (!fx_step(&f))
			fx_due(&f, id);
	}
	CHECK_STATE(&f, id, "failed");
	CHECK_REASON(&f, id, "prep failed after 5 tries");
	CHECK_REASON(&f, id, "world-writable");
	CHECK_RESUME(&f, id, "prep");
	CHECK_INT(fx_calls(&f, "h1", "vm-purge", id), 1); /* nothing of it left on the host */
	/* the cause fixed, start prepares it again */
	fx_script(&f, "h1", FAST);
	fx_signal(&f, id, LOAM_SIGNAL_START);
	CHECK(fx_until_state(&f, id, "running", 20000));
	fx_close(&f);
}

static void test_prep_unreachable_agent_gives_up(void)
{
	struct fx f;
	fx_open(&f, "noexec", false);
	fx_host(&f, "h1", FAST);
	cleanup_free char *id = fx_vm(&f, "ne-1", "x64", "firmware");
	CHECK(fx_until_label(&f, id, "prep", MAX_STEPS));
	fx_host_set(&f, "h1", "agent_path", "/nonexistent/loam-host");
	for (int i = 0; i < MAX_STEPS; i++) {
		cleanup_free char *label = fx_label(&f, id);
		if (strcmp(label, "failed") == 0)
			break;
		if (!fx_step(&f))
			fx_due(&f, id);
	}
	CHECK_STATE(&f, id, "failed");
	CHECK_REASON(&f, id, "prep failed after 5 tries");
	CHECK_REASON(&f, id, "removed on destroy"); /* the purge could not run either */
	fx_close(&f);
}

static void test_vm_start_fails(void)
{
	struct fx f;
	fx_open(&f, "start", false);
	fx_host(&f, "h1", "{\"verbs\": {\"vm-start\": {\"fail\": \"qemu: no memory\"}}}");
	cleanup_free char *id = fx_vm(&f, "vs-1", "x64", "firmware");
	CHECK(fx_until_label(&f, id, "run", MAX_STEPS));
	for (int i = 0; i < MAX_STEPS; i++) {
		cleanup_free char *label = fx_label(&f, id);
		if (strcmp(label, "failed") == 0)
			break;
		if (!fx_step(&f))
			fx_due(&f, id);
	}
	CHECK_STATE(&f, id, "failed");
	CHECK_REASON(&f, id, "the VMM did not start");
	CHECK_REASON(&f, id, "qemu: no memory");
	CHECK_RESUME(&f, id, "run");
	CHECK_INT(fx_calls(&f, "h1", "vm-start", id), 5);
	fx_script(&f, "h1", FAST);
	fx_signal(&f, id, LOAM_SIGNAL_START);
	CHECK(fx_until_state(&f, id, "running", 20000));
	fx_close(&f);
}

static void test_vm_start_fails_twice_then_runs(void)
{
	struct fx f;
	fx_open(&f, "start2", false);
	fx_host(&f, "h1", "{\"verbs\": {\"vm-start\": {\"fail\": \"busy\", \"fail_times\": 2}}}");
	cleanup_free char *id = fx_vm(&f, "vs-2", "x64", "firmware");
	CHECK(fx_until_label(&f, id, "run", MAX_STEPS));
	fail_until_tries(&f, id, 2);
	CHECK_STATE(&f, id, "preparing");
	CHECK(fx_until_state(&f, id, "running", 20000));
	CHECK_INT(fx_calls(&f, "h1", "vm-start", id), 3);
	fx_close(&f);
}

/* A call that outlives the agent timeout is killed and retried. */
static void test_agent_timeout(void)
{
	struct fx f;
	fx_open(&f, "timeout", false);
	f.app.agent_timeout_ms = 300;
	fx_host(&f, "h1", "{\"verbs\": {\"vm-wait-ready\": {\"delay_ms\": 3000}}}");
	cleanup_free char *id = fx_vm(&f, "to-1", "x64", "firmware");
	CHECK(fx_until_label(&f, id, "wait_ready", MAX_STEPS));
	fail_until_tries(&f, id, 1);
	cleanup_free char *last = fx_last_error(&f, id);
	CHECK_CONTAINS(last, "timed out");
	CHECK_STATE(&f, id, "booting");
	fx_script(&f, "h1", FAST);
	CHECK(fx_until_state(&f, id, "running", 20000));
	fx_close(&f);
}

static void test_prep_call_timeout(void)
{
	struct fx f;
	fx_open(&f, "preptimeout", false);
	f.app.agent_timeout_ms = 300;
	fx_host(&f, "h1", "{\"verbs\": {\"job-start\": {\"delay_ms\": 3000}}}");
	cleanup_free char *id = fx_vm(&f, "pt-1", "x64", "firmware");
	CHECK(fx_until_label(&f, id, "prep", MAX_STEPS));
	fail_until_tries(&f, id, 1);
	cleanup_free char *last = fx_last_error(&f, id);
	CHECK_CONTAINS(last, "timed out");
	fx_script(&f, "h1", FAST);
	CHECK(fx_until_state(&f, id, "running", 20000));
	fx_close(&f);
}

static void test_vmm_exits_during_boot(void)
{
	struct fx f;
	fx_open(&f, "exitboot", false);
	fx_host(&f, "h1", "{\"ready_ms\": 600000, \"vmm_dies_ms\": 0}");
	cleanup_free char *id = fx_vm(&f, "eb-1", "x64", "firmware");
	CHECK(fx_until_state(&f, id, "failed", 20000));
	CHECK_REASON(&f, id, "the VMM exited during boot");
	CHECK_REASON(&f, id, "serial console tail:\nbooting");
	CHECK_RESUME(&f, id, "run");
	fx_close(&f);
}

static void test_vmm_dies_while_running(void)
{
	struct fx f;
	fx_open(&f, "dies", false);
	fx_host(&f, "h1", FAST);
	cleanup_free char *id = boot(&f, "vd-1");
	fx_script(&f, "h1", "{\"vmm_dies_ms\": 0}");
	fx_due(&f, id);
	CHECK(fx_step(&f));
	CHECK_LABEL(&f, id, "wait"); /* the first checkup waits its turn */
	CHECK_INT(fx_calls(&f, "h1", "vm-wait-ready", id), 1);
	cleanup_err loam_err err = NULL;
	loam_db_exec(f.db, "UPDATE strand SET stack = replace(stack, '\"checkup_at\"', '\"x\"')",
		     DB_NOARGS, NULL, &err);
	fx_due(&f, id);
	CHECK(fx_until_state(&f, id, "failed", 10000));
	CHECK_REASON(&f, id, "the VMM died");
	CHECK_RESUME(&f, id, "run");
	fx_script(&f, "h1", FAST);
	fx_signal(&f, id, LOAM_SIGNAL_START);
	CHECK(fx_until_state(&f, id, "running", 20000));
	fx_close(&f);
}

/* A checkup that cannot reach the agent is no failure of the VM. */
static void test_checkup_failure_keeps_running(void)
{
	struct fx f;
	fx_open(&f, "checkup", false);
	fx_host(&f, "h1", FAST);
	cleanup_free char *id = boot(&f, "cu-1");
	fx_script(&f, "h1", "{\"verbs\": {\"vm-wait-ready\": {\"fail\": \"no route\"}}}");
	cleanup_err loam_err err = NULL;
	loam_db_exec(f.db, "UPDATE strand SET stack = replace(stack, '\"checkup_at\"', '\"x\"')",
		     DB_NOARGS, NULL, &err);
	for (int i = 0; i < 3; i++) {
		fx_due(&f, id);
		CHECK(fx_step(&f));
	}
	CHECK_STATE(&f, id, "running");
	CHECK_LABEL(&f, id, "wait");
	CHECK_INT(fx_tries(&f, id), 0);
	fx_close(&f);
}

static void test_stop_call_fails_then_works(void)
{
	struct fx f;
	fx_open(&f, "stopfail", false);
	fx_host(&f, "h1", FAST);
	cleanup_free char *id = boot(&f, "sf-1");
	fx_script(&f, "h1",
		  "{\"verbs\": {\"vm-stop\": {\"fail\": \"qmp gone\", \"fail_times\": 1}}}");
	fx_signal(&f, id, LOAM_SIGNAL_STOP);
	CHECK(fx_step(&f)); /* wait → stop */
	CHECK(fx_step(&f)); /* stop fails */
	CHECK_LABEL(&f, id, "stop");
	CHECK_INT(fx_tries(&f, id), 1);
	CHECK_STATE(&f, id, "running");
	CHECK(fx_until_state(&f, id, "stopped", 10000));
	fx_close(&f);
}

static void test_destroy_purge_fails_keeps_rows(void)
{
	struct fx f;
	fx_open(&f, "purgefail", false);
	fx_host(&f, "h1", FAST);
	cleanup_free char *id = boot(&f, "pf-1");
	fx_script(&f, "h1", "{\"verbs\": {\"vm-purge\": {\"fail\": \"userdel: busy\"}}}");
	fx_signal(&f, id, LOAM_SIGNAL_DESTROY);
	CHECK(fx_step(&f)); /* → destroy */
	fail_until_tries(&f, id, 2);
	CHECK_STATE(&f, id, "destroying");
	cleanup_free char *last = fx_last_error(&f, id);
	CHECK_CONTAINS(last, "userdel: busy");
	CHECK_INT(fx_int(&f, "SELECT used_cores FROM host WHERE id = ?", "h1"), 1);
	fx_script(&f, "h1", FAST);
	check_destroyed(&f, id);
	CHECK_INT(fx_int(&f, "SELECT used_cores FROM host WHERE id = ?", "h1"), 0);
	fx_close(&f);
}

static void test_destroy_cancel_fails_keeps_rows(void)
{
	struct fx f;
	fx_open(&f, "cancelfail", false);
	fx_host(&f, "h1", FAST);
	cleanup_free char *id = reach(&f, "prep", "cf-1");
	fx_script(&f, "h1",
		  "{\"verbs\": {\"job-cancel\": {\"fail\": \"locked\", \"fail_times\": 1}}}");
	fx_signal(&f, id, LOAM_SIGNAL_DESTROY);
	CHECK(fx_step(&f));
	fail_until_tries(&f, id, 1);
	CHECK_STATE(&f, id, "destroying");
	CHECK_INT(fx_calls(&f, "h1", "vm-purge", id), 0); /* never purge under a live prep */
	check_destroyed(&f, id);
	fx_close(&f);
}

/* ---- rows that vanish ---- */

static void test_row_gone_at_each_label(void)
{
	const char *labels[] = {"start", "prep",    "run",    "wait_ready", "wait",
				"stop",	 "stopped", "reboot", "failed",	    "destroy"};
	struct fx f;
	fx_open(&f, "gone", false);
	fx_host(&f, "h1", FAST);
	for (size_t i = 0; i < sizeof(labels) / sizeof(*labels); i++) {
		char name[16];
		snprintf(name, sizeof(name), "gone-%zu", i);
		cleanup_free char *id = reach(&f, labels[i], name);
		cleanup_err loam_err err = NULL;
		/* as the API removes a VM without a strand: release, then delete */
		CHECK_INT(loam_alloc_release(f.app.alloc, f.db, id, &err), 0);
		loam_db_exec(f.db, "DELETE FROM vm_artifact WHERE vm_id = ?", DB_ARGS(DB_TEXT(id)),
			     NULL, &err);
		loam_db_exec(f.db, "DELETE FROM vm WHERE id = ?", DB_ARGS(DB_TEXT(id)), NULL, &err);
		fx_due(&f, id);
		CHECK(fx_step(&f));
		CHECK(fx_done(&f, id));
		cleanup_free char *exitval =
		    NULL; /* "gone", or "destroyed" when destroy had begun */
		{
			cleanup_rows struct loam_db_rows *r = NULL;
			loam_db_query(f.db, "SELECT exitval FROM strand WHERE id = ?",
				      DB_ARGS(DB_TEXT(id)), &r, &err);
			exitval = strdup(loam_db_rows_count(r) ? loam_db_rows_text(r, 0, 0) : "");
		}
		CHECK_CONTAINS(exitval, strcmp(labels[i], "destroy") == 0 ? "destroyed" : "gone");
	}
	fx_close(&f);
}

/* ---- placement ---- */

static void test_no_capacity_waits_with_reason(void)
{
	struct fx f;
	fx_open(&f, "cap", false);
	fx_host(&f, "h1", FAST);
	fx_host_set(&f, "h1", "allocation_state", "draining");
	cleanup_free char *id = fx_vm(&f, "cap-1", "x64", "firmware");
	CHECK(fx_step(&f));
	CHECK_STATE(&f, id, "waiting");
	CHECK_REASON(&f, id, "waiting for capacity");
	CHECK_INT(fx_int(&f, "SELECT host_id IS NULL FROM vm WHERE id = ?", id), 1);
	fx_host_set(&f, "h1", "allocation_state", "accepting");
	CHECK(fx_until_state(&f, id, "running", 20000));
	fx_close(&f);
}

static void test_queue_is_fifo_and_wakes_the_next(void)
{
	struct fx f;
	fx_open(&f, "queue", false);
	fx_host(&f, "h1", FAST);
	fx_host_set(&f, "h1", "allocation_state", "draining");
	cleanup_free char *a = fx_vm(&f, "q-a", "x64", "firmware");
	usleep(2000);
	cleanup_free char *b = fx_vm(&f, "q-b", "x64", "firmware");
	CHECK(fx_step(&f));
	CHECK(fx_step(&f));
	CHECK_REASON(&f, b, "queue behind VM q-a");
	CHECK_REASON(&f, a, "waiting for capacity");
	fx_host_set(&f, "h1", "allocation_state", "accepting");
	fx_due(&f, a);
	CHECK(fx_step(&f)); /* a is placed and wakes b at once */
	CHECK(fx_int(&f, "SELECT host_id IS NOT NULL FROM vm WHERE id = ?", a) == 1);
	CHECK(fx_int(&f, "SELECT schedule FROM strand WHERE id = ?", b) <= loam_db_now_ms());
	/* a VM stopped in the queue leaves it: the one behind goes first */
	fx_host_set(&f, "h1", "allocation_state", "draining");
	cleanup_free char *c = fx_vm(&f, "q-c", "x64", "firmware");
	usleep(2000);
	cleanup_free char *d = fx_vm(&f, "q-d", "x64", "firmware");
	CHECK(fx_until_label(&f, d, "start", MAX_STEPS));
	fx_signal(&f, c, LOAM_SIGNAL_STOP);
	CHECK(fx_until_state(&f, c, "stopped", 5000));
	fx_host_set(&f, "h1", "allocation_state", "accepting");
	CHECK(fx_until_state(&f, d, "running", 20000));
	CHECK_INT(fx_int(&f, "SELECT host_id IS NULL FROM vm WHERE id = ?", c), 1);
	fx_close(&f);
}

static void test_tcg_not_allowed_fails_with_the_fix(void)
{
	struct fx f;
	fx_open(&f, "tcg", false);
	fx_host(&f, "h1", FAST);
	cleanup_free char *id = fx_vm(&f, "tcg-1", "x64", "firmware");
	CHECK(fx_until_label(&f, id, "prep", MAX_STEPS));
	fx_host_set(&f, "h1", "allow_tcg", "0");
	CHECK(fx_step(&f));
	CHECK_STATE(&f, id, "failed");
	CHECK_REASON(&f, id, "loam host set h1 --allow-tcg");
	CHECK_RESUME(&f, id, "prep");
	fx_host_set(&f, "h1", "allow_tcg", "1");
	fx_signal(&f, id, LOAM_SIGNAL_START);
	CHECK(fx_until_state(&f, id, "running", 20000));
	fx_close(&f);
}

static void test_missing_image_is_a_prep_failure(void)
{
	struct fx f;
	fx_open(&f, "noimage", false);
	fx_host(&f, "h1", FAST);
	cleanup_err loam_err err = NULL;
	loam_db_exec(f.db, "DELETE FROM host_artifact WHERE component = 'image'", DB_NOARGS, NULL,
		     &err);
	cleanup_free char *id = fx_vm(&f, "ni-1", "x64", "firmware");
	CHECK(fx_until_label(&f, id, "prep", MAX_STEPS));
	fail_until_tries(&f, id, 1);
	cleanup_free char *last = fx_last_error(&f, id);
	CHECK_CONTAINS(last, "no image for x64 is installed on the VM's host");
	fx_close(&f);
}

/* ---- with the host watcher ---- */

static void test_watcher_wakes_prep_and_boot(void)
{
	struct fx f;
	fx_open(&f, "watch", true);
	fx_host(&f, "h1", "{\"prep_ms\": 800, \"ready_ms\": 800}");
	cleanup_free char *id = fx_vm(&f, "w-1", "x64", "firmware");
	CHECK(fx_until_state(&f, id, "running", 30000));
	char job[64];
	snprintf(job, sizeof(job), "vm-prep-%s", id);
	/* started, then asked once more when the watcher said it ended: no poll */
	CHECK_INT(fx_calls(&f, "h1", "job-start", job), 2);
	/* the guest's readiness came with the watcher's event: one call only */
	CHECK_INT(fx_calls(&f, "h1", "vm-wait-ready", id), 1);
	CHECK(fx_calls(&f, "h1", "watch", NULL) >= 2);
	fx_close(&f);
}

/* A guest that dies while watched is reported like a dead one polled. */
static void test_watcher_reports_a_dead_vmm(void)
{
	struct fx f;
	fx_open(&f, "watchdead", true);
	fx_host(&f, "h1", "{\"ready_ms\": 600000, \"vmm_dies_ms\": 600}");
	cleanup_free char *id = fx_vm(&f, "wd-1", "x64", "firmware");
	CHECK(fx_until_state(&f, id, "failed", 30000));
	CHECK_REASON(&f, id, "the VMM exited during boot");
	CHECK_INT(fx_calls(&f, "h1", "vm-wait-ready", id), 1);
	fx_close(&f);
}

/* What the watcher saw of an earlier boot is not taken for the next one. */
static void test_watcher_forgets_an_old_boot(void)
{
	struct fx f;
	fx_open(&f, "watchold", true);
	fx_host(&f, "h1", SLOW_BOOT);
	cleanup_free char *id = fx_vm(&f, "wo-1", "x64", "firmware");
	CHECK(fx_until_label(&f, id, "wait_ready", MAX_STEPS));
	CHECK(fx_step(&f)); /* registers with the watcher, naps */
	fx_signal(&f, id, LOAM_SIGNAL_STOP);
	CHECK(fx_until_state(&f, id, "stopped", 10000));
	usleep(700 * 1000); /* the watcher sees the QEMU gone */
	fx_signal(&f, id, LOAM_SIGNAL_START);
	CHECK(fx_until_label(&f, id, "wait_ready", MAX_STEPS));
	CHECK(fx_step(&f));
	CHECK_STATE(&f, id, "booting"); /* not failed by the stale event */
	fx_close(&f);
}

int main(void)
{
	loam_log_init("test_vm_prog", false, LOAM_LOG_ERROR);
	signal(SIGPIPE, SIG_IGN); /* an agent may exit before reading its stdin, as in loamd */
	loam_progs_register_all();
	RUN(test_boot_runs);
	RUN(test_spec_firmware_and_topology);
	RUN(test_spec_direct_kernel);
	RUN(test_emulated_arch_has_no_smt);
	RUN(test_pins_newest_and_keeps_them);
	RUN(test_each_label_each_signal);
	RUN(test_early_stop_parks_and_resumes);
	RUN(test_stop_start_reboot_cycle);
	RUN(test_destroy_cancels_prep_and_purges);
	RUN(test_destroy_without_agent);
	RUN(test_prep_call_fails_then_works);
	RUN(test_prep_job_fails_five_times);
	RUN(test_prep_unreachable_agent_gives_up);
	RUN(test_vm_start_fails);
	RUN(test_vm_start_fails_twice_then_runs);
	RUN(test_agent_timeout);
	RUN(test_prep_call_timeout);
	RUN(test_vmm_exits_during_boot);
	RUN(test_vmm_dies_while_running);
	RUN(test_checkup_failure_keeps_running);
	RUN(test_stop_call_fails_then_works);
	RUN(test_destroy_purge_fails_keeps_rows);
	RUN(test_destroy_cancel_fails_keeps_rows);
	RUN(test_row_gone_at_each_label);
	RUN(test_no_capacity_waits_with_reason);
	RUN(test_queue_is_fifo_and_wakes_the_next);
	RUN(test_tcg_not_allowed_fails_with_the_fix);
	RUN(test_missing_image_is_a_prep_failure);
	RUN(test_watcher_wakes_prep_and_boot);
	RUN(test_watcher_reports_a_dead_vmm);
	RUN(test_watcher_forgets_an_old_boot);
	return t_summary();
}
