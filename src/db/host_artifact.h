/*
 * The artifact versions installed on each host (host_artifact rows,
 * docs/artifacts.md) as structs: listing them per host and for the whole
 * fleet with the number of VMs pinned to each (vm_artifact), the install's
 * bookkeeping (installing → installed | failed | unavailable), the rule a
 * new VM's version is picked by, GC's view of what is unused, and the
 * installed boot images for the allocator's index. src/artifact/ builds the
 * JSON and drives the agents over these.
 */
#ifndef LOAM_DB_HOST_ARTIFACT_H
#define LOAM_DB_HOST_ARTIFACT_H

#include <stdbool.h>
#include <stdint.h>

#include "db/db.h"
#include "lib/err.h"

/* One version of one component on one host: what identifies it. */
struct loam_artifact_key {
	const char *component, *name, *version, *arch;
};

struct loam_host_artifact {
	char *host_id, *host_name; /* host_name only from loam_host_artifacts_all */
	char *component, *name, *version, *arch;
	char *kind;		     /* "file", "tarball" or "debian-package" */
	char *state;		     /* "installing", "installed", "failed" or "unavailable" */
	char *path, *sha256, *error; /* NULL when unset */
	int64_t installed_at;	     /* when has_installed_at */
	bool has_installed_at;
	int64_t updated_at;
	int64_t vms; /* VMs on the host pinned to it (all and gc_plan only) */
	bool newer;  /* a newer version of its line is installed (gc_plan only) */
};

struct loam_host_artifacts {
	struct loam_host_artifact *v;
	size_t n;
};

void loam_host_artifacts_free(struct loam_host_artifacts *l);
#define cleanup_host_artifacts __attribute__((cleanup(loam_host_artifacts_free)))

/* The host's rows, ordered by component, arch, name, version. */
int loam_host_artifacts_of(struct loam_db *db, const char *host_id, struct loam_host_artifacts *out,
			   loam_err *err);
/* Every host's rows with host_name and vms, ordered by host name,
 * component, arch, name, version. */
int loam_host_artifacts_all(struct loam_db *db, struct loam_host_artifacts *out, loam_err *err);
/* The host's rows with vms and newer, ordered by component, arch, name,
 * installed_at, version: what GC's plan weighs. */
int loam_host_artifacts_gc_view(struct loam_db *db, const char *host_id,
				struct loam_host_artifacts *out, loam_err *err);
/* Deletes and returns (key fields only) the host's file and tarball
 * versions that are installed, that no VM on the host is pinned to and
 * that have a newer installed version of their line beside them. Run it in
 * a transaction, with the agent's removal after the commit. */
int loam_host_artifacts_take_unused(struct loam_db *db, const char *host_id,
				    struct loam_host_artifacts *out, loam_err *err);
/* Names of the hosts that have any artifact row, ordered. */
int loam_host_artifact_hosts(struct loam_db *db, char ***names, size_t *n, loam_err *err);
/* Every installed boot image (component 'image'): host_id, name, arch. */
int loam_host_artifacts_images(struct loam_db *db, struct loam_host_artifacts *out, loam_err *err);

/*
 * The newest usable version of component for arch on the host: installed
 * (or a debian-package 'unavailable' there, which the host provides another
 * way), newest meaning the latest installed_at (updated_at when never
 * installed), then the highest version. 1 with *name and *version set (the
 * caller frees), 0 when there is none.
 */
int loam_host_artifact_newest(struct loam_db *db, const char *host_id, const char *arch,
			      const char *component, char **name, char **version, loam_err *err);

/* The install's bookkeeping (src/artifact/host_install.c). */
/* 'installing', unless the version is installed already (a rerun must not
 * make it look unusable while the agent checks it). sha256 NULL for a
 * debian-package. */
int loam_host_artifact_mark_installing(struct loam_db *db, const char *host_id,
				       const struct loam_artifact_key *k, const char *kind,
				       const char *sha256, loam_err *err);
/* The agent's verdict: state installed, failed or unavailable; path and
 * error may be NULL (a NULL path keeps the one recorded). */
int loam_host_artifact_record(struct loam_db *db, const char *host_id,
			      const struct loam_artifact_key *k, const char *state,
			      const char *path, const char *error, loam_err *err);
/* Every row of the host still 'installing' becomes 'failed' with why. */
int loam_host_artifact_fail_pending(struct loam_db *db, const char *host_id, const char *why,
				    loam_err *err);

#endif
