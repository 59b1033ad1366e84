/*
 * What a VM's guest is given at creation (its login user and the public
 * keys it may log in with) and what the guest reported back (its SSH host
 * keys, read from its console on first boot). The seed that cloud-init
 * reads is built from the first; `loam vm show` and `loam vm ssh` use the
 * second, so the user's first SSH connection is already verified.
 */
#ifndef LOAM_DB_VM_GUEST_H
#define LOAM_DB_VM_GUEST_H

#include <stddef.h>

#include "db/db.h"
#include "lib/err.h"

#define LOAM_VM_DEFAULT_LOGIN_USER "loam"
/* At most this many login keys per VM (an authorized_keys file stays small). */
#define LOAM_VM_MAX_SSH_KEYS 32

struct loam_vm_login {
	char *user;  /* NULL when the VM was created without a login */
	char **keys; /* canonical OpenSSH lines, in the order given */
	size_t nkeys;
};
void loam_vm_login_free(struct loam_vm_login *l);
#define cleanup_vm_login __attribute__((cleanup(loam_vm_login_free)))

/* Validates the user (a unix user name, not root) and every key line
 * (lib/ssh_key.h), then writes them; call in the VM's create transaction.
 * Bad input fails with LOAM_E_INVALID and writes nothing. */
int loam_vm_login_insert(struct loam_db *db, const char *vm_id, const char *user,
			 const char *const *keys, size_t nkeys, loam_err *err);
/* *out zeroed (user NULL) when the VM has no login. */
int loam_vm_login_load(struct loam_db *db, const char *vm_id, struct loam_vm_login *out,
		       loam_err *err);

struct loam_vm_host_key {
	char *type;	   /* "ssh-ed25519", "ecdsa-sha2-nistp256", ... */
	char *line;	   /* "TYPE BASE64" (no comment): a known_hosts entry's key */
	char *fingerprint; /* "SHA256:..." as ssh-keygen -l prints it */
};
void loam_vm_host_keys_free(struct loam_vm_host_key *keys, size_t n);

/* Parses each line as a public key (lib/ssh_key.h), then replaces the VM's
 * host keys with them in one transaction; one per type, the last wins. */
int loam_vm_host_keys_set(struct loam_db *db, const char *vm_id, const char *const *lines, size_t n,
			  loam_err *err);
/* The VM's host keys by type; free with loam_vm_host_keys_free. */
int loam_vm_host_keys(struct loam_db *db, const char *vm_id, struct loam_vm_host_key **out,
		      size_t *n, loam_err *err);

#endif
