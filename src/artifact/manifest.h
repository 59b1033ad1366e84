/*
 * The artifact manifest (docs/artifacts.md): the list of pinned per-arch
 * components (vmm, firmware, image, storage) that hosts install. loamd loads
 * the store's manifest.json with this; every entry is checked before
 * anything uses it, and a bad entry is named (index and
 * component/name/version/arch) together with the field at fault.
 */
#ifndef LOAM_ARTIFACT_MANIFEST_H
#define LOAM_ARTIFACT_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"
#include "lib/sha256.h"

enum loam_artifact_component {
	LOAM_ARTIFACT_VMM,
	LOAM_ARTIFACT_FIRMWARE,
	LOAM_ARTIFACT_IMAGE,
	LOAM_ARTIFACT_STORAGE,
};

enum loam_artifact_kind {
	LOAM_ARTIFACT_FILE,
	LOAM_ARTIFACT_TARBALL,
};

/* A firmware version a VMM version was tested with. */
struct loam_artifact_fw_ref {
	char *name, *version;
};

struct loam_artifact_entry {
	enum loam_artifact_component component;
	enum loam_artifact_kind kind;
	char *name;
	char *version;
	/* Canonical, from struct loam_arch: the guest arch, or for a bundle
	 * (guest_arches set) the arch of its binaries, i.e. the host's. */
	const char *arch;
	char *path; /* relative to the store, or NULL */
	char *url;  /* or NULL; an entry has path or url */
	char sha256[LOAM_SHA256_HEX_LEN + 1];
	uint64_t size;
	/* vmm and storage bundles only (NULL elsewhere): */
	const char **guest_arches;	       /* canonical, NULL-terminated, never empty */
	char **depends;			       /* Debian packages the host needs, NULL-terminated */
	char *debian_version;		       /* the exact Debian version unpacked, or NULL */
	struct loam_artifact_fw_ref *firmware; /* vmm only: at least one */
	size_t nfirmware;
	/* image only: how long its boot may take to the readiness line; 0:
	 * unset (LOAM_ARTIFACT_BOOT_TIMEOUT_DEFAULT) */
	unsigned boot_timeout_s;
};

#define LOAM_ARTIFACT_BOOT_TIMEOUT_DEFAULT 600
#define LOAM_ARTIFACT_BOOT_TIMEOUT_MAX	   86400

struct loam_artifact_manifest {
	struct loam_artifact_entry *entries;
	size_t count;
};

const char *loam_artifact_component_name(enum loam_artifact_component c);
const char *loam_artifact_kind_name(enum loam_artifact_kind k);
int loam_artifact_component_parse(const char *s, enum loam_artifact_component *out);
int loam_artifact_kind_parse(const char *s, enum loam_artifact_kind *out);

/* Parses a manifest from memory / a file. On failure *out is untouched and
 * the error names the entry and the field. */
int loam_artifact_manifest_parse(const char *buf, size_t len, struct loam_artifact_manifest *out,
				 loam_err *err);
int loam_artifact_manifest_load(const char *path, struct loam_artifact_manifest *out,
				loam_err *err);
void loam_artifact_manifest_free(struct loam_artifact_manifest *m);

/* Whether e holds binaries for a host (a vmm or storage bundle: its arch is
 * the host's) rather than code for a guest (firmware, images). */
bool loam_artifact_entry_is_bundle(const struct loam_artifact_entry *e);
/*
 * Whether a host of arch `own` that serves the guest arches `served`
 * (NULL-terminated: its own and the ones it emulates) installs e: a bundle
 * when it is built for `own` and serves one of `served`; anything else
 * when its (guest) arch is one of `served`.
 */
bool loam_artifact_entry_for_host(const struct loam_artifact_entry *e, const char *own,
				  const char *const *served);

/* PREFIX/<component>/<name>/<version>/<arch>; the caller frees. */
char *loam_artifact_install_dir(const char *prefix, const struct loam_artifact_entry *e);

#endif
