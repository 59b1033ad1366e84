/*
 * Fuzzes the agent's stdin protocol for `loam-host vm-prep`: any bytes as
 * the VM spec go through the verb's parsing (JSON, vm_spec_parse and the
 * per-VM paths under a fixed state dir), never its side effects. A spec it
 * accepts has an id, a known arch and sizes within range, and its id gives
 * a VM user name of at most 32 characters.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/cleanup.h"
#include "lib/json.h"
#include "host/vm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_accepted(const struct vm_spec *s)
{
	if (!s->id || !s->arch || loam_arch_by_name(s->arch->name) != s->arch || s->vcpus == 0 ||
	    s->memory_mib == 0)
		abort();
	struct vm_paths p;
	cleanup_err loam_err err = NULL;
	if (vm_paths_init("/var/lib/loam-fuzz", s->id, &p, &err) < 0)
		return;
	if (strlen(p.user) > VM_USER_MAX || strncmp(p.user, "loam-vm-", 8) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cleanup_err loam_err err = NULL;
	cleanup_json json_t *j = loam_json_parse((const char *)data, size, "VM spec", &err);
	if (!j)
		return 0;
	struct vm_spec spec = {0};
	if (vm_spec_parse(j, &spec, &err) < 0) {
		if (!err || !loam_err_msg(err))
			abort();
		return 0;
	}
	check_accepted(&spec);
	vm_spec_free(&spec);
	return 0;
}
