/*
 * `loam-host vm-net ID --state-dir DIR` with the VM's "net" object on
 * stdin: applies a changed network (open ports, egress) to a VM that
 * vm-prep gave one. The rules are replaced in one nftables transaction and
 * dnsmasq is restarted only if its config changed, so the guest keeps its
 * tap, its lease and its established connections.
 */
#include <stdio.h>
#include <string.h>

#include "host/net.h"
#include "host/verbs.h"
#include "host/vm.h"
#include "lib/cleanup.h"
#include "lib/fs.h"
#include "lib/json.h"
#include "lib/valid.h"
#include "proto/agent.h"

static int parse_args(int argc, char **argv, const char **id, const char **state_dir, loam_err *err)
{
	*id = *state_dir = NULL;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], LOAM_OPT_STATE_DIR) == 0 && i + 1 < argc)
			*state_dir = argv[++i];
		else if (!*id && argv[i][0] != '-')
			*id = argv[i];
		else
			return loam_fail(err, LOAM_E_INVALID, "unexpected argument '%.64s'",
					 loam_has_unsafe_chars(argv[i]) ? "?" : argv[i]);
	}
	if (!*id || !*state_dir)
		return loam_fail(err, LOAM_E_INVALID,
				 "usage: vm-net ID --state-dir DIR < NET.json");
	return loam_valid_id("VM id", *id, err) < 0 ||
		       loam_valid_abs_path("--state-dir", *state_dir, err) < 0
		   ? -1
		   : 0;
}

static int update(const char *id, const char *state_dir, struct vm_net *n, loam_err *err)
{
	char user[VM_USER_MAX + 1];
	uid_t uid;
	gid_t gid;
	bool found = false;
	if (vm_user_name(id, user, err) < 0 || vm_user_lookup(user, &uid, &gid, &found, err) < 0)
		return -1;
	if (!found)
		return loam_fail(err, LOAM_E_NOTFOUND,
				 "VM %s is not prepared (no user %s); run "
				 "vm-prep",
				 id, user);
	return vm_net_update(state_dir, n, uid, gid, err);
}

int loam_host_verb_vm_net(int argc, char **argv)
{
	cleanup_err loam_err err = NULL;
	const char *id = NULL, *state_dir = NULL;
	cleanup_free char *input = NULL;
	size_t len = 0;
	if (parse_args(argc, argv, &id, &state_dir, &err) < 0 ||
	    loam_read_file("/dev/stdin", 1 << 20, &input, &len, &err) < 0)
		return loam_host_report(LOAM_VERB_VM_NET, &err);
	cleanup_json json_t *j = loam_json_parse(input, len, "the VM's net on stdin", &err);
	cleanup_vm_net struct vm_net n = {0};
	if (!j || vm_net_parse(id, j, &n, &err) < 0 || update(id, state_dir, &n, &err) < 0)
		return loam_host_report(LOAM_VERB_VM_NET, &err);
	cleanup_json json_t *out =
	    json_pack("{s:s, s:o}", LOAM_KEY_ID, id, LOAM_KEY_NET, vm_net_report(&n));
	cleanup_free char *text = loam_json_dump(out);
	printf("%s\n", text);
	return fflush(stdout) == 0 ? 0 : 1;
}
