/*
 * The artifact manifest (docs/artifacts.md): the list of pinned per-arch
 * components (vmm, firmware, image, storage) that hosts install. loamd loads
 * the store's manifest.json with this; every entry is checked before
 * anything uses it, and a bad entry is named (index and
 * component/name/version/arch) together with the field at fault.
 */
#ifndef LOAM_ARTIFACT_MANIFEST_H
#define LOAM_ARTIFACT_MANIFEST_H

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
	LOAM_ARTIFACT_DEBIAN_PACKAGE,
};

struct loam_artifact_entry {
	enum loam_artifact_component component;
	enum loam_artifact_kind kind;
	char *name;
	char *version;
	const char *arch;		      /* canonical, from struct loam_arch */
	char *path;			      /* relative to the store, or NULL */
	char *url;			      /* or NULL; file/tarball have path or url */
	char sha256[LOAM_SHA256_HEX_LEN + 1]; /* file/tarball */
	uint64_t size;			      /* file/tarball */
	char *package;			      /* debian-package */
	char *package_version;		      /* debian-package */
};

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

/* PREFIX/<component>/<name>/<version>/<arch>; the caller frees. */
char *loam_artifact_install_dir(const char *prefix, const struct loam_artifact_entry *e);

#endif
