/*
 * OpenSSH public keys as one line ("TYPE BASE64 [COMMENT]"): the keys a
 * user logs in with and the host keys a guest prints on its console. Both
 * reach a guest's authorized_keys or a user's known_hosts, so a line is
 * taken only when its type is one OpenSSH signs with, its base64 decodes,
 * and the decoded blob names the same type (what sshd itself checks).
 */
#ifndef LOAM_SSH_KEY_H
#define LOAM_SSH_KEY_H

#include <stddef.h>

#include "lib/err.h"

/* OpenSSH's limit for one authorized_keys line is 8 KiB (RSA 16384 fits). */
#define LOAM_SSH_KEY_MAX 8192
/* "SHA256:" and 43 characters of unpadded base64. */
#define LOAM_SSH_FINGERPRINT_LEN 50

struct loam_ssh_key {
	char *type;    /* "ssh-ed25519", "ecdsa-sha2-nistp256", ... */
	char *blob64;  /* the base64 of the key blob, as given */
	char *comment; /* "" when none; printable ASCII only */
	char fingerprint[LOAM_SSH_FINGERPRINT_LEN + 1]; /* "SHA256:..." as ssh-keygen -l */
};

/* Parses one line (surrounding blanks and a trailing newline allowed).
 * `what` names it in the error ("SSH key in id_ed25519.pub"). */
int loam_ssh_key_parse(const char *what, const char *line, struct loam_ssh_key *out, loam_err *err);
void loam_ssh_key_free(struct loam_ssh_key *k);
#define cleanup_ssh_key __attribute__((cleanup(loam_ssh_key_free)))

/* "TYPE BASE64[ COMMENT]", freshly allocated: the canonical line. */
char *loam_ssh_key_line(const struct loam_ssh_key *k);

#endif
