/*
 * PATCH /v1/hosts/NAME (and POST .../set): the operator's knobs on a host
 * (allocation state, location, emulated arches, TCG, CPU overcommit, its
 * IPv4 pool, IPv6 prefix and egress: docs/network.md), and
 * DELETE /v1/hosts/NAME, which removes a host that holds no VMs together
 * with its cloudify strand. Both run in one transaction and tell the
 * allocator afterwards.
 */
#include "api/internal.h"

#include <stdlib.h>
#include <string.h>

#include "alloc/alloc.h"
#include "arch/arch.h"
#include "db/net.h"
#include "engine/engine.h"
#include "lib/cleanup.h"
#include "lib/valid.h"
#include "lib/xalloc.h"
#include "progs/progs.h"

#define EMULATE_MAX 8

struct host_set {
	const char *name;
	char *id;
	bool has_state;
	enum loam_host_state state;
	const char *location;
	const char *emulate[EMULATE_MAX];
	size_t nemulate;
	bool has_emulate, has_allow_tcg, allow_tcg;
	double overcommit; /* 0: unchanged */
	const char *ipv4_pool, *ipv6_prefix;
	bool has_ipv6_prefix, has_egress, egress;
};

static int parse_emulate(json_t *list, struct host_set *s, loam_err *err)
{
	if (!json_is_array(list))
		return loam_fail(err, LOAM_E_INVALID, "field 'emulate' must be an array of arches");
	size_t i;
	json_t *v;
	json_array_foreach(list, i, v)
	{
		if (!json_is_string(v))
			return loam_fail(err, LOAM_E_INVALID,
					 "emulate: each arch must be a string");
		const struct loam_arch *a = loam_arch_normalize(json_string_value(v), err);
		if (!a)
			return loam_err_wrap(err, "emulate");
		bool dup = false;
		for (size_t k = 0; k < s->nemulate; k++)
			dup |= strcmp(s->emulate[k], a->name) == 0;
		if (!dup && s->nemulate < EMULATE_MAX)
			s->emulate[s->nemulate++] = a->name;
	}
	s->has_emulate = true;
	return 0;
}

static int check_state(const char *state, struct host_set *s, loam_err *err)
{
	if (loam_host_state_parse(state, &s->state, NULL) < 0 ||
	    (s->state != LOAM_HOST_ACCEPTING && s->state != LOAM_HOST_DRAINING))
		return loam_fail(err, LOAM_E_INVALID,
				 "allocation_state must be 'accepting' or 'draining'");
	s->has_state = true;
	return 0;
}

static int parse_knobs(struct api_req *r, struct host_set *s, loam_err *err)
{
	json_t *tcg = json_object_get(r->body, "allow_tcg");
	if (tcg) {
		if (!json_is_boolean(tcg))
			return loam_fail(err, LOAM_E_INVALID,
					 "field 'allow_tcg' must be a boolean");
		s->has_allow_tcg = true;
		s->allow_tcg = json_is_true(tcg);
	}
	json_t *oc = json_object_get(r->body, "cpu_overcommit");
	if (oc) {
		if (!json_is_number(oc) || json_number_value(oc) < 1.0 ||
		    json_number_value(oc) > 64.0)
			return loam_fail(err, LOAM_E_INVALID,
					 "cpu_overcommit must be a number from 1 to 64");
		s->overcommit = json_number_value(oc);
	}
	return 0;
}

/* ipv4_pool and ipv6_prefix are checked when written (db/net.h); an
 * ipv6_prefix of null goes back to the host's own ULA /48. */
static int parse_net(struct api_req *r, struct host_set *s, loam_err *err)
{
	json_t *prefix = json_object_get(r->body, "ipv6_prefix");
	json_t *egress = json_object_get(r->body, "egress");
	if (api_body_str(r, "ipv4_pool", 64, &s->ipv4_pool, err) < 0 ||
	    api_body_str(r, "ipv6_prefix", 64, &s->ipv6_prefix, err) < 0)
		return -1;
	s->has_ipv6_prefix = prefix != NULL;
	if (egress) {
		if (!json_is_boolean(egress))
			return loam_fail(err, LOAM_E_INVALID, "field 'egress' must be a boolean");
		s->has_egress = true;
		s->egress = json_is_true(egress);
	}
	return 0;
}

static int host_set_fields(struct api_req *r, struct host_set *s, loam_err *err)
{
	static const char *const allowed[] = {"allocation_state", "location",	    "emulate",
					      "allow_tcg",	  "cpu_overcommit", "ipv4_pool",
					      "ipv6_prefix",	  "egress",	    NULL};
	const char *state = NULL;
	if (api_body_check(r, allowed, false, err) < 0 ||
	    api_body_str(r, "allocation_state", 32, &state, err) < 0 ||
	    api_body_str(r, "location", LOAM_NAME_MAX, &s->location, err) < 0)
		return -1;
	if (s->location && loam_valid_name("location", s->location, err) < 0)
		return -1;
	if (state && check_state(state, s, err) < 0)
		return -1;
	json_t *em = json_object_get(r->body, "emulate");
	if (em && parse_emulate(em, s, err) < 0)
		return -1;
	return parse_knobs(r, s, err) < 0 || parse_net(r, s, err) < 0 ? -1 : 0;
}

static int set_state(struct loam_db *db, const struct host_set *s, enum loam_host_state current,
		     loam_err *err)
{
	if (current != LOAM_HOST_ACCEPTING && current != LOAM_HOST_DRAINING)
		return loam_fail(err, LOAM_E_CONFLICT,
				 "host '%s' is %s; only a cloudified host (accepting or draining) "
				 "can change its allocation state",
				 s->name, loam_host_state_name(current));
	return loam_host_set_state(db, s->id, s->state, err);
}

/* The host installs the artifacts of arches it now serves: its cloudify
 * strand hops to its install step and back to its heartbeat. */
static int set_emulation(struct loam_db *db, const struct host_set *s, loam_err *err)
{
	bool live = false;
	if (loam_host_set_emulation(db, s->id, s->emulate, s->nemulate, err) < 0 ||
	    loam_strand_is_live(db, s->id, &live, err) < 0)
		return -1;
	return live ? loam_strand_signal(db, s->id, "install", err) : 0;
}

/* Egress changes every VM's rules and routes: each VM's strand carries it
 * to the host ("net" signal, src/progs/vm_net.c). */
static int set_egress(struct loam_db *db, const struct host_set *s, bool was, loam_err *err)
{
	if (loam_host_set_egress(db, s->id, s->egress, err) < 0)
		return -1;
	if (was == s->egress)
		return 0;
	char **ids = NULL;
	size_t n = 0;
	int rc = loam_host_vm_ids(db, s->id, &ids, &n, err);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		bool live = false;
		rc = loam_strand_live(db, ids[i], &live, err) < 0 ||
			     (live && loam_strand_signal(db, ids[i], LOAM_SIGNAL_NET, err) < 0)
			 ? -1
			 : 0;
	}
	for (size_t i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
	return rc;
}

static int set_net(struct loam_db *db, const struct host_set *s, const struct loam_host *h,
		   loam_err *err)
{
	if (s->ipv4_pool && loam_host_set_ipv4_pool(db, s->id, s->ipv4_pool, err) < 0)
		return -1;
	if (s->has_ipv6_prefix && loam_host_set_ipv6_prefix(db, s->id, s->ipv6_prefix, err) < 0)
		return -1;
	return s->has_egress ? set_egress(db, s, h->egress, err) : 0;
}

/* The host called name, with a copy of its id in *id (a transaction may run
 * again, so an earlier copy is replaced). */
static int load_named(struct loam_db *db, const char *name, struct loam_host *h, char **id,
		      loam_err *err)
{
	int found = loam_host_get_by_name(db, name, h, err);
	if (found <= 0)
		return found < 0 ? -1 : api_host_not_found(name, err);
	free(*id);
	*id = xstrdup(h->id);
	return 0;
}

static int host_set_tx(struct loam_db *db, void *ctx, loam_err *err)
{
	struct host_set *s = ctx;
	cleanup_host struct loam_host h = {0};
	if (load_named(db, s->name, &h, &s->id, err) < 0)
		return -1;
	if (s->has_state && set_state(db, s, h.state, err) < 0)
		return -1;
	if (s->location && loam_host_set_location(db, s->id, s->location, err) < 0)
		return -1;
	if (s->has_emulate && set_emulation(db, s, err) < 0)
		return -1;
	if (s->has_allow_tcg && loam_host_set_allow_tcg(db, s->id, s->allow_tcg, err) < 0)
		return -1;
	if (s->overcommit >= 1.0 && loam_host_set_overcommit(db, s->id, s->overcommit, err) < 0)
		return -1;
	if (set_net(db, s, &h, err) < 0)
		return -1;
	return loam_host_bump_generation(db, s->id, err);
}

int api_hosts_set(struct api_req *r, loam_err *err)
{
	struct host_set s = {.name = r->seg[1]};
	int rc =
	    host_set_fields(r, &s, err) < 0 || loam_db_tx(r->db, host_set_tx, &s, err) < 0 ? -1 : 0;
	if (rc == 0 && r->api->alloc)
		loam_alloc_host_changed(r->api->alloc, s.id);
	free(s.id);
	if (rc < 0)
		return -1;
	r->nseg = 2;
	return api_hosts_show(r, err);
}

struct host_rm {
	const char *name;
	char *id;
};

static int host_rm_tx(struct loam_db *db, void *ctx, loam_err *err)
{
	struct host_rm *rm = ctx;
	cleanup_host struct loam_host h = {0};
	if (load_named(db, rm->name, &h, &rm->id, err) < 0)
		return -1;
	int64_t nvms = 0;
	if (loam_host_count_vms(db, h.id, &nvms, err) < 0)
		return -1;
	if (nvms > 0)
		return loam_fail(err, LOAM_E_CONFLICT,
				 "host '%s' still holds %lld VM(s); remove them first (loam vm "
				 "ls), or drain it with: loam host set %s --draining",
				 rm->name, (long long)nvms, rm->name);
	return loam_host_delete(db, h.id, err);
}

int api_hosts_delete(struct api_req *r, loam_err *err)
{
	struct host_rm rm = {.name = r->seg[1]};
	int rc = loam_db_tx(r->db, host_rm_tx, &rm, err);
	if (rc == 0 && r->api->alloc)
		loam_alloc_host_changed(r->api->alloc, rm.id);
	free(rm.id);
	if (rc < 0)
		return -1;
	r->out = json_pack("{s:s, s:b}", "name", rm.name, "deleted", 1);
	return 0;
}
