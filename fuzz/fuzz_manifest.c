/*
 * Fuzzes the artifact manifest loader (src/artifact/manifest.c): any bytes
 * are either refused with an LOAM_E_INVALID message or give entries whose
 * fields hold what the loader promises (canonical arch, a 64-hex sha256 for
 * files and tarballs, names, versions and packages of [A-Za-z0-9.+~:_-]
 * never starting with a dot or dash), because hosts turn those fields into paths and apt arguments.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arch/arch.h"
#include "artifact/manifest.h"
#include "lib/cleanup.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_word(const char *s, bool required)
{
	if (!s) {
		if (required)
			abort();
		return;
	}
	if (!*s || s[0] == '.' || s[0] == '-' ||
	    s[strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.+~:_-")])
		abort();
}

static void check_entry(const struct loam_artifact_entry *e)
{
	check_word(e->name, true);
	check_word(e->version, true);
	if (!e->arch || loam_arch_by_name(e->arch) == NULL)
		abort();
	for (const char **g = e->guest_arches; g && *g; g++)
		if (!loam_arch_by_name(*g))
			abort();
	for (size_t i = 0; i < e->nfirmware; i++) {
		check_word(e->firmware[i].name, true);
		check_word(e->firmware[i].version, true);
	}
	if (!e->path && !e->url)
		abort();
	if (!loam_sha256_hex_valid(e->sha256))
		abort();
	cleanup_free char *dir = loam_artifact_install_dir("/opt/loam", e);
	if (!dir || strstr(dir, "/../"))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct loam_artifact_manifest m = {0};
	cleanup_err loam_err err = NULL;
	if (loam_artifact_manifest_parse((const char *)data, size, &m, &err) < 0) {
		if (!err || !loam_err_msg(err) || m.entries || m.count)
			abort();
		return 0;
	}
	if (err)
		abort();
	for (size_t i = 0; i < m.count; i++)
		check_entry(&m.entries[i]);
	loam_artifact_manifest_free(&m);
	return 0;
}
