/*
 * GET /v1/hosts and /v1/hosts/NAME: a host's JSON view, from the host
 * model (db/host.h), which reads every host with its emulated arches, VM
 * count and cloudify strand in one query. Adding, setting and removing
 * hosts are in host_add.c and host_set.c.
 */
#include "api/internal.h"

#include <math.h>
#include <string.h>

#include "artifact/versions.h"
#include "db/net.h"
#include "lib/cleanup.h"
#include "lib/json.h"

static json_t *emulate_json(const struct loam_host *h)
{
	json_t *a = json_array();
	for (size_t i = 0; i < h->emulate.n; i++)
		json_array_append_new(a, json_string(h->emulate.v[i]));
	return a;
}

/* The keys docs/design.md §4 names come first: name, arch, state, cpus, cores,
 * memory_gib. */
static json_t *identity_json(const struct loam_host *h)
{
	return json_pack("{s:s, s:s?, s:s, s:s?, s:I, s:I, s:I, s:s, s:s, s:s, s:b, s:b, s:o, "
			 "s:f}",
			 "name", h->name, "arch", h->arch, "state", loam_host_state_name(h->state),
			 "state_reason", h->state_reason, "cpus", (json_int_t)h->cpus, "cores",
			 (json_int_t)h->total_cores, "memory_gib", (json_int_t)h->total_mem_gib,
			 "id", h->id, "location", h->location, "accel", h->accel, "kvm", h->kvm,
			 "allow_tcg", h->allow_tcg, "emulate", emulate_json(h), "cpu_overcommit",
			 h->cpu_overcommit);
}

static void add_load(json_t *v, const struct loam_host *h)
{
	json_int_t allocatable = (json_int_t)floor((double)h->total_cores * h->cpu_overcommit);
	json_object_update_new(
	    v, json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:s?, s:s?, "
			 "s:s?}",
			 "used_cores", (json_int_t)h->used_cores, "total_cores", allocatable,
			 "used_memory_gib", (json_int_t)h->used_memory_gib, "hugepages_1g_total",
			 (json_int_t)h->total_hugepages_1g, "hugepages_1g_used",
			 (json_int_t)h->used_hugepages_1g, "storage_gib",
			 (json_int_t)h->total_storage_gib, "available_storage_gib",
			 (json_int_t)h->available_storage_gib, "sockets", (json_int_t)h->sockets,
			 "dies", (json_int_t)h->dies, "threads_per_core",
			 (json_int_t)h->threads_per_core, "numa_nodes", (json_int_t)h->numa_nodes,
			 "cpu_model", h->cpu_model, "os", h->os, "kernel", h->kernel));
}

static void add_strand(json_t *v, const struct loam_host *h)
{
	json_t *strand = h->has_strand ? api_strand_json(&h->strand) : json_null();
	json_object_set(v, "label", h->has_strand ? json_object_get(strand, "label") : json_null());
	json_object_set(v, "last_error",
			h->has_strand ? json_object_get(strand, "last_error") : json_null());
	json_object_set_new(v, "strand", strand);
}

static void add_access(json_t *v, const struct loam_host *h)
{
	json_object_update_new(v, json_pack("{s:s, s:s?, s:I, s:s, s:s?, s:s, s:s?, s:I, s:o, s:I}",
					    "transport", h->transport, "address", h->address,
					    "ssh_port", (json_int_t)h->ssh_port, "ssh_user",
					    h->ssh_user, "host_key", h->host_key, "state_dir",
					    h->state_dir, "agent_path", h->agent_path, "created_at",
					    (json_int_t)h->created_at, "last_seen_at",
					    h->seen ? json_integer(h->last_seen_at) : json_null(),
					    "vms", (json_int_t)h->vms));
}

/* Its pool, its prefix (its own ULA /48 when none is set), how many VMs
 * they hold and hold now, and whether guest traffic may leave the host. */
static void add_net(json_t *v, const struct loam_host *h)
{
	struct loam_net6 prefix;
	char text[LOAM_CIDR_STRLEN] = "";
	if (loam_net_host_prefix(h->id, h->ipv6_prefix, &prefix, NULL) == 0)
		loam_net6_format(&prefix, text);
	json_object_update_new(v, json_pack("{s:s?, s:s, s:I, s:I, s:b}", "ipv4_pool", h->ipv4_pool,
					    "ipv6_prefix", text, "ipv4_total",
					    (json_int_t)h->ipv4_total, "ipv4_used",
					    (json_int_t)h->ipv4_used, "egress", h->egress));
}

static json_t *host_json(const struct loam_host *h)
{
	json_t *v = identity_json(h);
	add_load(v, h);
	add_net(v, h);
	add_strand(v, h);
	add_access(v, h);
	return v;
}

int api_hosts_list(struct api_req *r, loam_err *err)
{
	cleanup_hosts struct loam_hosts hosts = {0};
	if (loam_host_list_page(r->db, &r->q.page, &hosts, err) < 0)
		return -1;
	json_t *list = json_array();
	size_t shown = api_page_shown(r, hosts.n);
	for (size_t i = 0; i < shown; i++)
		json_array_append_new(list, host_json(&hosts.v[i]));
	if (hosts.n > shown)
		api_page_link(r, hosts.v[shown - 1].name);
	r->out = list;
	return 0;
}

int api_host_not_found(const char *name, loam_err *err)
{
	return loam_fail(err, LOAM_E_NOTFOUND, "no host named '%s'; see: loam host ls", name);
}

int api_hosts_show(struct api_req *r, loam_err *err)
{
	cleanup_host struct loam_host h = {0};
	int found = loam_host_view(r->db, r->seg[1], &h, err);
	if (found <= 0)
		return found < 0 ? -1 : api_host_not_found(r->seg[1], err);
	json_t *artifacts = NULL;
	if (loam_artifact_host_json(r->db, h.id, &artifacts, err) < 0)
		return -1;
	cleanup_err loam_err ferr = NULL;
	json_t *facts = h.facts ? loam_json_parse(h.facts, strlen(h.facts), "facts", &ferr) : NULL;
	json_t *v = host_json(&h);
	json_object_set_new(v, "facts", facts ? facts : json_null());
	json_object_set_new(v, "artifacts", artifacts);
	r->out = v;
	return 0;
}
