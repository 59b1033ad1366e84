/*
 * The guest part of `vm show`: the login user and the SSH host keys the
 * guest printed on its console (db/vm_guest.h): `ssh_host_keys` lists
 * their fingerprints ("SHA256:...", as ssh-keygen -l prints them, the
 * contract of DESIGN.md), `host_keys` each key whole, which `loam vm ssh`
 * writes into its known_hosts.
 */
#include "api/internal.h"
#include "db/vm_guest.h"
#include "lib/cleanup.h"

int api_vm_guest_view(struct loam_db *db, const struct loam_vm *vm, json_t *v, loam_err *err)
{
	cleanup_vm_login struct loam_vm_login login = {0};
	struct loam_vm_host_key *keys = NULL;
	size_t n = 0;
	if (loam_vm_login_load(db, vm->id, &login, err) < 0 ||
	    loam_vm_host_keys(db, vm->id, &keys, &n, err) < 0)
		return -1;
	json_object_set_new(v, "login_user", login.user ? json_string(login.user) : json_null());
	json_t *fingerprints = json_array(), *list = json_array();
	for (size_t i = 0; i < n; i++) {
		json_array_append_new(fingerprints, json_string(keys[i].fingerprint));
		json_array_append_new(list, json_pack("{s:s, s:s, s:s}", "type", keys[i].type,
						      "fingerprint", keys[i].fingerprint, "key",
						      keys[i].line));
	}
	loam_vm_host_keys_free(keys, n);
	json_object_set_new(v, "ssh_host_keys", fingerprints);
	json_object_set_new(v, "host_keys", list);
	return 0;
}
