/*
 * `loam-host install`: installs pinned artifacts on this host. The request
 * is JSON on stdin, never argv, because URLs and versions are data:
 *
 *   {"prefix": "/opt/loam",
 *    "entries": [{"component": "firmware", "name": "edk2", "version": "V",
 *                 "arch": "x64", "kind": "tarball", "url": "http://...",
 *                 "sha256": "<hex>", "size": N},
 *                {"component": "vmm", "name": "qemu", "version": "V",
 *                 "arch": "x64", "kind": "tarball", "url": "...", "sha256": "...",
 *                 "size": N, "depends": ["libaio1", "zlib1g", ...]}]}
 *
 * Every entry owns one directory, PREFIX/<component>/<name>/<version>/<arch>
 * (each part checked: no empty part, no "..", no other place; there is no
 * way to name another). It is downloaded (curl, else wget: the agent stays
 * static, so no libcurl) into a temp file next to that directory, checked
 * for size and sha256, fsynced, unpacked or moved into a staging directory
 * with a marker holding the digest, made readable to all (a VM's user runs
 * the binaries and reads the images), and renamed into place. A mismatch
 * names component, version, host and both digests and leaves nothing
 * there. An entry whose marker (and file) already match is "already".
 * Leftover temp files of an interrupted run are removed first, so running
 * the verb again resumes after a crash. A bundle's `depends` are then
 * checked with dpkg-query and the missing ones installed with apt-get
 * (host/depends.h).
 *
 * Output: {"host": H, "results": [{"component", "name", "version", "arch",
 * "state": installed|already|unavailable|failed, "path", "sha256", "error",
 * "depends": {...}}]}: unavailable when the files are in place but the
 * host could not check or install the packages they need. Exit 0 when
 * nothing failed, 1 when an entry failed, 2 for a malformed request.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "arch/arch.h"
#include "lib/cleanup.h"
#include "lib/fs.h"
#include "lib/json.h"
#include "lib/sha256.h"
#include "lib/spawn.h"
#include "lib/valid.h"
#include "lib/xalloc.h"
#include "host/depends.h"
#include "host/verbs.h"
#include "proto/agent.h"

#define REQUEST_MAX	 (4u << 20)
#define DOWNLOAD_TIMEOUT (30 * 60 * 1000)
#define MARKER		 ".loam-artifact"

#define DEPENDS_MAX 256

struct install_entry {
	const char *component, *name, *version, *arch, *kind;
	const char *url, *sha256;
	uint64_t size;
	const char *depends[DEPENDS_MAX + 1];
	size_t ndepends;
	char dest[4096];
};

static const char *host_name(void)
{
	static char name[256];
	if (!name[0] && gethostname(name, sizeof name - 1) < 0)
		snprintf(name, sizeof name, "unknown-host");
	return name;
}

static bool one_of(const char *s, const char *const *set)
{
	for (; s && *set; set++)
		if (strcmp(s, *set) == 0)
			return true;
	return false;
}

static const char *str(const json_t *e, const char *key)
{
	return json_string_value(json_object_get(e, key));
}

static const char *const entry_keys[] = {
    LOAM_KEY_COMPONENT, LOAM_KEY_NAME,	 LOAM_KEY_VERSION, LOAM_KEY_ARCH,    LOAM_KEY_KIND,
    LOAM_KEY_URL,	LOAM_KEY_SHA256, LOAM_KEY_SIZE,	   LOAM_KEY_DEPENDS, NULL};

/* The first key of e the verb does not take (a "dest" among them: an
 * artifact never lands anywhere but under the prefix), or NULL. */
static const char *unknown_key(const json_t *e)
{
	const char *key;
	const json_t *v;
	json_object_foreach((json_t *)e, key, v)
	{
		if (!one_of(key, entry_keys))
			return key;
	}
	return NULL;
}

static const char *parse_depends(const json_t *e, struct install_entry *out)
{
	const json_t *list = json_object_get(e, LOAM_KEY_DEPENDS), *v;
	if (!list)
		return NULL;
	if (!json_is_array(list) || json_array_size(list) > DEPENDS_MAX)
		return LOAM_KEY_DEPENDS;
	size_t i;
	json_array_foreach(list, i, v)
	{
		if (!loam_valid_debian_package(json_string_value(v)))
			return LOAM_KEY_DEPENDS;
		out->depends[out->ndepends++] = json_string_value(v);
	}
	return NULL;
}

/* The prefix is an absolute path without "..", "." or an empty part. */
static bool prefix_ok(const char *prefix)
{
	size_t n = prefix ? strlen(prefix) : 0;
	return loam_valid_install_path(prefix) && n > 1 && prefix[n - 1] != '/' &&
	       !strstr(prefix, "//") && !strstr(prefix, "/../") && !strstr(prefix, "/./") &&
	       !(n >= 3 && strcmp(prefix + n - 3, "/..") == 0) &&
	       !(n >= 2 && strcmp(prefix + n - 2, "/.") == 0);
}

static int parse_entry(const json_t *e, size_t i, const char *prefix, struct install_entry *out,
		       loam_err *err)
{
	static const char *const components[] = {"vmm", "firmware", "image", "storage", NULL};
	static const char *const kinds[] = {"file", "tarball", NULL};
	*out = (struct install_entry){
	    .component = str(e, LOAM_KEY_COMPONENT),
	    .name = str(e, LOAM_KEY_NAME),
	    .version = str(e, LOAM_KEY_VERSION),
	    .arch = str(e, LOAM_KEY_ARCH),
	    .kind = str(e, LOAM_KEY_KIND),
	    .url = str(e, LOAM_KEY_URL),
	    .sha256 = str(e, LOAM_KEY_SHA256),
	};
	const json_t *size = json_object_get(e, LOAM_KEY_SIZE);
	const char *bad = !json_is_object(e)					   ? "entry"
			  : unknown_key(e)					   ? unknown_key(e)
			  : !one_of(out->component, components)			   ? "component"
			  : !loam_valid_artifact_word(out->name)		   ? "name"
			  : !loam_valid_artifact_word(out->version)		   ? "version"
			  : !loam_arch_by_name(out->arch ? out->arch : "")	   ? "arch"
			  : !one_of(out->kind, kinds)				   ? "kind"
			  : !loam_valid_http_url(out->url)			   ? "url"
			  : !loam_sha256_hex_valid(out->sha256)			   ? "sha256"
			  : !json_is_integer(size) || json_integer_value(size) < 0 ? "size"
			  : !prefix_ok(prefix)					   ? "prefix"
					       : parse_depends(e, out);
	if (bad)
		return loam_fail(err, LOAM_E_INVALID,
				 "request entry %zu: field '%s' is missing, invalid or not "
				 "accepted (an artifact installs under "
				 "PREFIX/<component>/<name>/<version>/<arch> only)",
				 i, bad);
	out->size = (uint64_t)json_integer_value(size);
	snprintf(out->dest, sizeof out->dest, "%s/%s/%s/%s/%s", prefix, out->component, out->name,
		 out->version, out->arch);
	return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

static void remove_tree(const char *path)
{
	nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static bool have_program(const char *name)
{
	const char *path = getenv("PATH");
	cleanup_free char *copy = strdup(path && *path ? path : "/usr/sbin:/usr/bin:/sbin:/bin");
	char *save = NULL;
	for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		cleanup_free char *p = xasprintf("%s/%s", d, name);
		if (p && access(p, X_OK) == 0)
			return true;
	}
	return false;
}

/* Where dest's staging files go: its parent, so a rename is atomic. */
static void parent_of(const char *path, char *out, size_t len)
{
	snprintf(out, len, "%s", path);
	char *slash = strrchr(out, '/');
	if (slash && slash != out)
		*slash = '\0';
}

static const char *base_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	return slash ? slash + 1 : path;
}

/* Removes temp files and staging dirs an interrupted run left next to dest. */
static void remove_leftovers(const char *parent, const char *leaf)
{
	cleanup_dir DIR *d = opendir(parent);
	cleanup_free char *prefix = xasprintf(".%s.", leaf);
	for (struct dirent *de; prefix && d && (de = readdir(d));)
		if (strncmp(de->d_name, prefix, strlen(prefix)) == 0) {
			cleanup_free char *p = xasprintf("%s/%s", parent, de->d_name);
			if (p)
				remove_tree(p);
		}
}

static int download(const char *url, const char *tmp, loam_err *err)
{
	const char *curl[] = {"curl", "-fsS", "--retry", "2", "-o", tmp, "--", url, NULL};
	const char *wget[] = {"wget", "-q", "-O", tmp, url, NULL};
	bool use_curl = have_program("curl");
	if (!use_curl && !have_program("wget"))
		return loam_fail(err, LOAM_E_UNAVAILABLE, "neither curl nor wget is installed");
	struct loam_spawn_opts o = {.argv = use_curl ? curl : wget, .timeout_ms = DOWNLOAD_TIMEOUT};
	struct loam_spawn_result r = {0};
	int rc = loam_spawn_ok(&o, &r, err);
	loam_spawn_result_free(&r);
	return rc < 0 ? loam_err_wrap(err, "download %s", url) : 0;
}

static int fsync_path(const char *path, loam_err *err)
{
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) < 0)
		return loam_fail_errno(err, "fsync %s", path);
	return 0;
}

static int check_digest(const struct install_entry *e, const char *file, char got[65],
			loam_err *err)
{
	uint64_t size = 0;
	if (loam_sha256_file(file, got, &size, err) < 0)
		return -1;
	if (size != e->size || strcmp(got, e->sha256) != 0)
		return loam_fail(
		    err, LOAM_E_INVALID,
		    "%s %s version %s (%s) on host %s: %s mismatch: expected sha256 %s "
		    "(%llu bytes), got sha256 %s (%llu bytes)",
		    e->component, e->name, e->version, e->arch, host_name(),
		    size != e->size ? "size" : "sha256", e->sha256, (unsigned long long)e->size,
		    got, (unsigned long long)size);
	return 0;
}

/* "already" when dest's marker holds the digest and, for a file, the file
 * itself still matches it. */
static bool already_installed(const struct install_entry *e, const char *file)
{
	char buf[80] = "";
	cleanup_free char *marker = xasprintf("%s/" MARKER, e->dest);
	cleanup_fclose FILE *f = marker ? fopen(marker, "r") : NULL;
	if (!f || !fgets(buf, sizeof buf, f) || strncmp(buf, e->sha256, 64) != 0)
		return false;
	if (strcmp(e->kind, "file") != 0)
		return true;
	char got[65];
	cleanup_err loam_err ignored = NULL;
	return check_digest(e, file, got, &ignored) == 0;
}

/* Fills stage (a new dir) with the verified download, then the marker. */
static int fill_stage(const struct install_entry *e, const char *tmp, const char *stage,
		      const char *file_name, loam_err *err)
{
	if (strcmp(e->kind, "tarball") == 0) {
		const char *tar[] = {"tar", "-xzf", tmp, "-C", stage, NULL};
		struct loam_spawn_opts o = {.argv = tar, .timeout_ms = DOWNLOAD_TIMEOUT};
		struct loam_spawn_result r = {0};
		int rc = loam_spawn_ok(&o, &r, err);
		loam_spawn_result_free(&r);
		if (rc < 0)
			return loam_err_wrap(err, "unpack %s", e->name);
		const char *sync_argv[] = {"sync", NULL};
		struct loam_spawn_opts so = {.argv = sync_argv, .timeout_ms = 600000};
		loam_spawn(&so, &r, NULL);
		loam_spawn_result_free(&r);
	} else {
		cleanup_free char *path = xasprintf("%s/%s", stage, file_name);
		if (!path || rename(tmp, path) < 0)
			return loam_fail_errno(err, "rename %s", tmp);
	}
	char line[128];
	cleanup_free char *marker = xasprintf("%s/" MARKER, stage);
	if (!marker)
		return loam_fail(err, LOAM_E_INTERNAL, "out of memory");
	int n = snprintf(line, sizeof line, "%s %llu\n", e->sha256, (unsigned long long)e->size);
	if (loam_write_file_atomic(marker, line, (size_t)n, 0644, err) < 0)
		return -1;
	return fsync_path(stage, err);
}

static int install_files(const struct install_entry *e, const char *file, char got[65],
			 loam_err *err)
{
	char parent[4096];
	parent_of(e->dest, parent, sizeof parent);
	const char *leaf = base_of(e->dest);
	if (loam_mkdir_p(parent, 0755, err) < 0)
		return -1;
	remove_leftovers(parent, leaf);
	cleanup_free char *tmp = xasprintf("%s/.%s.part-XXXXXX", parent, leaf);
	cleanup_free char *stage = xasprintf("%s/.%s.stage-XXXXXX", parent, leaf);
	if (!tmp || !stage)
		return loam_fail(err, LOAM_E_INTERNAL, "out of memory");
	cleanup_close int fd = mkstemp(tmp);
	if (fd < 0)
		return loam_fail_errno(err, "create a temp file in %s", parent);
	int rc = -1;
	if (download(e->url, tmp, err) == 0 && check_digest(e, tmp, got, err) == 0 &&
	    fsync_path(tmp, err) == 0) {
		if (!mkdtemp(stage))
			loam_fail_errno(err, "create a staging dir in %s", parent);
		else if (chmod(stage, 0755) < 0)
			loam_fail_errno(err, "chmod %s", stage);
		else if (fill_stage(e, tmp, stage, base_of(file), err) == 0) {
			remove_tree(e->dest); /* a stale install of the same version */
			rc = rename(stage, e->dest) < 0
				 ? loam_fail_errno(err, "rename into %s", e->dest)
				 : loam_fsync_parent(e->dest, err);
		}
	}
	unlink(tmp);
	if (rc < 0) {
		remove_tree(stage);
		rmdir(parent); /* only when empty: this version dir was new */
	}
	return rc;
}

/* The file name a "file" entry keeps: the last word of its URL's path. */
static int file_path_of(const struct install_entry *e, char *out, size_t len, loam_err *err)
{
	const char *q = strpbrk(e->url, "?#");
	size_t n = q ? (size_t)(q - e->url) : strlen(e->url);
	cleanup_free char *url = strndup(e->url, n);
	const char *b = url ? base_of(url) : "";
	if (!loam_valid_artifact_word(b))
		return loam_fail(err, LOAM_E_INVALID, "%s %s: the URL does not end in a file name",
				 e->component, e->name);
	cleanup_free char *p = xasprintf("%s/%s", e->dest, b);
	if (!p || strlen(p) >= len)
		return loam_fail(err, LOAM_E_INVALID, "%s %s: the install path is too long",
				 e->component, e->name);
	memcpy(out, p, strlen(p) + 1);
	return 0;
}

static json_t *install_artifact(const struct install_entry *e, loam_err *err)
{
	char file[4400] = "", got[65] = "";
	if (strcmp(e->kind, "file") == 0 && file_path_of(e, file, sizeof file, err) < 0)
		return NULL;
	const char *path = strcmp(e->kind, "file") == 0 ? file : e->dest;
	if (already_installed(e, file))
		return json_pack("{s:s, s:s, s:s}", LOAM_KEY_STATE, "already", LOAM_KEY_PATH, path,
				 LOAM_KEY_SHA256, e->sha256);
	if (install_files(e, file, got, err) < 0)
		return json_pack("{s:s, s:s, s:s}", LOAM_KEY_STATE, "failed", LOAM_KEY_SHA256, got,
				 LOAM_KEY_ERROR, loam_err_msg(*err));
	return json_pack("{s:s, s:s, s:s}", LOAM_KEY_STATE, "installed", LOAM_KEY_PATH, path,
			 LOAM_KEY_SHA256, e->sha256);
}

/* The bundle's system packages, once its files are in place: an entry
 * whose packages could not be checked is unavailable, one whose apt-get
 * failed is failed. */
static void ensure_depends(const struct install_entry *e, json_t *res)
{
	if (e->ndepends == 0 ||
	    strcmp(json_string_value(json_object_get(res, LOAM_KEY_STATE)), "failed") == 0)
		return;
	char what[512];
	snprintf(what, sizeof what, "%s %s version %s (%s) on host %s", e->component, e->name,
		 e->version, e->arch, host_name());
	json_t *d = host_depends_ensure(e->depends, e->ndepends, what);
	const char *state = json_string_value(json_object_get(d, LOAM_KEY_STATE));
	if (strcmp(state, "unavailable") == 0 || strcmp(state, "failed") == 0) {
		json_object_set_new(res, LOAM_KEY_STATE, json_string(state));
		json_object_set(res, LOAM_KEY_ERROR, json_object_get(d, LOAM_KEY_ERROR));
	}
	json_object_set_new(res, LOAM_KEY_DEPENDS, d);
}

static json_t *install_one(const struct install_entry *e)
{
	cleanup_err loam_err err = NULL;
	json_t *res = install_artifact(e, &err);
	if (!res)
		res = json_pack("{s:s, s:s}", LOAM_KEY_STATE, "failed", LOAM_KEY_ERROR,
				loam_err_msg(err));
	ensure_depends(e, res);
	json_object_set_new(res, LOAM_KEY_COMPONENT, json_string(e->component));
	json_object_set_new(res, LOAM_KEY_NAME, json_string(e->name));
	json_object_set_new(res, LOAM_KEY_VERSION, json_string(e->version));
	json_object_set_new(res, LOAM_KEY_ARCH, json_string(e->arch));
	return res;
}

static int parse_request(const char *buf, size_t len, json_t **out, const char **prefix,
			 loam_err *err)
{
	json_t *req = loam_json_parse(buf, len, "install request", err);
	if (!req)
		return -1;
	if (!json_is_array(json_object_get(req, LOAM_KEY_ENTRIES))) {
		json_decref(req);
		return loam_fail(err, LOAM_E_INVALID,
				 "install request: 'entries' must be an array");
	}
	*prefix = json_string_value(json_object_get(req, LOAM_KEY_PREFIX));
	if (!*prefix)
		*prefix = "/opt/loam";
	*out = req;
	return 0;
}

/* The JSON request on stdin of install and uninstall, which take no
 * arguments. */
static int read_request(int argc, json_t **out, const char **prefix, loam_err *err)
{
	if (argc != 1)
		return loam_fail(err, LOAM_E_INVALID,
				 "takes no arguments; the request is JSON on stdin");
	cleanup_free char *buf = xmalloc(REQUEST_MAX + 1);
	size_t len = fread(buf, 1, REQUEST_MAX + 1, stdin);
	if (len > REQUEST_MAX)
		return loam_fail(err, LOAM_E_INVALID, "the request on stdin is too large");
	return parse_request(buf, len, out, prefix, err);
}

int loam_host_install_check(const char *buf, size_t len, loam_err *err)
{
	cleanup_json json_t *req = NULL;
	const char *prefix = NULL;
	if (parse_request(buf, len, &req, &prefix, err) < 0)
		return -1;
	const json_t *entries = json_object_get(req, LOAM_KEY_ENTRIES);
	struct install_entry entry;
	for (size_t i = 0; i < json_array_size(entries); i++)
		if (parse_entry(json_array_get(entries, i), i, prefix, &entry, err) < 0)
			return -1;
	return 0;
}

int loam_host_verb_install(int argc, char **argv)
{
	(void)argv;
	cleanup_err loam_err err = NULL;
	cleanup_json json_t *req = NULL;
	const char *prefix = NULL;
	if (read_request(argc, &req, &prefix, &err) < 0)
		return loam_host_report(LOAM_VERB_INSTALL, &err);
	const json_t *entries = json_object_get(req, LOAM_KEY_ENTRIES);
	size_t n = json_array_size(entries);
	struct install_entry *parsed = calloc(n + 1, sizeof(*parsed));
	for (size_t i = 0; i < n; i++)
		if (parse_entry(json_array_get(entries, i), i, prefix, &parsed[i], &err) < 0) {
			free(parsed);
			return loam_host_report(LOAM_VERB_INSTALL, &err);
		}
	cleanup_json json_t *out =
	    json_pack("{s:s, s:[]}", LOAM_KEY_HOST, host_name(), LOAM_KEY_RESULTS);
	int status = 0;
	for (size_t i = 0; i < n; i++) {
		json_t *res = install_one(&parsed[i]);
		if (strcmp(json_string_value(json_object_get(res, LOAM_KEY_STATE)), "failed") == 0)
			status = 1;
		json_array_append_new(json_object_get(out, LOAM_KEY_RESULTS), res);
	}
	free(parsed);
	cleanup_free char *text = loam_json_dump(out);
	printf("%s\n", text);
	return status;
}

/* `loam-host uninstall`: removes installed versions (GC). Request on stdin:
 * {"prefix": P, "entries": [{"component", "name", "version", "arch"}]}.
 * Each version dir is renamed aside first, so a crash never leaves a
 * half-removed dir under its real name. Prints {"host", "results": [{...,
 * "state": removed|absent}]}. */
static int uninstall_entry_ok(const json_t *e, size_t i, loam_err *err)
{
	static const char *const components[] = {"vmm", "firmware", "image", "storage", NULL};
	const char *a = str(e, LOAM_KEY_ARCH);
	if (!one_of(str(e, LOAM_KEY_COMPONENT), components) ||
	    !loam_valid_artifact_word(str(e, LOAM_KEY_NAME)) ||
	    !loam_valid_artifact_word(str(e, LOAM_KEY_VERSION)) || !loam_arch_by_name(a ? a : ""))
		return loam_fail(err, LOAM_E_INVALID,
				 "uninstall request entry %zu: missing or invalid component, name, "
				 "version or arch",
				 i);
	return 0;
}

static json_t *uninstall_one(const json_t *e, const char *prefix, loam_err *err)
{
	const char *c = str(e, LOAM_KEY_COMPONENT), *n = str(e, LOAM_KEY_NAME),
		   *v = str(e, LOAM_KEY_VERSION), *a = str(e, LOAM_KEY_ARCH);
	cleanup_free char *dir = xasprintf("%s/%s/%s/%s/%s", prefix, c, n, v, a);
	cleanup_free char *aside =
	    xasprintf("%s/%s/%s/%s/.%s.gc-%d", prefix, c, n, v, a, (int)getpid());
	if (!dir || !aside)
		return loam_fail(err, LOAM_E_INTERNAL, "out of memory"), NULL;
	const char *state = "absent";
	if (rename(dir, aside) == 0) {
		remove_tree(aside);
		state = "removed";
	} else if (errno != ENOENT) {
		return loam_fail_errno(err, "remove %s", dir), NULL;
	}
	char parent[4096];
	parent_of(dir, parent, sizeof parent);
	rmdir(parent); /* the version dir, when no other arch is left in it */
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", LOAM_KEY_COMPONENT, c, LOAM_KEY_NAME, n,
			 LOAM_KEY_VERSION, v, "arch", a, "state", state, "path", dir);
}

int loam_host_verb_uninstall(int argc, char **argv)
{
	(void)argv;
	cleanup_err loam_err err = NULL;
	cleanup_json json_t *req = NULL;
	const char *prefix = NULL;
	if (read_request(argc, &req, &prefix, &err) < 0)
		return loam_host_report(LOAM_VERB_UNINSTALL, &err);
	if (!prefix_ok(prefix))
		return loam_fail(&err, LOAM_E_INVALID, "uninstall request: bad 'prefix'"),
		       loam_host_report(LOAM_VERB_UNINSTALL, &err);
	cleanup_json json_t *out =
	    json_pack("{s:s, s:[]}", LOAM_KEY_HOST, host_name(), LOAM_KEY_RESULTS);
	const json_t *e;
	size_t i;
	json_array_foreach(json_object_get(req, LOAM_KEY_ENTRIES), i, e)
	{
		if (uninstall_entry_ok(e, i, &err) < 0) /* all checked before any change */
			return loam_host_report(LOAM_VERB_UNINSTALL, &err);
	}
	json_array_foreach(json_object_get(req, LOAM_KEY_ENTRIES), i, e)
	{
		json_t *res = uninstall_one(e, prefix, &err);
		if (!res)
			return loam_host_report(LOAM_VERB_UNINSTALL, &err);
		json_array_append_new(json_object_get(out, LOAM_KEY_RESULTS), res);
	}
	cleanup_free char *text = loam_json_dump(out);
	printf("%s\n", text);
	return 0;
}
