/*
 * `loam vm show NAME [--json]`: one VM, with guest_machine, artifacts, its
 * login user and its guest's SSH host key fingerprints (one line per key,
 * its type beside it: what to compare with ssh's prompt; --json has the
 * keys whole as host_keys).
 */
#include "cli/verbs.h"

#include <stdio.h>

#include "lib/cleanup.h"
#include "lib/json.h"

static void print_vm(const json_t *doc)
{
	cleanup_json json_t *rest = json_deep_copy(doc);
	json_object_del(rest, "host_keys");
	json_object_del(rest, "ssh_host_keys");
	loam_cli_print_fields(rest);
	const json_t *keys = json_object_get(doc, "host_keys");
	if (json_array_size(keys) == 0) {
		printf("%-22s %s\n", "ssh_host_keys", "- (not read from the guest's console yet)");
		return;
	}
	size_t i;
	const json_t *k;
	json_array_foreach(keys, i, k)
	{
		printf("%-22s %s %s\n", i ? "" : "ssh_host_keys", loam_cli_str(k, "fingerprint"),
		       loam_cli_str(k, "type"));
	}
}

int loam_vm_show(int argc, char **argv)
{
	return loam_cli_show_with(argc, argv, "loam vm show NAME [--project P] [--json]", "/v1/vms",
				  print_vm);
}
