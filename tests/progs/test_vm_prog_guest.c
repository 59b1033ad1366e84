/*
 * What the vm prog does for a guest people log in to, through the scripted
 * agent (vm_prog_t.h), a real SQLite database and the real engine:
 *  - the NoCloud user-data: the VM's hostname, its login user with
 *    passwordless sudo and its keys, password login off, built as JSON so
 *    that nothing in a key's comment becomes YAML; no user without a login;
 *  - the host keys the agent read from the console are stored when the VM
 *    turns running (`loam vm ssh` pins them);
 *  - a guest that never prints its readiness line fails at its deadline,
 *    with the console's tail in the reason, and its VMM is stopped.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "db/vm_guest.h"
#include "lib/json.h"
#include "lib/log.h"
#include "vm_prog_cases.h"

#define ED25519 "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEokYMmkxG8DkJ6ogFyrxb/JsaU8/UqqdcjqHZ1xXSH8"
/* A comment that would be YAML if pasted into a document. */
#define USER_KEY ED25519 " me@x: {a: [b]} # &anchor"

/* The user-data document vm-prep got, without its "#cloud-config" line. */
static json_t *user_data(struct fx *f, const char *id)
{
	cleanup_free char *text = fx_spec(f, "h1", id);
	cleanup_json json_t *spec = json_loads(text, 0, NULL);
	const char *ud =
	    json_string_value(json_object_get(json_object_get(spec, "seed"), "user-data"));
	CHECK(ud && strncmp(ud, "#cloud-config\n", 14) == 0);
	return ud ? json_loads(ud + 14, 0, NULL) : NULL;
}

static void test_seed_has_the_login(void)
{
	struct fx f;
	fx_open(&f, "seed", false);
	fx_host(&f, "h1", FAST);
	cleanup_free char *id = fx_vm(&f, "web-1", "x64", "firmware");
	const char *keys[] = {USER_KEY};
	cleanup_err loam_err err = NULL;
	CHECK(loam_vm_login_insert(f.db, id, "alice", keys, 1, &err) == 0);
	CHECK(fx_until_state(&f, id, "running", 20000));
	cleanup_json json_t *doc = user_data(&f, id);
	CHECK_STR(json_string_value(json_object_get(doc, "hostname")), "web-1");
	CHECK(json_is_false(json_object_get(doc, "ssh_pwauth")));
	json_t *u = json_array_get(json_object_get(doc, "users"), 0);
	CHECK_STR(json_string_value(json_object_get(u, "name")), "alice");
	CHECK_STR(json_string_value(json_object_get(u, "sudo")), "ALL=(ALL) NOPASSWD:ALL");
	CHECK(json_is_true(json_object_get(u, "lock_passwd")));
	CHECK_STR(json_string_value(json_array_get(json_object_get(u, "ssh_authorized_keys"), 0)),
		  USER_KEY);
	fx_close(&f);
}

static void test_no_login_no_user(void)
{
	struct fx f;
	fx_open(&f, "nologin", false);
	fx_host(&f, "h1", FAST);
	cleanup_free char *id = boot(&f, "web-2");
	cleanup_json json_t *doc = user_data(&f, id);
	CHECK(json_is_array(json_object_get(doc, "users")));
	CHECK_INT(json_array_size(json_object_get(doc, "users")), 0);
	fx_close(&f);
}

static void test_host_keys_stored_when_running(void)
{
	struct fx f;
	fx_open(&f, "hostkeys", false);
	fx_host(&f, "h1", "{\"host_keys\": [\"" ED25519 "\"]}");
	cleanup_free char *id = boot(&f, "web-3");
	struct loam_vm_host_key *keys = NULL;
	size_t n = 0;
	cleanup_err loam_err err = NULL;
	CHECK(loam_vm_host_keys(f.db, id, &keys, &n, &err) == 0);
	CHECK_INT(n, 1);
	if (n == 1) {
		CHECK_STR(keys[0].line, ED25519);
		CHECK_STR(keys[0].type, "ssh-ed25519");
		CHECK(strncmp(keys[0].fingerprint, "SHA256:", 7) == 0);
	}
	loam_vm_host_keys_free(keys, n);
	fx_close(&f);
}

static void test_boot_deadline_fails_with_the_console(void)
{
	struct fx f;
	fx_open(&f, "deadline", false);
	fx_host(&f, "h1", SLOW_BOOT);
	cleanup_free char *id = fx_vm(&f, "slow-1", "x64", "firmware");
	CHECK(fx_until_label(&f, id, "wait_ready", MAX_STEPS));
	/* The deadline the run label set, moved into the past. */
	CHECK(fx_int(&f,
		     "SELECT json_extract(stack, '$[#-1].state.boot_deadline') > 0 FROM strand "
		     "WHERE id = ?",
		     id) == 1);
	cleanup_err loam_err err = NULL;
	CHECK(
	    loam_db_exec(f.db,
			 "UPDATE strand SET stack = json_set(stack, '$[#-1].state.boot_deadline', "
			 "1) WHERE id = ?",
			 DB_ARGS(DB_TEXT(id)), NULL, &err) == 0);
	CHECK(fx_until_state(&f, id, "failed", 20000));
	cleanup_free char *why = fx_reason(&f, id);
	CHECK_CONTAINS(why, "no readiness line from the guest within 600 s");
	CHECK_CONTAINS(why, "serial console tail:\nbooting");
	CHECK_INT(fx_calls(&f, "h1", "vm-stop", id), 1);
	fx_close(&f);
}

int main(void)
{
	loam_log_init("test_vm_prog_guest", false, LOAM_LOG_ERROR);
	signal(SIGPIPE, SIG_IGN); /* an agent may exit before reading its stdin, as in loamd */
	loam_progs_register_all();
	RUN(test_seed_has_the_login);
	RUN(test_no_login_no_user);
	RUN(test_host_keys_stored_when_running);
	RUN(test_boot_deadline_fails_with_the_console);
	return t_summary();
}
