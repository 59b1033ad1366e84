/*
 * The test store's manifest, shared by the artifact tests that install from
 * one (test_host_install.c, test_install_hosts.c): entries carry the real
 * sha256 and size of the store's files, so an install checks them as it
 * would a release's.
 */
#ifndef LOAM_TESTS_STORE_T_H
#define LOAM_TESTS_STORE_T_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "artifact/manifest.h"
#include "lib/cleanup.h"
#include "lib/json.h"
#include "lib/sha256.h"
#include "t.h"

/* The manifest entry of the file rel under store. */
static json_t *t_store_entry(const char *store, const char *component, const char *name,
			     const char *version, const char *arch, const char *kind,
			     const char *rel)
{
	char path[4096], sum[65];
	uint64_t size = 0;
	snprintf(path, sizeof path, "%s/%s", store, rel);
	cleanup_err loam_err err = NULL;
	CHECK_INT(loam_sha256_file(path, sum, &size, &err), 0);
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I}", "component", component, "name",
			 name, "version", version, "arch", arch, "kind", kind, "path", rel,
			 "sha256", sum, "size", (json_int_t)size);
}

/* Parses into m the manifest of store: firmware edk2 1.0 and image g 2.0
 * for each arch, and what extra (when given) adds to entries per arch. */
static void t_store_manifest(const char *store, struct loam_artifact_manifest *m,
			     void (*extra)(const char *store, const char *arch, json_t *entries))
{
	json_t *entries = json_array();
	const char *arches[] = {"x64", "arm64"};
	for (int i = 0; i < 2; i++) {
		char fw[256], img[256];
		snprintf(fw, sizeof fw, "firmware/edk2/1.0/%s/edk2.tar.gz", arches[i]);
		snprintf(img, sizeof img, "image/g/2.0/%s/g.img", arches[i]);
		json_array_append_new(entries, t_store_entry(store, "firmware", "edk2", "1.0",
							     arches[i], "tarball", fw));
		json_array_append_new(
		    entries, t_store_entry(store, "image", "g", "2.0", arches[i], "file", img));
		if (extra)
			extra(store, arches[i], entries);
	}
	cleanup_json json_t *doc = json_pack("{s:o}", "entries", entries);
	cleanup_free char *text = loam_json_dump(doc);
	cleanup_err loam_err err = NULL;
	CHECK_INT(loam_artifact_manifest_parse(text, strlen(text), m, &err), 0);
}

#endif
