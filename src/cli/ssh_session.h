/*
 * Logging in to a VM with OpenSSH for `loam vm ssh` (vm_ssh.c): a private
 * ssh_config and known_hosts in a temp dir, written from what loam
 * recorded (the guest's host keys, the host's pinned key when the VM is
 * on an SSH host and ssh jumps through it), with strict host key checking;
 * then ssh runs by argv and its exit status is the remote command's. A key
 * that does not match what loam recorded ends in a clear error.
 */
#ifndef LOAM_CLI_SSH_SESSION_H
#define LOAM_CLI_SSH_SESSION_H

#include <stddef.h>

#include "lib/err.h"

struct ssh_target {
	const char *vm;		    /* the VM's name, for messages and the key alias */
	const char *address, *user; /* the VM's IPv4 and login user */
	long port;		    /* 0: 22 */
	const char *const *keys;    /* its host keys: "type base64 [comment]" */
	size_t nkeys;
	const char *identity; /* -i KEY, or NULL */
	/* the host to jump through, or jump_address NULL */
	const char *jump_address, *jump_user, *jump_key, *jump_identity;
	long jump_port;
};

/* Checks every field (LOAM_E_INVALID), runs ssh, and returns its exit
 * status in *status (255: ssh's own failure). */
int ssh_session_run(const struct ssh_target *t, char **command, int ncommand, int *status,
		    loam_err *err);

#endif
