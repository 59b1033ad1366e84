/*
 * Installing the manifest's artifacts on a host, from the control plane
 * (cloudify's install step and host upgrade). See host_install.c and
 * docs/artifacts.md.
 */
#ifndef LOAM_ARTIFACT_HOST_INSTALL_H
#define LOAM_ARTIFACT_HOST_INSTALL_H

#include <stddef.h>

#include <jansson.h>

#include "arch/arch.h"
#include "artifact/manifest.h"
#include "db/db.h"
#include "lib/err.h"
#include "transport/transport.h"

/*
 * Installs every entry of m the host takes (loam_artifact_entry_for_host
 * with arches, NULL-terminated: the host's own arch first, then the arches
 * it is opted in to emulate) on the host behind t, by running `agent_path
 * install` there. Files come from base_url/<entry path> (loamd's
 * /artifacts) and land under prefix. Records one host_artifact row per
 * entry. Idempotent; rerunning after a crash resumes. Fails (LOAM_E_IO)
 * when an entry failed, with the agent's message, which names component,
 * version, host and both digests on a mismatch; the caller must then not
 * mark the host accepting. "unavailable" entries (a bundle on a host that
 * cannot check or install the system packages it needs) are not failures.
 */
int loam_artifact_install_on_host(struct loam_db *db, struct loam_transport *t, const char *host_id,
				  const char *agent_path, const struct loam_artifact_manifest *m,
				  const char *const *arches, const char *base_url,
				  const char *prefix, loam_err *err);

/*
 * The same in two halves, for a caller that runs `agent_path install` as a
 * detached job (cloudify): the first records the host_artifact rows as
 * installing and builds the request for the agent's stdin (the caller
 * frees *request; a version GC is removing is left out); the second
 * records, for the entries of that request, what the agent printed (its
 * stdout; NULL when it printed nothing usable, `why` then says so) and
 * fails as loam_artifact_install_on_host does. An entry the agent did not
 * report fails; other rows are left alone (an upgrade may have asked for
 * them meanwhile).
 */
int loam_artifact_install_request(struct loam_db *db, const char *host_id,
				  const struct loam_artifact_manifest *m, const char *const *arches,
				  const char *base_url, const char *prefix, char **request,
				  loam_err *err);
int loam_artifact_install_record(struct loam_db *db, const char *host_id, const char *host_name,
				 const char *request, const char *agent_out, const char *why,
				 loam_err *err);

/*
 * For `loam host upgrade`: marks 'installing' the entries of m the host
 * takes (as loam_artifact_install_request does, without a request: the
 * host's cloudify strand installs them) and sets *marked to [{component,
 * name, version, arch, state}] with each one's state afterwards
 * ('installing', 'installed', or 'removing' when GC is removing it).
 */
int loam_artifact_install_mark(struct loam_db *db, const char *host_id,
			       const struct loam_artifact_manifest *m, const char *const *arches,
			       json_t **marked, loam_err *err);

/* Fills out (max slots, NULL-terminated) with own's name then the emulated
 * arches; returns how many. */
int loam_artifact_host_selection(const struct loam_arch *own, const char *const *emulated,
				 const char **out, size_t max);

#endif
