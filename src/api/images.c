/*
 * The guest images a VM may name: the index the API keeps of the
 * manifest loamd serves (copied once, at loam_api_new), the check a
 * create makes against it, and GET /v1/images (`loam image ls`): each
 * image with its arches and versions, and the hosts that have each
 * installed (one query over host_artifact).
 *
 * Why the manifest and not host_artifact decides whether an image exists:
 * every host installs the manifest's entries for its arch and the arches
 * it emulates (cloudify's install_artifacts), so an image in it for arch A
 * can be placed as soon as a host serving A is there, including a host not
 * added yet. What hosts have installed today says less: with no host of A
 * yet (or one still installing) a valid create would be refused, and an
 * image gone from the store stays installed only until GC while no new
 * host gets it. The allocator's index (src/progs/images.c) answers the
 * other question, which host can take the VM now.
 */
#include "api/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "artifact/manifest.h"
#include "db/host_artifact.h"
#include "lib/cleanup.h"
#include "lib/xalloc.h"

struct api_image {
	char *name, *version, *arch;
};

struct api_images {
	struct api_image *v;
	size_t n;
};

static int by_name_arch_version(const void *a, const void *b)
{
	const struct api_image *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	if (!c)
		c = strcmp(x->arch, y->arch);
	return c ? c : strcmp(x->version, y->version);
}

struct api_images *api_images_new(const struct loam_artifact_manifest *m)
{
	if (!m)
		return NULL;
	struct api_images *x = xcalloc(1, sizeof(*x));
	x->v = xcalloc(m->count + 1, sizeof(*x->v));
	for (size_t i = 0; i < m->count; i++) {
		const struct loam_artifact_entry *e = &m->entries[i];
		if (e->component != LOAM_ARTIFACT_IMAGE)
			continue;
		x->v[x->n++] = (struct api_image){.name = xstrdup(e->name),
						  .version = xstrdup(e->version),
						  .arch = xstrdup(e->arch)};
	}
	qsort(x->v, x->n, sizeof(*x->v), by_name_arch_version);
	return x;
}

void api_images_free(struct api_images *x)
{
	if (!x)
		return;
	for (size_t i = 0; i < x->n; i++) {
		free(x->v[i].name);
		free(x->v[i].version);
		free(x->v[i].arch);
	}
	free(x->v);
	free(x);
}

/* "debian-12, loam-tiny": the distinct names with a build for arch, or
 * "none" (the caller frees). */
static char *names_for_arch(const struct api_images *x, const char *arch)
{
	char *out = xstrdup("");
	const char *last = NULL;
	for (size_t i = 0; i < x->n; i++) {
		if (strcmp(x->v[i].arch, arch) != 0 || (last && strcmp(last, x->v[i].name) == 0))
			continue;
		char *more = xasprintf("%s%s%s", out, *out ? ", " : "", x->v[i].name);
		free(out);
		out = more;
		last = x->v[i].name;
	}
	if (!*out) {
		free(out);
		out = xstrdup("none");
	}
	return out;
}

int api_image_check(const struct loam_api *api, const char *image, const char *arch, loam_err *err)
{
	const struct api_images *x = api->images;
	if (!x) /* no store: placement ignores images too, and prep says what is missing */
		return 0;
	bool named = false;
	for (size_t i = 0; i < x->n; i++) {
		if (strcmp(x->v[i].name, image) != 0)
			continue;
		if (strcmp(x->v[i].arch, arch) == 0)
			return 0;
		named = true;
	}
	cleanup_free char *names = names_for_arch(x, arch);
	if (named)
		return loam_fail(err, LOAM_E_INVALID,
				 "image '%s' has no build for %s; images for %s: %s (see: loam "
				 "image ls)",
				 image, arch, arch, names);
	return loam_fail(err, LOAM_E_INVALID,
			 "no image named '%s'; images for %s: %s (see: loam image ls)", image, arch,
			 names);
}

/* ---- GET /v1/images ---- */

/* One version of an image in the store, or installed on one host. */
struct image_row {
	const char *name, *version, *arch, *host; /* host NULL: the store's */
};

static int row_order(const void *a, const void *b)
{
	const struct image_row *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	if (!c)
		c = strcmp(x->arch, y->arch);
	if (!c)
		c = strcmp(x->version, y->version);
	if (!c && (!x->host || !y->host))
		c = (x->host != NULL) - (y->host != NULL);
	return c ? c : strcmp(x->host ? x->host : "", y->host ? y->host : "");
}

static int by_string(const void *a, const void *b)
{
	return strcmp(json_string_value(*(json_t *const *)a),
		      json_string_value(*(json_t *const *)b));
}

/* The image's hosts, each once, sorted, from its versions' lists. */
static json_t *image_hosts(const json_t *versions)
{
	size_t n = 0, i, k;
	json_t *v, *h;
	json_array_foreach(versions, i, v)
	{
		n += json_array_size(json_object_get(v, "hosts"));
	}
	json_t **all = xcalloc(n + 1, sizeof(*all));
	n = 0;
	json_array_foreach(versions, i, v)
	{
		json_array_foreach(json_object_get(v, "hosts"), k, h)
		{
			all[n++] = h;
		}
	}
	qsort(all, n, sizeof(*all), by_string);
	json_t *list = json_array();
	for (i = 0; i < n; i++)
		if (i == 0 || by_string(&all[i - 1], &all[i]) != 0)
			json_array_append(list, all[i]);
	free(all);
	return list;
}

/* Sorted rows → [{name, arches, versions: [{version, arch, in_store,
 * hosts}], hosts}]; the hosts only for the operator (the fleet's host
 * names are not a project's business). */
static json_t *images_view(const struct image_row *rows, size_t n, bool with_hosts)
{
	json_t *list = json_array(), *img = NULL, *ver = NULL;
	for (size_t i = 0; i < n; i++) {
		const struct image_row *w = &rows[i], *prev = i ? &rows[i - 1] : NULL;
		if (!prev || strcmp(prev->name, w->name) != 0) {
			img = json_pack("{s:s, s:[], s:[]}", "name", w->name, "arches", "versions");
			json_array_append_new(list, img);
			prev = NULL;
		}
		if (!prev || strcmp(prev->arch, w->arch) != 0)
			json_array_append_new(json_object_get(img, "arches"), json_string(w->arch));
		if (!prev || strcmp(prev->arch, w->arch) != 0 ||
		    strcmp(prev->version, w->version) != 0) {
			ver = json_pack("{s:s, s:s, s:b, s:[]}", "version", w->version, "arch",
					w->arch, "in_store", !w->host, "hosts");
			json_array_append_new(json_object_get(img, "versions"), ver);
		}
		if (w->host)
			json_array_append_new(json_object_get(ver, "hosts"), json_string(w->host));
	}
	size_t i, k;
	json_array_foreach(list, i, img)
	{
		json_t *versions = json_object_get(img, "versions");
		if (with_hosts) {
			json_object_set_new(img, "hosts", image_hosts(versions));
			continue;
		}
		json_array_foreach(versions, k, ver)
		{
			json_object_del(ver, "hosts");
		}
	}
	return list;
}

int api_images_list(struct api_req *r, loam_err *err)
{
	cleanup_host_artifacts struct loam_host_artifacts installed = {0};
	if (loam_host_artifacts_images(r->db, &installed, err) < 0)
		return -1;
	const struct api_images *x = r->api->images;
	size_t nstore = x ? x->n : 0, n = 0;
	cleanup_free struct image_row *rows = xcalloc(nstore + installed.n + 1, sizeof(*rows));
	for (size_t i = 0; i < nstore; i++)
		rows[n++] = (struct image_row){x->v[i].name, x->v[i].version, x->v[i].arch, NULL};
	for (size_t i = 0; i < installed.n; i++) {
		const struct loam_host_artifact *a = &installed.v[i];
		rows[n++] = (struct image_row){a->name, a->version, a->arch, a->host_name};
	}
	qsort(rows, n, sizeof(*rows), row_order);
	r->out = images_view(rows, n, r->who.kind == LOAM_PRINCIPAL_OPERATOR);
	return 0;
}
