/*
 * Loads and checks the artifact manifest (manifest.h, docs/artifacts.md).
 * Everything in an entry ends up in paths, URLs or apt-get arguments on a
 * host, so each field is checked against a narrow character set here, once,
 * and an error always says which entry and which field are wrong.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch/arch.h"
#include "artifact/manifest.h"
#include "lib/cleanup.h"
#include "lib/fs.h"
#include "lib/json.h"
#include "lib/valid.h"
#include "lib/xalloc.h"

#define MANIFEST_MAX (16u << 20)
#define WORD_MAX     128
#define LIST_MAX     256

static const char *const component_names[] = {"vmm", "firmware", "image", "storage"};
static const char *const kind_names[] = {"file", "tarball"};

const char *loam_artifact_component_name(enum loam_artifact_component c)
{
	return component_names[c];
}

const char *loam_artifact_kind_name(enum loam_artifact_kind k)
{
	return kind_names[k];
}

static int index_of(const char *const *names, size_t n, const char *s)
{
	for (size_t i = 0; s && i < n; i++)
		if (strcmp(names[i], s) == 0)
			return (int)i;
	return -1;
}

int loam_artifact_component_parse(const char *s, enum loam_artifact_component *out)
{
	int i = index_of(component_names, 4, s);
	if (i < 0)
		return -1;
	*out = (enum loam_artifact_component)i;
	return 0;
}

int loam_artifact_kind_parse(const char *s, enum loam_artifact_kind *out)
{
	int i = index_of(kind_names, 2, s);
	if (i < 0)
		return -1;
	*out = (enum loam_artifact_kind)i;
	return 0;
}

/* Names, versions and Debian package versions: letters, digits and
 * ".+~:_-", not starting with '.' or '-' (so never "..", never an option). */
static bool artifact_word(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n == 0 || n > WORD_MAX || s[0] == '.' || s[0] == '-')
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || strchr(".+~:_-", *s)))
			return false;
	return true;
}

/* A store path: artifact words joined by '/', so no "..", no absolute path. */
static bool store_path(const char *s)
{
	if (!s || !*s || strlen(s) > 1024)
		return false;
	char buf[1025];
	snprintf(buf, sizeof buf, "%s", s);
	char *save = NULL;
	size_t parts = 0;
	if (buf[0] == '/' || strstr(buf, "//") || buf[strlen(buf) - 1] == '/')
		return false;
	for (char *p = strtok_r(buf, "/", &save); p; p = strtok_r(NULL, "/", &save), parts++)
		if (!artifact_word(p))
			return false;
	return parts > 0;
}

static bool http_url(const char *s)
{
	if (!s || strlen(s) > 2048)
		return false;
	if (strncmp(s, "http://", 7) != 0 && strncmp(s, "https://", 8) != 0)
		return false;
	for (; *s; s++)
		if (*s <= ' ' || *s == 0x7f || strchr("\"'\\`<>{}|^", *s))
			return false;
	return true;
}

/* "entry 3 (firmware/edk2/1.0/x64)": whatever was readable before the fault. */
static void entry_label(const json_t *e, size_t index, char *buf, size_t len)
{
	const char *keys[] = {"component", "name", "version", "arch"};
	int n = snprintf(buf, len, "entry %zu (", index);
	for (size_t i = 0; i < 4 && n > 0 && (size_t)n < len; i++) {
		const char *v = json_string_value(json_object_get(e, keys[i]));
		n += snprintf(buf + n, len - (size_t)n, "%s%.40s", i ? "/" : "",
			      v && !loam_has_unsafe_chars(v) ? v : "?");
	}
	if (n > 0 && (size_t)n < len)
		snprintf(buf + n, len - (size_t)n, ")");
}

static int field_fail(loam_err *err, const char *label, const char *field, const char *why)
{
	return loam_fail(err, LOAM_E_INVALID, "manifest %s: field '%s' %s", label, field, why);
}

static int get_word(const json_t *e, const char *label, const char *field, char **out,
		    loam_err *err)
{
	const char *s = json_string_value(json_object_get(e, field));
	if (!s)
		return field_fail(err, label, field, "is missing or not a string");
	if (!artifact_word(s))
		return field_fail(
		    err, label, field,
		    "must be 1-128 letters, digits or .+~:_- not starting with . or -");
	*out = xstrdup(s);
	return 0;
}

/* Only canonical names: "amd64" is understood but refused, with a hint. */
static int parse_arch(const json_t *e, const char *label, const char **out, loam_err *err)
{
	const char *arch = json_string_value(json_object_get(e, "arch"));
	cleanup_err loam_err why = NULL;
	const struct loam_arch *a = arch ? loam_arch_normalize(arch, &why) : NULL;
	if (!a)
		return loam_fail(err, LOAM_E_INVALID, "manifest %s: field 'arch' %s", label,
				 why ? loam_err_msg(why) : "is missing or not a string");
	if (strcmp(a->name, arch) != 0)
		return loam_fail(err, LOAM_E_INVALID,
				 "manifest %s: field 'arch' '%s' is not canonical; write '%s'",
				 label, arch, a->name);
	*out = a->name;
	return 0;
}

static int parse_source(const json_t *e, const char *label, struct loam_artifact_entry *out,
			loam_err *err)
{
	const json_t *path = json_object_get(e, "path"), *url = json_object_get(e, "url");
	if (!path && !url)
		return field_fail(err, label, "path", "or 'url' is required for a file or tarball");
	if (path && !store_path(json_string_value(path)))
		return field_fail(err, label, "path",
				  "must be a relative store path of safe words (no '..')");
	if (url && !http_url(json_string_value(url)))
		return field_fail(err, label, "url", "must be an http:// or https:// URL");
	out->path = path ? xstrdup(json_string_value(path)) : NULL;
	out->url = url ? xstrdup(json_string_value(url)) : NULL;
	const char *sum = json_string_value(json_object_get(e, "sha256"));
	if (!loam_sha256_hex_valid(sum))
		return field_fail(err, label, "sha256", "must be 64 lower-case hex digits");
	memcpy(out->sha256, sum, sizeof out->sha256);
	const json_t *size = json_object_get(e, "size");
	if (!json_is_integer(size) || json_integer_value(size) < 0)
		return field_fail(err, label, "size", "must be a non-negative integer");
	out->size = (uint64_t)json_integer_value(size);
	return 0;
}

/* The JSON array at field, 1..LIST_MAX long, or NULL after failing. */
static const json_t *get_list(const json_t *e, const char *label, const char *field, loam_err *err)
{
	const json_t *list = json_object_get(e, field);
	if (!json_is_array(list) || json_array_size(list) == 0 || json_array_size(list) > LIST_MAX)
		return field_fail(err, label, field,
				  "must be a non-empty array (at most 256 items)"),
		       NULL;
	return list;
}

static int parse_guest_arches(const json_t *e, const char *label, struct loam_artifact_entry *out,
			      loam_err *err)
{
	const json_t *list = get_list(e, label, "guest_arches", err), *v;
	if (!list)
		return -1;
	out->guest_arches = xcalloc(json_array_size(list) + 1, sizeof(*out->guest_arches));
	size_t i;
	json_array_foreach(list, i, v)
	{
		const struct loam_arch *a = loam_arch_by_name(json_string_value(v));
		if (!a)
			return field_fail(err, label, "guest_arches",
					  "must list canonical arch names (x64, arm64)");
		for (size_t k = 0; k < i; k++)
			if (out->guest_arches[k] == a->name)
				return field_fail(err, label, "guest_arches", "repeats an arch");
		out->guest_arches[i] = a->name;
	}
	return 0;
}

static int parse_depends(const json_t *e, const char *label, struct loam_artifact_entry *out,
			 loam_err *err)
{
	if (!json_object_get(e, "depends"))
		return 0; /* a bundle may need nothing of the host */
	const json_t *list = get_list(e, label, "depends", err), *v;
	if (!list)
		return -1;
	out->depends = xcalloc(json_array_size(list) + 1, sizeof(*out->depends));
	size_t i;
	json_array_foreach(list, i, v)
	{
		if (!loam_valid_debian_package(json_string_value(v)))
			return field_fail(err, label, "depends",
					  "must list Debian package names ([a-z0-9][a-z0-9+.-]+)");
		out->depends[i] = xstrdup(json_string_value(v));
	}
	return 0;
}

static int parse_firmware_list(const json_t *e, const char *label, struct loam_artifact_entry *out,
			       loam_err *err)
{
	const json_t *list = get_list(e, label, "firmware", err), *v;
	if (!list)
		return -1;
	out->firmware = xcalloc(json_array_size(list), sizeof(*out->firmware));
	size_t i;
	json_array_foreach(list, i, v)
	{
		const char *name = json_string_value(json_object_get(v, "name"));
		const char *version = json_string_value(json_object_get(v, "version"));
		if (!artifact_word(name) || !artifact_word(version))
			return field_fail(err, label, "firmware",
					  "must list {\"name\", \"version\"} of safe words");
		out->firmware[i] = (struct loam_artifact_fw_ref){xstrdup(name), xstrdup(version)};
		out->nfirmware = i + 1;
	}
	return 0;
}

/* vmm and storage entries are bundles (guest_arches, depends,
 * debian_version; a vmm lists its firmware); no other entry may carry
 * those fields. */
static int parse_bundle(const json_t *e, const char *label, struct loam_artifact_entry *out,
			loam_err *err)
{
	bool bundle =
	    out->component == LOAM_ARTIFACT_VMM || out->component == LOAM_ARTIFACT_STORAGE;
	static const char *const bundle_fields[] = {"guest_arches", "depends", "debian_version",
						    "firmware"};
	for (size_t i = 0; !bundle && i < 4; i++)
		if (json_object_get(e, bundle_fields[i]))
			return field_fail(err, label, bundle_fields[i],
					  "belongs on vmm and storage entries only");
	if (!bundle)
		return 0;
	if (parse_guest_arches(e, label, out, err) < 0 || parse_depends(e, label, out, err) < 0)
		return -1;
	if (json_object_get(e, "debian_version") &&
	    get_word(e, label, "debian_version", &out->debian_version, err) < 0)
		return -1;
	if (out->component == LOAM_ARTIFACT_VMM)
		return parse_firmware_list(e, label, out, err);
	if (json_object_get(e, "firmware"))
		return field_fail(err, label, "firmware", "belongs on vmm entries only");
	return 0;
}

/* An image may say how long its boot to the readiness line may take. */
static int parse_boot_timeout(const json_t *e, const char *label, struct loam_artifact_entry *out,
			      loam_err *err)
{
	const json_t *t = json_object_get(e, "boot_timeout_s");
	if (!t)
		return 0;
	if (out->component != LOAM_ARTIFACT_IMAGE)
		return field_fail(err, label, "boot_timeout_s", "belongs on image entries only");
	if (!json_is_integer(t) || json_integer_value(t) < 1 ||
	    json_integer_value(t) > LOAM_ARTIFACT_BOOT_TIMEOUT_MAX)
		return field_fail(err, label, "boot_timeout_s", "must be an integer of 1..86400");
	out->boot_timeout_s = (unsigned)json_integer_value(t);
	return 0;
}

static int parse_entry(const json_t *e, size_t index, struct loam_artifact_entry *out,
		       loam_err *err)
{
	char label[256];
	entry_label(e, index, label, sizeof label);
	if (!json_is_object(e))
		return loam_fail(err, LOAM_E_INVALID, "manifest %s is not an object", label);
	if (loam_artifact_component_parse(json_string_value(json_object_get(e, "component")),
					  &out->component) < 0)
		return field_fail(err, label, "component",
				  "must be one of vmm, firmware, image, storage");
	if (loam_artifact_kind_parse(json_string_value(json_object_get(e, "kind")), &out->kind) < 0)
		return field_fail(err, label, "kind",
				  "must be file or tarball (the VMM and the storage daemon are "
				  "tarball bundles; rebuild the store with: make artifacts)");
	if (get_word(e, label, "name", &out->name, err) < 0 ||
	    get_word(e, label, "version", &out->version, err) < 0)
		return -1;
	if (parse_arch(e, label, &out->arch, err) < 0 || parse_source(e, label, out, err) < 0)
		return -1;
	if (parse_boot_timeout(e, label, out, err) < 0)
		return -1;
	return parse_bundle(e, label, out, err);
}

static void entry_free(struct loam_artifact_entry *e)
{
	free(e->name);
	free(e->version);
	free(e->path);
	free(e->url);
	free(e->guest_arches);
	for (char **d = e->depends; d && *d; d++)
		free(*d);
	free(e->depends);
	free(e->debian_version);
	for (size_t i = 0; i < e->nfirmware; i++) {
		free(e->firmware[i].name);
		free(e->firmware[i].version);
	}
	free(e->firmware);
}

void loam_artifact_manifest_free(struct loam_artifact_manifest *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->count; i++)
		entry_free(&m->entries[i]);
	free(m->entries);
	m->entries = NULL;
	m->count = 0;
}

static bool same_str(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

static bool same_key(const struct loam_artifact_entry *a, const struct loam_artifact_entry *b)
{
	return a->component == b->component && same_str(a->name, b->name) &&
	       same_str(a->version, b->version) && same_str(a->arch, b->arch);
}

int loam_artifact_manifest_parse(const char *buf, size_t len, struct loam_artifact_manifest *out,
				 loam_err *err)
{
	cleanup_json json_t *root = loam_json_parse(buf, len, "artifact manifest", err);
	if (!root)
		return -1;
	const json_t *entries = json_object_get(root, "entries");
	if (!json_is_array(entries))
		return loam_fail(err, LOAM_E_INVALID, "manifest: 'entries' must be an array");
	struct loam_artifact_manifest m = {
	    .entries = xcalloc(json_array_size(entries) + 1, sizeof(*m.entries)),
	};
	for (size_t i = 0; i < json_array_size(entries); i++) {
		m.count = i + 1;
		if (parse_entry(json_array_get(entries, i), i, &m.entries[i], err) < 0)
			goto fail;
		for (size_t j = 0; j < i; j++)
			if (same_key(&m.entries[j], &m.entries[i])) {
				loam_fail(err, LOAM_E_INVALID,
					  "manifest entry %zu (%s/%s/%s/%s) repeats entry %zu", i,
					  component_names[m.entries[i].component],
					  m.entries[i].name, m.entries[i].version,
					  m.entries[i].arch, j);
				goto fail;
			}
	}
	*out = m;
	return 0;
fail:
	loam_artifact_manifest_free(&m);
	return -1;
}

int loam_artifact_manifest_load(const char *path, struct loam_artifact_manifest *out, loam_err *err)
{
	cleanup_free char *buf = NULL;
	size_t len = 0;
	if (loam_read_file(path, MANIFEST_MAX, &buf, &len, err) < 0)
		return -1;
	if (loam_artifact_manifest_parse(buf, len, out, err) < 0)
		return loam_err_wrap(err, "%s", path);
	return 0;
}

char *loam_artifact_install_dir(const char *prefix, const struct loam_artifact_entry *e)
{
	return xasprintf("%s/%s/%s/%s/%s", prefix, component_names[e->component], e->name,
			 e->version, e->arch);
}

bool loam_artifact_entry_is_bundle(const struct loam_artifact_entry *e)
{
	return e->guest_arches != NULL;
}

static bool listed(const char *s, const char *const *list)
{
	for (; list && *list; list++)
		if (strcmp(*list, s) == 0)
			return true;
	return false;
}

bool loam_artifact_entry_for_host(const struct loam_artifact_entry *e, const char *own,
				  const char *const *served)
{
	if (!loam_artifact_entry_is_bundle(e))
		return listed(e->arch, served);
	if (strcmp(e->arch, own) != 0)
		return false;
	for (const char *const *g = e->guest_arches; *g; g++)
		if (listed(*g, served))
			return true;
	return false;
}
