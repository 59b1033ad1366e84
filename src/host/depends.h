/*
 * The system packages a VMM or storage-daemon bundle needs (its manifest
 * entry's `depends`: the Debian packages that provide its shared
 * libraries). The agent checks them with dpkg-query and installs the
 * missing ones with `apt-get install --no-install-recommends --no-upgrade
 * -- NAMES`, by argv. Nothing is fetched when all are installed already.
 */
#ifndef LOAM_HOST_DEPENDS_H
#define LOAM_HOST_DEPENDS_H

#include <jansson.h>
#include <stddef.h>

/*
 * Makes sure the n packages in names are installed for this machine's
 * Debian arch (or arch all). Returns {"state": S, "missing": [...],
 * "error": "..."} (error only when S is unavailable or failed), S being:
 *   present      all were installed already (apt-get did not run);
 *   installed    apt-get installed the missing ones;
 *   unavailable  this host has no dpkg-query, or misses some and has no
 *                apt-get: the packages must come another way;
 *   failed       apt-get failed (the error quotes it).
 * `what` names the bundle in messages.
 */
json_t *host_depends_ensure(const char *const *names, size_t n, const char *what);

#endif
