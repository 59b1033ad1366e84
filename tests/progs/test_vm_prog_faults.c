/*
 * The vm prog under agent failures and timeouts, in its placement queue,
 * and with the host watcher, through the scripted agent on the local
 * transport (vm_prog_t.h) with a real SQLite database, the real allocator
 * and the real engine:
 *
 *  - at each step that calls the agent, a failed call is retried with
 *    backoff, a call past the agent timeout is killed and retried, prep and
 *    vm-start give up after five tries (prep purges what it made), a VMM
 *    that dies fails the VM with its serial tail, a checkup that cannot
 *    reach the host is no failure, a failed destroy keeps the rows (and
 *    never purges under a live prep job) until it works;
 *  - the queue is first come first served, a placed VM wakes the next, a
 *    VM stopped in the queue leaves it; TCG refused says which
 *    `loam host set` to run; a missing image is a prep failure;
 *  - a prep job's end and a guest's readiness wake the napping label,
 *    which then needs no agent call of its own, and an event of an earlier
 *    boot is not taken for the next.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/log.h"
#include "vm_prog_cases.h"

/* ---- agent failures and timeouts ---- */

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

/* The storage daemon's supervisor gave up: the VM fails with its reason
 * (the daemon's log tail) and its VMM is stopped. */
static void test_storage_gives_up_while_running(void)
{
	struct fx f;
	fx_open(&f, "storage", false);
	fx_host(&f, "h1", FAST);
	cleanup_free char *id = boot(&f, "sg-1");
	fx_script(&f, "h1",
		  "{\"storage_failed\": \"the storage daemon failed 3 times in a row; its "
		  "log ends:\\nno such file\"}");
	cleanup_err loam_err err = NULL;
	loam_db_exec(f.db, "UPDATE strand SET stack = replace(stack, '\"checkup_at\"', '\"x\"')",
		     DB_NOARGS, NULL, &err);
	fx_due(&f, id);
	CHECK(fx_until_state(&f, id, "failed", 10000));
	CHECK_REASON(&f, id,
		     "the storage daemon failed 3 times in a row; its log ends:\nno such file");
	CHECK_INT(fx_calls(&f, "h1", "vm-stop", id), 1);
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
	loam_log_init("test_vm_prog_faults", false, LOAM_LOG_ERROR);
	signal(SIGPIPE, SIG_IGN); /* an agent may exit before reading its stdin, as in loamd */
	loam_progs_register_all();
	RUN(test_prep_call_fails_then_works);
	RUN(test_prep_job_fails_five_times);
	RUN(test_prep_unreachable_agent_gives_up);
	RUN(test_vm_start_fails);
	RUN(test_vm_start_fails_twice_then_runs);
	RUN(test_agent_timeout);
	RUN(test_prep_call_timeout);
	RUN(test_vmm_exits_during_boot);
	RUN(test_vmm_dies_while_running);
	RUN(test_storage_gives_up_while_running);
	RUN(test_checkup_failure_keeps_running);
	RUN(test_stop_call_fails_then_works);
	RUN(test_destroy_purge_fails_keeps_rows);
	RUN(test_destroy_cancel_fails_keeps_rows);
	RUN(test_no_capacity_waits_with_reason);
	RUN(test_queue_is_fifo_and_wakes_the_next);
	RUN(test_tcg_not_allowed_fails_with_the_fix);
	RUN(test_missing_image_is_a_prep_failure);
	RUN(test_watcher_wakes_prep_and_boot);
	RUN(test_watcher_reports_a_dead_vmm);
	RUN(test_watcher_forgets_an_old_boot);
	return t_summary();
}
