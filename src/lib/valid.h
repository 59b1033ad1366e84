/*
 * Input validation shared by the CLI, the API and the agent. Every name that
 * can reach a host (VM names, host names, users, paths) passes through here
 * first, so nothing with shell metacharacters, control characters or an
 * unexpected length is ever acted on.
 */
#ifndef LOAM_VALID_H
#define LOAM_VALID_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/err.h"

#define LOAM_NAME_MAX 63

/* A resource name: 1..63 chars of [a-z0-9-], starting with a letter or
 * digit, not ending with '-' (a DNS label). `what` names it in the error. */
int loam_valid_name(const char *what, const char *s, loam_err *err);
/* An id of loam's (a VM id, as the agent sees it): 1..63 lower-case letters
 * and digits. `what` names it in the error. */
int loam_valid_id(const char *what, const char *s, loam_err *err);
/* A host address: a DNS name or an IPv4/IPv6 literal, at most 253 chars. */
int loam_valid_address(const char *s, loam_err *err);
/* A unix user name: [a-z_][a-z0-9_-]{0,31}. */
int loam_valid_unix_user(const char *s, loam_err *err);
/* An absolute path of safe characters [A-Za-z0-9._/+-], no "..", <= 1024. */
int loam_valid_abs_path(const char *what, const char *s, loam_err *err);
/* An artifact word (name, version, package): 1..128 of [A-Za-z0-9.+~:_-],
 * not starting with '.' or '-', as the artifact manifest allows. */
bool loam_valid_artifact_word(const char *s);
/* A Debian package name (Policy 5.6.1): 2..128 of [a-z0-9+.-], starting
 * with a letter or digit. */
bool loam_valid_debian_package(const char *s);
/* An http:// or https:// URL of at most 2048 characters without spaces,
 * control characters or quotes. */
bool loam_valid_http_url(const char *s);
/* An absolute install path: no "." or ".." component, no control or shell
 * metacharacter, under 3000 characters (versions may hold ':' and '~'). */
bool loam_valid_install_path(const char *s);
/* A word that a POSIX shell reads literally: [A-Za-z0-9._/:=@%+,-], no
 * leading '-' unless allow_dash, non-empty. Used for the words of remote
 * commands; see src/transport/README or docs. */
bool loam_shell_inert_word(const char *s);
/* True if s contains a control character or a shell metacharacter. */
bool loam_has_unsafe_chars(const char *s);

#endif
