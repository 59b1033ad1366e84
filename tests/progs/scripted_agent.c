/*
 * loam-host-scripted: a stand-in for the agent (loam-host) that answers the
 * VM verbs the vm prog uses, with the same words and JSON (proto/agent.h),
 * without QEMU or root: a VM is a small state file, a prep job finishes
 * after a set time, a guest is "ready" a set time after vm-start. What it
 * does is scripted per host by DIR/script.json (DIR: --state-dir), so a
 * unit test can make any verb slow, failing or hanging, and the 200-VM
 * benchmark can simulate many hosts. For tests and benchmarks only.
 *
 * DIR/script.json (every key optional):
 *   {"mode": "async" | "blocking",  // blocking: job-start waits for the
 *                                   // job's end and vm-wait-ready up to 3 s,
 *                                   // as the verbs did before jobs and watch
 *    "prep_ms": 0, "ready_ms": 0,   // how long a prep job / a boot takes
 *    "vmm_dies_ms": -1,             // QEMU dies this long after vm-start
 *    "storage_failed": "message",   // its storage supervisor gave up
 *    "machine": "x86_64",
 *    "host_keys": ["TYPE BASE64"],  // reported once ready, as the console's
 *    "verbs": {"VERB": {"delay_ms": N, "fail": "message", "exit": 1,
 *                       "fail_times": N}},   // N: only the first N calls
 *    "prep": {"fail": "message", "fail_times": N, "hang": true}}
 *
 * State: DIR/sim/vm-<id>.json, DIR/sim/job-<name>.json, DIR/sim/count-<verb>,
 * DIR/sim/spec-<id>.json (the last vm-prep spec of the VM);
 * every call is appended to DIR/calls.log as "VERB [ID]".
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/fs.h"
#include "lib/json.h"
#include "lib/xalloc.h"
#include "proto/agent.h"

#define BLOCKING_SLICE_MS 3000
#define WATCH_POLL_MS	  10

struct call {
	const char *verb, *id, *dir, *name;
	long timeout_s, wait_ms, timeout_ms;
	bool reap;
	const char *job_verb;
	const char *items[64];
	bool item_job[64];
	int nitems;
	json_t *script;
};

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int64_t ms)
{
	if (ms <= 0)
		return;
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static json_t *load(const char *path)
{
	json_t *j = json_load_file(path, 0, NULL);
	return j ? j : json_object();
}

static void save(const char *path, json_t *j)
{
	cleanup_free char *tmp = xasprintf("%s.new.%d", path, (int)getpid());
	if (json_dump_file(j, tmp, JSON_COMPACT) == 0)
		rename(tmp, path);
}

static char *sim_path(const struct call *c, const char *kind, const char *name)
{
	cleanup_free char *dir = xasprintf("%s/sim", c->dir);
	mkdir(dir, 0700);
	return xasprintf("%s/%s-%s.json", dir, kind, name);
}

static int64_t script_int(const json_t *o, const char *key, int64_t dflt)
{
	json_t *v = json_object_get(o, key);
	return json_is_integer(v) ? json_integer_value(v) : dflt;
}

static bool blocking(const struct call *c)
{
	const char *m = json_string_value(json_object_get(c->script, "mode"));
	return m && strcmp(m, "blocking") == 0;
}

/* How many calls of `what` came before this one (a file-locked counter). */
static long count_call(const struct call *c, const char *what)
{
	cleanup_free char *path = sim_path(c, "count", what);
	cleanup_close int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0 || flock(fd, LOCK_EX) < 0)
		return 0;
	char buf[32] = "";
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	long before = n > 0 ? strtol(buf, NULL, 10) : 0;
	int len = snprintf(buf, sizeof(buf), "%ld\n", before + 1);
	if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, (size_t)len, 0) < 0)
		return before;
	return before;
}

/* The scripted failure of `what` for this call, or NULL. */
static const char *scripted_failure(const struct call *c, const json_t *rule, const char *what,
				    int *exit_status)
{
	const char *fail = json_string_value(json_object_get(rule, "fail"));
	long times = (long)script_int(rule, "fail_times", -1);
	*exit_status = (int)script_int(rule, "exit", LOAM_AGENT_EXIT_FAILED);
	if (!fail)
		return NULL;
	return times < 0 || count_call(c, what) < times ? fail : NULL;
}

static void log_call(const struct call *c)
{
	cleanup_free char *path = xasprintf("%s/calls.log", c->dir);
	FILE *f = fopen(path, "ae");
	if (!f)
		return;
	fprintf(f, "%s%s%s\n", c->verb, c->id || c->name ? " " : "",
		c->id	  ? c->id
		: c->name ? c->name
			  : "");
	fclose(f);
}

static int print(json_t *j)
{
	cleanup_free char *s = loam_json_dump(j);
	json_decref(j);
	printf("%s\n", s);
	return 0;
}

/* ---- VMs ---- */

struct vm {
	bool prepared, running, ready;
	int64_t started_at;
};

static struct vm vm_read(const struct call *c, const char *id)
{
	cleanup_free char *path = sim_path(c, "vm", id);
	cleanup_json json_t *j = load(path);
	struct vm v = {.prepared = json_is_true(json_object_get(j, "prepared")),
		       .running = json_is_true(json_object_get(j, "running")),
		       .started_at = script_int(j, "started_at", 0)};
	int64_t dies = script_int(c->script, "vmm_dies_ms", -1);
	int64_t up = now_ms() - v.started_at;
	if (v.running && dies >= 0 && up >= dies)
		v.running = false;
	v.ready = v.running && up >= script_int(c->script, "ready_ms", 0);
	return v;
}

static void vm_write(const struct call *c, const char *id, const struct vm *v)
{
	cleanup_free char *path = sim_path(c, "vm", id);
	cleanup_json json_t *j = json_pack("{s:b, s:b, s:I}", "prepared", v->prepared, "running",
					   v->running, "started_at", (json_int_t)v->started_at);
	save(path, j);
}

/* The storage daemon's object: null unless the script says it gave up. */
static json_t *storage_status(const struct call *c)
{
	const char *failed = json_string_value(json_object_get(c->script, "storage_failed"));
	if (!failed)
		return json_null();
	return json_pack("{s:n, s:n, s:b, s:i, s:s}", LOAM_KEY_SUPERVISOR, LOAM_KEY_PID,
			 LOAM_KEY_RUNNING, 0, LOAM_KEY_RESTARTS, 3, LOAM_KEY_FAILED, failed);
}

static json_t *vm_status(const struct call *c, const char *id)
{
	struct vm v = vm_read(c, id);
	const char *machine = json_string_value(json_object_get(c->script, "machine"));
	json_t *keys = json_object_get(c->script, "host_keys");
	return json_pack("{s:s, s:b, s:b, s:o, s:n, s:b, s:o, s:s, s:o, s:o}", LOAM_KEY_ID, id,
			 LOAM_KEY_EXISTS, v.prepared, LOAM_KEY_RUNNING, v.running, LOAM_KEY_PID,
			 v.running ? json_integer(4242) : json_null(), LOAM_KEY_QMP, LOAM_KEY_READY,
			 v.ready, LOAM_KEY_GUEST_MACHINE,
			 v.ready ? json_string(machine ? machine : "x86_64") : json_null(),
			 LOAM_KEY_SERIAL_TAIL, v.ready ? LOAM_READY_MARK "x86_64" : "booting",
			 LOAM_KEY_STORAGE, storage_status(c), LOAM_KEY_HOST_KEYS,
			 v.ready && keys ? json_deep_copy(keys) : json_array());
}

static int vm_start(const struct call *c)
{
	struct vm v = vm_read(c, c->id);
	if (!v.prepared) {
		fprintf(stderr, "loam-host: vm-start: VM %s is not prepared; run vm-prep\n", c->id);
		return LOAM_AGENT_EXIT_FAILED;
	}
	bool started = !v.running;
	if (started)
		v = (struct vm){.prepared = true, .running = true, .started_at = now_ms()};
	vm_write(c, c->id, &v);
	return print(json_pack("{s:s, s:i, s:b}", LOAM_KEY_ID, c->id, LOAM_KEY_PID, 4242,
			       LOAM_KEY_STARTED, started));
}

static int vm_wait_ready(const struct call *c)
{
	int64_t slice = blocking(c) ? BLOCKING_SLICE_MS : c->timeout_s * 1000;
	int64_t until = now_ms() + slice;
	struct vm v = vm_read(c, c->id);
	while (v.running && !v.ready && now_ms() < until) {
		sleep_ms(WATCH_POLL_MS);
		v = vm_read(c, c->id);
	}
	json_t *st = vm_status(c, c->id);
	json_object_set_new(st, LOAM_KEY_TIMED_OUT, json_boolean(v.running && !v.ready));
	return print(st);
}

static int vm_status_verb(const struct call *c)
{
	return print(vm_status(c, c->id));
}

static int vm_stop(const struct call *c)
{
	struct vm v = vm_read(c, c->id);
	bool was = v.running;
	v.running = false;
	vm_write(c, c->id, &v);
	return print(json_pack("{s:s, s:b, s:s?}", LOAM_KEY_ID, c->id, LOAM_KEY_WAS_RUNNING, was,
			       LOAM_KEY_STOPPED_BY, was ? "quit" : NULL));
}

static int vm_purge(const struct call *c)
{
	cleanup_free char *path = sim_path(c, "vm", c->id);
	bool existed = access(path, F_OK) == 0;
	unlink(path);
	return print(json_pack("{s:s, s:b, s:b}", LOAM_KEY_ID, c->id, LOAM_KEY_EXISTED, existed,
			       LOAM_KEY_PURGED, 1));
}

/* ---- jobs ---- */

/* The job's state; a prep job that ended well marks its VM prepared. */
static const char *job_state(const struct call *c, const char *name, json_t *job, int *exit_status,
			     const char **fail)
{
	*fail = NULL;
	*exit_status = -1;
	if (!json_object_get(job, "started_at"))
		return LOAM_JOB_ABSENT;
	const json_t *rule = json_object_get(c->script, "prep");
	int64_t ends = script_int(job, "started_at", 0) + script_int(c->script, "prep_ms", 0);
	if (json_is_true(json_object_get(rule, "hang")) || now_ms() < ends)
		return LOAM_JOB_RUNNING;
	*exit_status = (int)script_int(job, "exit", 0);
	*fail = json_string_value(json_object_get(job, "fail"));
	const char *vm = json_string_value(json_object_get(job, "vm"));
	if (vm && *exit_status == 0) {
		struct vm v = vm_read(c, vm);
		v.prepared = true;
		vm_write(c, vm, &v);
	}
	(void)name;
	return LOAM_JOB_DONE;
}

static json_t *job_answer(const struct call *c, const char *name, json_t *job)
{
	int code = -1;
	const char *fail = NULL;
	const char *state = job_state(c, name, job, &code, &fail);
	bool done = strcmp(state, LOAM_JOB_DONE) == 0;
	cleanup_free char *err = fail ? xasprintf("loam-host: vm-prep: %s\n", fail) : NULL;
	json_t *a =
	    json_pack("{s:s, s:s, s:o, s:n, s:s, s:s, s:b}", LOAM_KEY_NAME, name, LOAM_KEY_STATE,
		      state, LOAM_KEY_EXIT_STATUS, done ? json_integer(code) : json_null(),
		      LOAM_KEY_SIGNAL, LOAM_KEY_STDOUT, done && code == 0 ? "{}" : "",
		      LOAM_KEY_STDERR, err ? err : "", LOAM_KEY_REAPED, done && c->reap);
	if (done && c->reap) {
		cleanup_free char *path = sim_path(c, "job", name);
		unlink(path);
	}
	return a;
}

/* A new job: its outcome is scripted now, its end comes prep_ms later. */
static json_t *job_new(const struct call *c)
{
	cleanup_free char *in = NULL;
	size_t len = 0;
	cleanup_err loam_err err = NULL;
	loam_read_file("/dev/stdin", 1 << 20, &in, &len, &err);
	cleanup_json json_t *spec = in ? json_loads(in, 0, NULL) : NULL;
	int code = 0;
	const char *fail = scripted_failure(c, json_object_get(c->script, "prep"), "prep", &code);
	json_t *job =
	    json_pack("{s:I, s:i}", "started_at", (json_int_t)now_ms(), "exit", fail ? code : 0);
	if (fail)
		json_object_set_new(job, "fail", json_string(fail));
	const char *vm = json_string_value(json_object_get(spec, LOAM_KEY_ID));
	if (vm && strcmp(c->job_verb, LOAM_VERB_VM_PREP) == 0) {
		json_object_set_new(job, "vm", json_string(vm));
		/* the last spec a VM was prepared with, for the tests to read */
		cleanup_free char *path = sim_path(c, "spec", vm);
		save(path, spec);
	}
	return job;
}

static int job_start(const struct call *c)
{
	cleanup_free char *path = sim_path(c, "job", c->name);
	cleanup_json json_t *job = load(path);
	if (!json_object_get(job, "started_at")) {
		json_decref(job);
		job = job_new(c);
		save(path, job);
	}
	int64_t ends = script_int(job, "started_at", 0) + script_int(c->script, "prep_ms", 0);
	int64_t wait = blocking(c) ? ends - now_ms() : c->wait_ms;
	sleep_ms(wait < ends - now_ms() ? wait : ends - now_ms());
	return print(job_answer(c, c->name, job));
}

static int job_cancel(const struct call *c)
{
	cleanup_free char *path = sim_path(c, "job", c->name);
	bool existed = access(path, F_OK) == 0;
	unlink(path);
	return print(json_pack("{s:s, s:b}", LOAM_KEY_NAME, c->name, LOAM_KEY_EXISTED, existed));
}

/* ---- watch ---- */

static void collect(const struct call *c, json_t *events)
{
	for (int i = 0; i < c->nitems; i++) {
		if (!c->item_job[i]) {
			struct vm v = vm_read(c, c->items[i]);
			if (!v.running || v.ready)
				json_array_append_new(
				    events, json_pack("{s:s, s:o}", LOAM_KEY_VM, c->items[i],
						      LOAM_KEY_STATUS, vm_status(c, c->items[i])));
			continue;
		}
		cleanup_free char *path = sim_path(c, "job", c->items[i]);
		cleanup_json json_t *job = load(path);
		int code;
		const char *fail;
		const char *state = job_state(c, c->items[i], job, &code, &fail);
		if (strcmp(state, LOAM_JOB_RUNNING) != 0)
			json_array_append_new(events,
					      json_pack("{s:s, s:s}", LOAM_KEY_JOB, c->items[i],
							LOAM_KEY_STATE, state));
	}
}

static int watch(const struct call *c)
{
	int64_t until = now_ms() + c->timeout_ms;
	json_t *events = json_array();
	for (collect(c, events); json_array_size(events) == 0 && now_ms() < until;
	     collect(c, events))
		sleep_ms(WATCH_POLL_MS);
	return print(json_pack("{s:o, s:b}", LOAM_KEY_EVENTS, events, LOAM_KEY_TIMED_OUT,
			       json_array_size(events) == 0));
}

/* ---- main ---- */

static void parse(int argc, char **argv, struct call *c)
{
	*c = (struct call){.verb = argv[1], .timeout_ms = 1000};
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : "";
		if (strcmp(a, LOAM_OPT_END) == 0) {
			c->job_verb = v;
			break;
		}
		if (strcmp(a, LOAM_OPT_REAP) == 0)
			c->reap = true;
		else if (strcmp(a, LOAM_OPT_STATE_DIR) == 0)
			c->dir = argv[++i];
		else if (strcmp(a, LOAM_OPT_TIMEOUT) == 0)
			c->timeout_s = strtol(argv[++i], NULL, 10);
		else if (strcmp(a, LOAM_OPT_WAIT_MS) == 0)
			c->wait_ms = strtol(argv[++i], NULL, 10);
		else if (strcmp(a, LOAM_OPT_TIMEOUT_MS) == 0)
			c->timeout_ms = strtol(argv[++i], NULL, 10);
		else if ((strcmp(a, LOAM_OPT_VM) == 0 || strcmp(a, LOAM_OPT_JOB) == 0) &&
			 c->nitems < 64) {
			c->item_job[c->nitems] = strcmp(a, LOAM_OPT_JOB) == 0;
			c->items[c->nitems++] = argv[++i];
		} else if (strncmp(c->verb, "job-", 4) == 0 && !c->name)
			c->name = a;
		else if (!c->id)
			c->id = a;
	}
}

static int dispatch(const struct call *c)
{
	static const struct {
		const char *verb;
		int (*fn)(const struct call *);
	} verbs[] = {
	    {LOAM_VERB_VM_START, vm_start},	   {LOAM_VERB_VM_WAIT_READY, vm_wait_ready},
	    {LOAM_VERB_VM_STATUS, vm_status_verb}, {LOAM_VERB_VM_STOP, vm_stop},
	    {LOAM_VERB_VM_PURGE, vm_purge},	   {LOAM_VERB_JOB_START, job_start},
	    {LOAM_VERB_JOB_CANCEL, job_cancel},	   {LOAM_VERB_WATCH, watch}};
	for (size_t i = 0; i < sizeof(verbs) / sizeof(*verbs); i++)
		if (strcmp(c->verb, verbs[i].verb) == 0)
			return verbs[i].fn(c);
	fprintf(stderr, "loam-host: unknown verb '%s'\n", c->verb);
	return LOAM_AGENT_EXIT_INVALID;
}

int main(int argc, char **argv)
{
	struct call c;
	if (argc < 2)
		return LOAM_AGENT_EXIT_INVALID;
	parse(argc, argv, &c);
	if (!c.dir) {
		fprintf(stderr, "loam-host: %s: --state-dir DIR is required\n", c.verb);
		return LOAM_AGENT_EXIT_INVALID;
	}
	cleanup_free char *script = xasprintf("%s/script.json", c.dir);
	c.script = load(script);
	log_call(&c);
	const json_t *rule = json_object_get(json_object_get(c.script, "verbs"), c.verb);
	sleep_ms(script_int(rule, "delay_ms", 0));
	int code = 0;
	const char *fail = scripted_failure(&c, rule, c.verb, &code);
	int rc = code;
	if (fail)
		fprintf(stderr, "loam-host: %s: %s\n", c.verb, fail);
	else
		rc = dispatch(&c);
	json_decref(c.script);
	return rc;
}
