/*
 * Paths a client may name (issue 16): a host's state_dir and ssh_key must
 * sit under roots the operator gives loamd (--host-state-root,
 * --ssh-key-root). A path is checked as text against the roots first, and
 * only a key under them is looked at on disk (resolved, and readable); any
 * refusal is one message naming the roots, so the answer never tells
 * whether a file exists outside them ("/etc/shadow" reads as a missing
 * key).
 */
#include "api/internal.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/valid.h"
#include "lib/cleanup.h"
#include "lib/xalloc.h"

char **api_roots_new(const char *const *given, const char *const *defaults)
{
	const char *const *src = given && *given ? given : defaults;
	size_t n = 0;
	while (src[n])
		n++;
	char **out = xcalloc(n + 1, sizeof(*out));
	for (size_t i = 0; i < n; i++) {
		out[i] = xstrdup(src[i]);
		size_t len = strlen(out[i]);
		while (len > 1 && out[i][len - 1] == '/')
			out[i][--len] = '\0';
	}
	return out;
}

void api_roots_free(char **roots)
{
	for (size_t i = 0; roots && roots[i]; i++)
		free(roots[i]);
	free(roots);
}

/* path is the root or under it ("/var/lib/loam2" is not under "/var/lib/loam"). */
static bool under(const char *path, char *const *roots)
{
	for (size_t i = 0; roots[i]; i++) {
		size_t n = strlen(roots[i]);
		if (strncmp(path, roots[i], n) == 0 &&
		    (path[n] == '\0' || path[n] == '/' || strcmp(roots[i], "/") == 0))
			return true;
	}
	return false;
}

static char *roots_text(char *const *roots)
{
	char *out = xstrdup("");
	for (size_t i = 0; roots[i]; i++) {
		char *next = xasprintf("%s%s%s", out, i ? ", " : "", roots[i]);
		free(out);
		out = next;
	}
	return out;
}

/* Under the roots as given and as resolved (no symlink out of them), a
 * regular file loamd can read. */
static bool usable_key(const char *path, char *const *roots)
{
	char real[PATH_MAX];
	struct stat st;
	return under(path, roots) && realpath(path, real) && under(real, roots) &&
	       stat(real, &st) == 0 && S_ISREG(st.st_mode) && access(real, R_OK) == 0;
}

int api_check_ssh_key(const struct loam_api *api, const char *path, loam_err *err)
{
	if (loam_valid_abs_path("ssh_key", path, err) < 0)
		return -1;
	if (usable_key(path, api->ssh_key_roots))
		return 0;
	cleanup_free char *roots = roots_text(api->ssh_key_roots);
	return loam_fail(err, LOAM_E_INVALID,
			 "ssh_key must name a private key file loamd can read under %s "
			 "(loamd --ssh-key-root DIR sets the directories)",
			 roots);
}

int api_check_state_dir(const struct loam_api *api, const char *path, loam_err *err)
{
	if (loam_valid_abs_path("state_dir", path, err) < 0)
		return -1;
	if (under(path, api->host_state_roots))
		return 0;
	cleanup_free char *roots = roots_text(api->host_state_roots);
	return loam_fail(err, LOAM_E_INVALID,
			 "state_dir must be a directory under %s (loamd --host-state-root DIR "
			 "sets them)",
			 roots);
}
