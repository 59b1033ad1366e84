/*
 * The artifact versions installed on each host (host_artifact rows,
 * docs/artifacts.md) as structs: listing them per host and for the whole
 * fleet with the number of VMs pinned to each (vm_artifact), the install's
 * bookkeeping (installing → installed | failed | unavailable) with what a
 * bundle serves (its guest arches) and what a VMM was tested with (its
 * firmware), weights, the rules a new VM's versions are picked by, GC's
 * view and its two steps (mark removing, then forget), and the installed
 * boot images for the allocator's index. src/artifact/ builds the JSON and
 * drives the agents over these.
 */
#ifndef LOAM_DB_HOST_ARTIFACT_H
#define LOAM_DB_HOST_ARTIFACT_H

#include <stdbool.h>
#include <stdint.h>

#include "db/db.h"
#include "lib/err.h"

/* The weight a version gets when it is installed; 0 is drained. */
#define LOAM_ARTIFACT_WEIGHT_DEFAULT 100
#define LOAM_ARTIFACT_WEIGHT_MAX     1000000

/* One version of one component on one host: what identifies it. */
struct loam_artifact_key {
	const char *component, *name, *version, *arch;
};

struct loam_host_artifact {
	char *host_id, *host_name; /* host_name only from loam_host_artifacts_all */
	char *component, *name, *version, *arch;
	char *kind;  /* "file" or "tarball" */
	char *state; /* "installing", "installed", "failed", "unavailable" or "removing" */
	char *path, *sha256, *error; /* NULL when unset */
	int64_t installed_at;	     /* when has_installed_at */
	bool has_installed_at;
	int64_t updated_at;
	int64_t weight;
	int64_t vms; /* VMs on the host pinned to it, now or at their next start (all, gc) */
	bool newer;  /* a newer usable version of its line is there (gc_view only) */
	bool higher; /* a usable version of its line ranks above it (gc_view only) */
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
/* Names of the hosts that have any artifact row, ordered. */
int loam_host_artifact_hosts(struct loam_db *db, char ***names, size_t *n, loam_err *err);
/* Every installed boot image (component 'image') with host_name, ordered
 * by name, arch, version and host name. */
int loam_host_artifacts_images(struct loam_db *db, struct loam_host_artifacts *out, loam_err *err);

/* What rows list besides their columns: a bundle's guest arches
 * (value = the arch, value2 = NULL) or a VMM's firmware (value = firmware
 * name, value2 = its version), for one host (host_id) or all (NULL). */
struct loam_artifact_link {
	char *host_id, *component, *name, *version, *arch, *value, *value2;
};
struct loam_artifact_links {
	struct loam_artifact_link *v;
	size_t n;
};
void loam_artifact_links_free(struct loam_artifact_links *l);
#define cleanup_artifact_links __attribute__((cleanup(loam_artifact_links_free)))
int loam_host_artifact_guest_arches(struct loam_db *db, const char *host_id,
				    struct loam_artifact_links *out, loam_err *err);
int loam_host_artifact_firmware_lists(struct loam_db *db, const char *host_id,
				      struct loam_artifact_links *out, loam_err *err);

/* ---- the install's bookkeeping (src/artifact/host_install.c) ---- */

/* What an entry serves and was tested with; both may be empty. */
struct loam_artifact_meta {
	const char *const *guest_arches; /* NULL-terminated, or NULL */
	const char *const *fw_names;	 /* with fw_versions, nfw of each */
	const char *const *fw_versions;
	size_t nfw;
};
/* 'installing', unless the version is installed already (a rerun must not
 * make it look unusable while the agent checks it) or being removed by GC
 * (then *state says "removing" and the caller leaves it out). Records the
 * meta. *state (may be NULL) gets the row's state afterwards. */
int loam_host_artifact_mark_installing(struct loam_db *db, const char *host_id,
				       const struct loam_artifact_key *k, const char *kind,
				       const char *sha256, const struct loam_artifact_meta *meta,
				       char **state, loam_err *err);
/* The agent's verdict: state installed, failed or unavailable; path and
 * error may be NULL (a NULL path keeps the one recorded). */
int loam_host_artifact_record(struct loam_db *db, const char *host_id,
			      const struct loam_artifact_key *k, const char *state,
			      const char *path, const char *error, loam_err *err);
/* The version, if still 'installing', becomes 'failed' with why. */
int loam_host_artifact_fail_installing(struct loam_db *db, const char *host_id,
				       const struct loam_artifact_key *k, const char *why,
				       loam_err *err);
/* The host's rows still 'installing' (what an upgrade asked for and the
 * host has not installed yet), key fields only. */
int loam_host_artifacts_installing(struct loam_db *db, const char *host_id,
				   struct loam_host_artifacts *out, loam_err *err);

/* ---- which version a new VM takes (host_artifact_pick.c) ---- */

/* A picked version: name, version and the row's arch (the host's for a
 * bundle, the guest's otherwise); the caller frees all three. */
struct loam_artifact_pick {
	char *name, *version, *arch;
};
void loam_artifact_pick_free(struct loam_artifact_pick *p);

/*
 * THE rule for a new VM of guest_arch on the host: among the usable rows
 * of component that serve guest_arch (a bundle listing it in its guest
 * arches, or an artifact of that arch) and whose weight is above 0, the
 * highest weight, then the newest (latest installed_at), then the highest
 * version. 1 with *out, 0 when there is none.
 */
int loam_host_artifact_pick(struct loam_db *db, const char *host_id, const char *guest_arch,
			    const char *component, struct loam_artifact_pick *out, loam_err *err);
/* The same rule for firmware, among the versions the VMM `vmm` (its row on
 * the host) lists as tested. */
int loam_host_artifact_pick_firmware(struct loam_db *db, const char *host_id,
				     const char *guest_arch, const struct loam_artifact_key *vmm,
				     struct loam_artifact_pick *out, loam_err *err);
/* The same rule for the boot image called name. */
int loam_host_artifact_pick_image(struct loam_db *db, const char *host_id, const char *guest_arch,
				  const char *name, struct loam_artifact_pick *out, loam_err *err);
/* The same rule among the rows of component at version (the storage
 * daemon of the VMM's QEMU version). */
int loam_host_artifact_pick_version(struct loam_db *db, const char *host_id, const char *guest_arch,
				    const char *component, const char *version,
				    struct loam_artifact_pick *out, loam_err *err);
/* Whether the VMM's row on the host lists firmware fw_name fw_version. */
int loam_host_artifact_pair_listed(struct loam_db *db, const char *host_id,
				   const struct loam_artifact_key *vmm, const char *fw_name,
				   const char *fw_version, bool *listed, loam_err *err);
/* "edk2 2022.11-6, edk2 2024.02-2" of what the VMM's row lists (the caller
 * frees; "" when nothing). */
int loam_host_artifact_firmware_text(struct loam_db *db, const char *host_id,
				     const struct loam_artifact_key *vmm, char **text,
				     loam_err *err);

/*
 * Sets the weight of the host's versions of component called version
 * (only of name and arch when those are not NULL); *changed gets how many
 * rows matched (0: none, nothing changed).
 */
int loam_host_artifact_set_weight(struct loam_db *db, const char *host_id, const char *component,
				  const char *name, const char *version, const char *arch,
				  int64_t weight, int64_t *changed, loam_err *err);

/* ---- GC (host_artifact_gc.c) ---- */

/* The host's rows with vms, newer and higher, ordered by component, arch,
 * name, installed_at, version: what GC's plan weighs. */
int loam_host_artifacts_gc_view(struct loam_db *db, const char *host_id,
				struct loam_host_artifacts *out, loam_err *err);
/*
 * GC's first step, in a transaction: marks 'removing' every file and
 * tarball version of the host that is usable, that no VM on the host is
 * pinned to (now or at its next start), that has a newer usable version
 * of its line beside it and a usable version ranked above it (weight, then
 * newest), and returns (key fields only) every row 'removing', including
 * those an interrupted GC left. The agent's removal comes after the
 * commit, then loam_host_artifact_forget.
 */
int loam_host_artifacts_mark_removing(struct loam_db *db, const char *host_id,
				      struct loam_host_artifacts *out, loam_err *err);
/* GC's last step: deletes the row, if still 'removing'. */
int loam_host_artifact_forget(struct loam_db *db, const char *host_id,
			      const struct loam_artifact_key *k, loam_err *err);

#endif
