/*
 * Default paths. Kept in one place so that loamd and loam agree on where the
 * token file and the SQLite database live.
 */
#include "lib/paths.h"

#include <stdlib.h>
#include <unistd.h>

#include "lib/xalloc.h"

char *loam_default_state_dir(int honour_env)
{
	const char *env = honour_env ? getenv("LOAM_STATE_DIR") : NULL;
	if (env && *env)
		return xstrdup(env);
	const char *xdg = getenv("XDG_STATE_HOME");
	if (xdg && *xdg)
		return xasprintf("%s/loam", xdg);
	if (geteuid() == 0)
		return xstrdup("/var/lib/loam");
	const char *home = getenv("HOME");
	return xasprintf("%s/.local/state/loam", home && *home ? home : "/tmp");
}
