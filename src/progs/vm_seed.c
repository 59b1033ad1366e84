/*
 * The NoCloud seed's user-data of a VM: its hostname and, for a VM created
 * with a login, the user (passwordless sudo, password locked) with its
 * keys; password login and root login off. cloud-init reads
 * `#cloud-config` YAML, and JSON is YAML, so the document is built with
 * jansson: a key's comment or a user name can never become YAML syntax.
 * A VM without a login gets an empty user list (no image default user).
 */
#include "db/vm_guest.h"
#include "lib/cleanup.h"
#include "lib/json.h"
#include "lib/xalloc.h"
#include "progs/vm_prog.h"

static json_t *login_user(const struct loam_vm_login *l)
{
	json_t *keys = json_array();
	for (size_t i = 0; i < l->nkeys; i++)
		json_array_append_new(keys, json_string(l->keys[i]));
	return json_pack("{s:s, s:s, s:s, s:b, s:o}", "name", l->user, "shell", "/bin/bash", "sudo",
			 "ALL=(ALL) NOPASSWD:ALL", "lock_passwd", true, "ssh_authorized_keys",
			 keys);
}

char *vm_seed_user_data(const char *hostname, const struct loam_vm_login *l)
{
	json_t *users = json_array();
	if (l->user)
		json_array_append_new(users, login_user(l));
	cleanup_json json_t *doc = json_pack("{s:s, s:o, s:b, s:b}", "hostname", hostname, "users",
					     users, "ssh_pwauth", false, "disable_root", true);
	cleanup_free char *text = xalloc_check(json_dumps(doc, JSON_SORT_KEYS | JSON_INDENT(1)));
	return xasprintf("#cloud-config\n%s\n", text);
}
