/*
 * Default paths. Kept in one place so that loamd and loam agree on where the
 * token file and the SQLite database live.
 */
#include "lib/paths.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static char *dup_or_abort(const char *s)
{
	char *p = NULL;
	if (asprintf(&p, "%s", s) < 0)
		abort();
	return p;
}

char *loam_default_state_dir(int honour_env)
{
	const char *env = honour_env ? getenv("LOAM_STATE_DIR") : NULL;
	if (env && *env)
		return dup_or_abort(env);
	const char *xdg = getenv("XDG_STATE_HOME");
	char *p = NULL;
	if (xdg && *xdg) {
		if (asprintf(&p, "%s/loam", xdg) < 0)
			abort();
		return p;
	}
	if (geteuid() == 0)
		return dup_or_abort("/var/lib/loam");
	const char *home = getenv("HOME");
	if (asprintf(&p, "%s/.local/state/loam", home && *home ? home : "/tmp") < 0)
		abort();
	return p;
}
