/*
 * The vm prog, label by label, through the scripted agent on the local
 * transport (vm_prog_t.h): no QEMU and no root, a real SQLite database,
 * the real allocator and the real engine, stepped one label at a time.
 *
 *  - the way up: placement, pins (loam_artifact_pin_vm: VMM, then a
 *    firmware it lists, then storage), the spec vm-prep gets (topology, firmware or direct kernel),
 *    the prep job, vm-start and the readiness wait;
 *  - every label against every signal (stop, start, reboot, destroy),
 *    from a strand held at that label: where it goes next and what the VM
 *    row says (docs/vm.md's life cycle);
 *  - rows that vanish under a strand, at every label.
 *
 * test_vm_prog_faults.c covers agent failures and timeouts, placement and
 * the host watcher; tests/vmprog/vm_flow.sh runs the prog with real guests.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc/alloc.h"
#include "lib/json.h"
#include "lib/log.h"
#include "vm_prog_cases.h"

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
		       "/artifacts/image/loam-tiny.");
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
		     "host_artifact WHERE host_id = 'h1' AND component IN ('image', 'firmware')",
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
		     "path, state, installed_at, updated_at) VALUES ('h1', 'image', 'loam-tiny', "
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
    {"stopped", "start", "prep", "starting"},
    {"stopped", "reboot", "stopped", "stopped"},
    {"stopped", "destroy", "(gone)", NULL},
    {"reboot", "stop", "run", "rebooting"},
    {"reboot", "start", "run", "rebooting"},
    {"reboot", "reboot", "run", "rebooting"},
    {"reboot", "destroy", "(gone)", NULL},
    {"failed", "stop", "failed", "failed"},
    {"failed", "start", "prep", "starting"},
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
	/* set aside, so that what it does next takes no step of the next case */
	cleanup_err loam_err err = NULL;
	CHECK_INT(loam_db_exec(f->db, "UPDATE strand SET schedule = ? WHERE id = ?",
			       DB_ARGS(DB_INT(4102444800000LL), DB_TEXT(id)), NULL, &err),
		  0);
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
		/* a start resumes at prep once placed (pending upgrades apply there) */
		CHECK_LABEL(&f, id, i == 0 ? "start" : "prep");
		CHECK(fx_until_state(&f, id, "running", 20000));
	}
	fx_close(&f);
}

/* A stopped running VM resumes at prep (its versions, then vm-start); its
 * QEMU was stopped once. */
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
	RUN(test_row_gone_at_each_label);
	return t_summary();
}
