/*
 * Host upgrade selection and the GC plan (upgrade.h), over the model's
 * host_artifact rows (db/host_artifact.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "artifact/upgrade.h"
#include "db/host_artifact.h"
#include "lib/cleanup.h"
#include "lib/xalloc.h"

static bool same_line(const struct loam_artifact_entry *a, const struct loam_artifact_entry *b)
{
	return a->component == b->component && strcmp(a->name, b->name) == 0 &&
	       strcmp(a->arch, b->arch) == 0;
}

/* Whether e is the last entry of its component/name/arch in m. */
static bool listed_last(const struct loam_artifact_manifest *m, size_t i)
{
	for (size_t k = i + 1; k < m->count; k++)
		if (same_line(&m->entries[i], &m->entries[k]))
			return false;
	return true;
}

static bool wanted(const struct loam_artifact_entry *e, const char *const *arches,
		   const enum loam_artifact_component *component)
{
	return loam_artifact_entry_for_host(e, arches[0], arches) &&
	       (!component || e->component == *component);
}

static bool listed_before(const struct loam_artifact_manifest *m, size_t i,
			  const char *const *arches, const enum loam_artifact_component *component)
{
	for (size_t k = 0; k < i; k++)
		if (wanted(&m->entries[k], arches, component) &&
		    strcmp(m->entries[k].version, m->entries[i].version) == 0)
			return true;
	return false;
}

/* "A, B" of the versions the store has for the selection, for messages. */
static char *versions_text(const struct loam_artifact_manifest *m, const char *const *arches,
			   const enum loam_artifact_component *component)
{
	char *s = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&s, &len);
	if (!f)
		return xstrdup("");
	const char *sep = "";
	for (size_t i = 0; i < m->count; i++) {
		const struct loam_artifact_entry *e = &m->entries[i];
		if (!wanted(e, arches, component) || listed_before(m, i, arches, component))
			continue;
		fprintf(f, "%s%s", sep, e->version);
		sep = ", ";
	}
	if (fclose(f) != 0 || !s) {
		free(s);
		return xstrdup("");
	}
	return s;
}

int loam_artifact_upgrade_select(const struct loam_artifact_manifest *m, const char *const *arches,
				 const char *component, const char *version,
				 struct loam_artifact_manifest *out, loam_err *err)
{
	enum loam_artifact_component c;
	if (component && loam_artifact_component_parse(component, &c) < 0)
		return loam_fail(err, LOAM_E_INVALID,
				 "unknown component '%.64s'; use vmm, firmware, image or storage",
				 component);
	const enum loam_artifact_component *cp = component ? &c : NULL;
	struct loam_artifact_entry *picked = xcalloc(m->count + 1, sizeof(*picked));
	size_t n = 0;
	for (size_t i = 0; i < m->count; i++) {
		const struct loam_artifact_entry *e = &m->entries[i];
		if (!wanted(e, arches, cp))
			continue;
		if (version ? strcmp(e->version, version) == 0 : listed_last(m, i))
			picked[n++] = *e;
	}
	if (n == 0) {
		free(picked);
		cleanup_free char *have = versions_text(m, arches, cp);
		return loam_fail(err, LOAM_E_INVALID,
				 "the artifact store has no %s%s%s for arch %s%s%s; it has: %s",
				 component ? component : "artifact", version ? " version " : "",
				 version ? version : "", arches[0], arches[1] ? " or " : "",
				 arches[1] ? arches[1] : "", *have ? have : "nothing");
	}
	*out = (struct loam_artifact_manifest){.entries = picked, .count = n};
	return 0;
}

static const char *keep_reason(const struct loam_host_artifact *a)
{
	if (strcmp(a->state, "removing") == 0)
		return NULL; /* an interrupted GC's: this one finishes it */
	if (strcmp(a->state, "installed") != 0 && strcmp(a->state, "unavailable") != 0)
		return "not installed";
	if (a->vms > 0)
		return "in use by VMs pinned to it";
	if (!a->newer)
		return "newest installed version: new VMs take it";
	if (!a->higher)
		return "highest weight: new VMs take it";
	return NULL;
}

static const char *remove_reason(const struct loam_host_artifact *a)
{
	return strcmp(a->state, "removing") == 0
		   ? "an interrupted gc began removing it"
		   : "no VM uses it and a newer version new VMs prefer is installed";
}

int loam_artifact_gc_plan(struct loam_db *db, const char *host_id, json_t **out, loam_err *err)
{
	cleanup_host_artifacts struct loam_host_artifacts l = {0};
	if (loam_host_artifacts_gc_view(db, host_id, &l, err) < 0)
		return -1;
	json_t *plan = json_pack("{s:[], s:[]}", "remove", "keep");
	for (size_t i = 0; i < l.n; i++) {
		const struct loam_host_artifact *a = &l.v[i];
		const char *why = keep_reason(a);
		json_t *e = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:s}", "component",
				      a->component, "name", a->name, "version", a->version, "arch",
				      a->arch, "weight", (json_int_t)a->weight, "vms",
				      (json_int_t)a->vms, "reason", why ? why : remove_reason(a));
		json_array_append_new(json_object_get(plan, why ? "keep" : "remove"), e);
	}
	*out = plan;
	return 0;
}
