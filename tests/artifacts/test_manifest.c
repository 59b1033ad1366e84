/*
 * The artifact manifest loader: the release manifest in the tree loads, and
 * each kind of bad entry is refused with a message naming the entry and the
 * field, leaving the output untouched.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "artifact/manifest.h"
#include "lib/cleanup.h"
#include "t.h"

#define SUM "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static const char *good_entry(void)
{
	return "{\"component\":\"firmware\",\"name\":\"edk2\",\"version\":\"2022.11-6+deb12u2\","
	       "\"arch\":\"x64\",\"kind\":\"tarball\",\"path\":\"firmware/edk2/v/x64/edk2.tar.gz\","
	       "\"sha256\":\"" SUM "\",\"size\":10}";
}

/* Parses {"entries":[good, bad]} with `bad` = good entry with key set to
 * value (raw JSON, or NULL to delete the key); returns the error or NULL. */
static char *refusal(const char *key, const char *value)
{
	char buf[2048];
	char entry[1024];
	snprintf(entry, sizeof entry, "%s", good_entry());
	json_t *e = json_loads(entry, 0, NULL);
	json_object_set_new(e, "name", json_string("second"));
	if (value)
		json_object_set_new(e, key, json_loads(value, JSON_DECODE_ANY, NULL));
	else
		json_object_del(e, key);
	char *bad = json_dumps(e, 0);
	json_decref(e);
	snprintf(buf, sizeof buf, "{\"entries\":[%s,%s]}", good_entry(), bad);
	free(bad);
	struct loam_artifact_manifest m = {.count = 777};
	cleanup_err loam_err err = NULL;
	if (loam_artifact_manifest_parse(buf, strlen(buf), &m, &err) == 0) {
		loam_artifact_manifest_free(&m);
		return NULL;
	}
	CHECK_INT(m.count, 777); /* untouched */
	CHECK_INT(loam_err_kind_of(err), LOAM_E_INVALID);
	return strdup(loam_err_msg(err));
}

static void check_refused(const char *key, const char *value, const char *field)
{
	cleanup_free char *msg = refusal(key, value);
	CHECK(msg != NULL);
	if (!msg) {
		fprintf(stderr, "  accepted %s = %s\n", key, value ? value : "(absent)");
		return;
	}
	CHECK_CONTAINS(msg, "entry 1 (");
	if (strcmp(key, "name") != 0)
		CHECK_CONTAINS(msg, "/second/");
	char want[64];
	snprintf(want, sizeof want, "field '%s'", field);
	CHECK_CONTAINS(msg, want);
}

static void test_tree_manifest_loads(void)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/artifacts/manifest.json",
		 getenv("LOAM_SOURCE_DIR") ? getenv("LOAM_SOURCE_DIR") : ".");
	struct loam_artifact_manifest m = {0};
	cleanup_err loam_err err = NULL;
	CHECK_INT(loam_artifact_manifest_load(path, &m, &err), 0);
	CHECK(m.count >= 8);
	size_t per_component[4] = {0};
	for (size_t i = 0; i < m.count; i++) {
		const struct loam_artifact_entry *e = &m.entries[i];
		per_component[e->component]++;
		CHECK(e->path && e->size > 0);
		bool bundle =
		    e->component == LOAM_ARTIFACT_VMM || e->component == LOAM_ARTIFACT_STORAGE;
		CHECK(loam_artifact_entry_is_bundle(e) == bundle);
		CHECK(!bundle || (e->depends && e->debian_version)); /* the QEMU bundles */
		CHECK((e->component == LOAM_ARTIFACT_VMM) == (e->nfirmware > 0));
	}
	for (size_t c = 0; c < 4; c++)
		CHECK(per_component[c] >= 2); /* at least one per arch */
	loam_artifact_manifest_free(&m);
}

#define BUNDLE                                                                                     \
	"{\"component\":\"vmm\",\"name\":\"qemu\",\"version\":\"10.0.2+ds-2\","                    \
	"\"arch\":\"x64\",\"kind\":\"tarball\",\"path\":\"vmm/qemu/10.0.2+ds-2/x64/qemu.tar.gz\"," \
	"\"sha256\":\"" SUM "\",\"size\":5,\"guest_arches\":[\"arm64\",\"x64\"],"                  \
	"\"depends\":[\"libaio1\",\"zlib1g\"],\"debian_version\":\"1:10.0.2+ds-2~bpo12+1\","       \
	"\"firmware\":[{\"name\":\"edk2\",\"version\":\"2022.11-6\"}]}"

static void test_good_entries_parse(void)
{
	const char *doc = "{\"entries\":[{\"component\":\"image\",\"name\":\"g\",\"version\":\"1\","
			  "\"arch\":\"arm64\",\"kind\":\"file\",\"url\":\"http://h:1/a/b.img\","
			  "\"sha256\":\"" SUM "\",\"size\":0}," BUNDLE "]}";
	struct loam_artifact_manifest m = {0};
	cleanup_err loam_err err = NULL;
	CHECK_INT(loam_artifact_manifest_parse(doc, strlen(doc), &m, &err), 0);
	CHECK_INT(m.count, 2);
	if (m.count != 2)
		return;
	CHECK_STR(m.entries[0].arch, "arm64");
	CHECK_STR(m.entries[0].url, "http://h:1/a/b.img");
	CHECK(!loam_artifact_entry_is_bundle(&m.entries[0]));
	const struct loam_artifact_entry *b = &m.entries[1];
	CHECK(loam_artifact_entry_is_bundle(b));
	CHECK_STR(b->guest_arches[0], "arm64");
	CHECK_STR(b->guest_arches[1], "x64");
	CHECK(b->guest_arches[2] == NULL);
	CHECK_STR(b->depends[1], "zlib1g");
	CHECK_STR(b->debian_version, "1:10.0.2+ds-2~bpo12+1");
	CHECK_INT(b->nfirmware, 1);
	CHECK_STR(b->firmware[0].version, "2022.11-6");
	cleanup_free char *dir = loam_artifact_install_dir("/tmp/p", b);
	CHECK_STR(dir, "/tmp/p/vmm/qemu/10.0.2+ds-2/x64");
	/* which hosts take what: bundles by the host's own arch only */
	const char *x64_emulating[] = {"x64", "arm64", NULL}, *arm64_host[] = {"arm64", NULL},
		   *x64_only[] = {"x64", NULL};
	CHECK(loam_artifact_entry_for_host(b, "x64", x64_emulating));
	CHECK(!loam_artifact_entry_for_host(b, "arm64", arm64_host));
	CHECK(loam_artifact_entry_for_host(&m.entries[0], "x64", x64_emulating));
	CHECK(!loam_artifact_entry_for_host(&m.entries[0], "x64", x64_only));
	loam_artifact_manifest_free(&m);
}

/* The bundle with key set to value (raw JSON, NULL deletes it): the error,
 * or NULL when it parses. */
static char *bundle_refusal(const char *key, const char *value)
{
	json_t *e = json_loads(BUNDLE, 0, NULL);
	if (value)
		json_object_set_new(e, key, json_loads(value, JSON_DECODE_ANY, NULL));
	else
		json_object_del(e, key);
	json_t *doc = json_pack("{s:[o]}", "entries", e);
	char *text = json_dumps(doc, 0);
	json_decref(doc);
	struct loam_artifact_manifest m = {0};
	cleanup_err loam_err err = NULL;
	int rc = loam_artifact_manifest_parse(text, strlen(text), &m, &err);
	free(text);
	loam_artifact_manifest_free(&m);
	return rc == 0 ? NULL : strdup(loam_err_msg(err));
}

static void check_bundle_refused(const char *key, const char *value, const char *want)
{
	cleanup_free char *msg = bundle_refusal(key, value);
	CHECK(msg != NULL);
	if (msg)
		CHECK_CONTAINS(msg, want);
	else
		fprintf(stderr, "  bundle accepted %s = %s\n", key, value ? value : "(absent)");
}

static void test_bundle_fields(void)
{
	check_bundle_refused("guest_arches", NULL, "field 'guest_arches'");
	check_bundle_refused("guest_arches", "[]", "field 'guest_arches'");
	check_bundle_refused("guest_arches", "[\"amd64\"]", "field 'guest_arches'");
	check_bundle_refused("guest_arches", "[\"x64\",\"x64\"]", "repeats");
	check_bundle_refused("depends", "[\"libc6; rm -rf /\"]", "field 'depends'");
	check_bundle_refused("depends", "[\"-o\"]", "field 'depends'");
	check_bundle_refused("depends", "\"libc6\"", "field 'depends'");
	check_bundle_refused("firmware", NULL, "field 'firmware'");
	check_bundle_refused("firmware", "[{\"name\":\"edk2\"}]", "field 'firmware'");
	check_bundle_refused("firmware", "[{\"name\":\"../x\",\"version\":\"1\"}]",
			     "field 'firmware'");
	check_bundle_refused("debian_version", "\"1 2\"", "field 'debian_version'");
	check_bundle_refused("kind", "\"debian-package\"", "field 'kind'");
	/* bundle fields belong on bundles; firmware lists on VMMs */
	check_bundle_refused("component", "\"storage\"", "field 'firmware'");
	check_bundle_refused("component", "\"image\"", "vmm and storage entries only");
	cleanup_free char *ok = bundle_refusal("depends", NULL); /* may need nothing */
	CHECK(ok == NULL);
}

static void test_bad_entries_are_named(void)
{
	check_refused("component", "\"agent\"", "component");
	check_refused("component", NULL, "component");
	check_refused("kind", "\"zip\"", "kind");
	check_refused("arch", "\"riscv64\"", "arch");
	check_refused("arch", "\"armhf\"", "arch");
	check_refused("arch", "\"amd64\"", "arch"); /* understood but not canonical */
	check_refused("arch", "\"X64\"", "arch");
	check_refused("sha256", "\"" SUM "0\"", "sha256");
	check_refused("sha256",
		      "\"0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef\"",
		      "sha256");
	check_refused("sha256",
		      "\"zz23456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"",
		      "sha256");
	check_refused("sha256", NULL, "sha256");
	check_refused("size", "-1", "size");
	check_refused("size", "\"10\"", "size");
	check_refused("path", "\"../etc/passwd\"", "path");
	check_refused("path", "\"/etc/passwd\"", "path");
	check_refused("path", "\"a//b\"", "path");
	check_refused("path", NULL, "path");
	check_refused("version", "\"1 2\"", "version");
	check_refused("version", "\"..\"", "version");
	check_refused("version", "\"-rf\"", "version");
	check_refused("name", "\"a/b\"", "name");
	cleanup_free char *url = refusal("url", "\"file:///etc/passwd\"");
	CHECK(url && strstr(url, "field 'url'"));
}

/* An image entry with "boot_timeout_s": value (raw JSON): parsed, its
 * timeout in *out; -1 when refused. */
static int image_timeout(const char *value, unsigned *out)
{
	char buf[1024];
	snprintf(buf, sizeof buf,
		 "{\"entries\":[{\"component\":\"image\",\"name\":\"debian-12\",\"version\":"
		 "\"12.15+1\",\"arch\":\"x64\",\"kind\":\"file\",\"path\":\"image/d/x64/d.qcow2\","
		 "\"sha256\":\"" SUM "\",\"size\":10%s%s}]}",
		 value ? ",\"boot_timeout_s\":" : "", value ? value : "");
	struct loam_artifact_manifest m = {0};
	cleanup_err loam_err err = NULL;
	if (loam_artifact_manifest_parse(buf, strlen(buf), &m, &err) < 0) {
		CHECK_CONTAINS(loam_err_msg(err), "field 'boot_timeout_s'");
		return -1;
	}
	*out = m.entries[0].boot_timeout_s;
	loam_artifact_manifest_free(&m);
	return 0;
}

static void test_image_boot_timeout(void)
{
	unsigned t = 7;
	CHECK(image_timeout(NULL, &t) == 0);
	CHECK_INT(t, 0); /* unset: the VM prog's default */
	CHECK(image_timeout("1800", &t) == 0);
	CHECK_INT(t, 1800);
	CHECK(image_timeout("0", &t) < 0);
	CHECK(image_timeout("86401", &t) < 0);
	CHECK(image_timeout("\"600\"", &t) < 0);
	check_refused("boot_timeout_s", "600", "boot_timeout_s"); /* images only */
}

static void test_duplicates_and_shape(void)
{
	char doc[2048];
	snprintf(doc, sizeof doc, "{\"entries\":[%s,%s]}", good_entry(), good_entry());
	struct loam_artifact_manifest m = {0};
	cleanup_err loam_err err = NULL;
	CHECK_INT(loam_artifact_manifest_parse(doc, strlen(doc), &m, &err), -1);
	CHECK_CONTAINS(loam_err_msg(err), "repeats entry 0");
	loam_err_free(&err);
	CHECK_INT(loam_artifact_manifest_parse("{\"entries\":{}}", 14, &m, &err), -1);
	CHECK_CONTAINS(loam_err_msg(err), "'entries'");
	loam_err_free(&err);
	CHECK_INT(loam_artifact_manifest_parse("{\"entries\":[", 12, &m, &err), -1);
}

int main(void)
{
	RUN(test_tree_manifest_loads);
	RUN(test_good_entries_parse);
	RUN(test_bundle_fields);
	RUN(test_bad_entries_are_named);
	RUN(test_image_boot_timeout);
	RUN(test_duplicates_and_shape);
	return t_summary();
}
