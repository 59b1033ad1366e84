/*
 * /v1/hosts: add a host (the row and its cloudify strand, with the strand
 * id equal to the host id, in one transaction so that a crash never leaves
 * a host without its prog or a second row), list, show, set the operator's
 * knobs (allocation state, location, emulation, TCG, overcommit), and
 * remove a host that holds no VMs.
 */
#include "api/internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "alloc/alloc.h"
#include "arch/arch.h"
#include "artifact/versions.h"
#include "engine/engine.h"
#include "lib/cleanup.h"
#include "lib/json.h"
#include "lib/valid.h"

#define HOST_COLS                                                                                  \
	"id, name, transport, address, ssh_port, ssh_user, ssh_key_file, state_dir, location, "    \
	"arch, allocation_state, cpus, total_cores, sockets, dies, threads_per_core, numa_nodes, " \
	"total_mem_gib, total_hugepages_1g, total_storage_gib, available_storage_gib, kvm, "       \
	"cpu_model, os, kernel, facts, accel, allow_tcg, cpu_overcommit, used_cores, "             \
	"used_memory_gib, used_hugepages_1g, agent_path, created_at, last_seen_at, state_reason"

#define TEXT_MAX 255

static json_t *host_emulation(struct loam_db *db, const char *host_id, loam_err *err)
{
	cleanup_rows struct loam_db_rows *rows = NULL;
	if (loam_db_query(db, "SELECT arch FROM host_emulation WHERE host_id = ? ORDER BY arch",
			  DB_ARGS(DB_TEXT(host_id)), &rows, err) < 0)
		return NULL;
	json_t *a = json_array();
	for (size_t i = 0; i < loam_db_rows_count(rows); i++)
		json_array_append_new(a, json_string(loam_db_rows_text(rows, i, 0)));
	return a;
}

/* The cloudify strand's view, or null before the engine's tables exist. */
static json_t *host_strand(struct loam_db *db, const char *host_id)
{
	if (!api_table_exists(db, "strand"))
		return json_null();
	cleanup_rows struct loam_db_rows *rows = NULL;
	cleanup_err loam_err err = NULL;
	if (loam_db_query(db, "SELECT " API_STRAND_COLS " FROM strand WHERE id = ?",
			  DB_ARGS(DB_TEXT(host_id)), &rows, &err) < 0 ||
	    loam_db_rows_count(rows) == 0)
		return json_null();
	return api_strand_view(rows, 0);
}

static int64_t allocatable_cores(const struct loam_db_rows *rows, size_t i)
{
	return (int64_t)floor((double)api_int(rows, i, "total_cores") *
			      api_real(rows, i, "cpu_overcommit"));
}

static void set_int(json_t *o, const char *key, const struct loam_db_rows *rows, size_t i,
		    const char *col)
{
	json_object_set_new(o, key, json_integer(api_int(rows, i, col)));
}

static void set_text(json_t *o, const char *key, const struct loam_db_rows *rows, size_t i,
		     const char *col)
{
	json_object_set_new(o, key, api_json_text(rows, i, col));
}

static void set_strand_fields(json_t *v, json_t *strand)
{
	bool have = json_is_object(strand);
	json_object_set(v, "label", have ? json_object_get(strand, "label") : json_null());
	json_object_set(v, "last_error",
			have ? json_object_get(strand, "last_error") : json_null());
	json_object_set_new(v, "strand", strand);
}

/* The keys docs/design.md §4 names come first: name, arch, state, cpus, cores,
 * memory_gib. */
static json_t *host_view(struct loam_db *db, const struct loam_db_rows *rows, size_t i,
			 loam_err *err)
{
	const char *id = api_text(rows, i, "id");
	json_t *emulate = host_emulation(db, id, err);
	if (!emulate)
		return NULL;
	json_t *v = json_object();
	set_text(v, "name", rows, i, "name");
	set_text(v, "arch", rows, i, "arch");
	set_text(v, "state", rows, i, "allocation_state");
	set_text(v, "state_reason", rows, i, "state_reason");
	set_int(v, "cpus", rows, i, "cpus");
	set_int(v, "cores", rows, i, "total_cores");
	set_int(v, "memory_gib", rows, i, "total_mem_gib");
	set_text(v, "id", rows, i, "id");
	set_text(v, "location", rows, i, "location");
	set_text(v, "accel", rows, i, "accel");
	json_object_set_new(v, "kvm", json_boolean(api_int(rows, i, "kvm")));
	json_object_set_new(v, "allow_tcg", json_boolean(api_int(rows, i, "allow_tcg")));
	json_object_set_new(v, "emulate", emulate);
	json_object_set_new(v, "cpu_overcommit", json_real(api_real(rows, i, "cpu_overcommit")));
	set_int(v, "used_cores", rows, i, "used_cores");
	json_object_set_new(v, "total_cores", json_integer(allocatable_cores(rows, i)));
	set_int(v, "used_memory_gib", rows, i, "used_memory_gib");
	set_int(v, "hugepages_1g_total", rows, i, "total_hugepages_1g");
	set_int(v, "hugepages_1g_used", rows, i, "used_hugepages_1g");
	set_int(v, "storage_gib", rows, i, "total_storage_gib");
	set_int(v, "available_storage_gib", rows, i, "available_storage_gib");
	set_int(v, "sockets", rows, i, "sockets");
	set_int(v, "dies", rows, i, "dies");
	set_int(v, "threads_per_core", rows, i, "threads_per_core");
	set_int(v, "numa_nodes", rows, i, "numa_nodes");
	set_text(v, "cpu_model", rows, i, "cpu_model");
	set_text(v, "os", rows, i, "os");
	set_text(v, "kernel", rows, i, "kernel");
	set_strand_fields(v, host_strand(db, id));
	set_text(v, "transport", rows, i, "transport");
	set_text(v, "address", rows, i, "address");
	set_int(v, "ssh_port", rows, i, "ssh_port");
	set_text(v, "ssh_user", rows, i, "ssh_user");
	set_text(v, "state_dir", rows, i, "state_dir");
	set_text(v, "agent_path", rows, i, "agent_path");
	set_int(v, "created_at", rows, i, "created_at");
	json_object_set_new(v, "last_seen_at",
			    api_null(rows, i, "last_seen_at")
				? json_null()
				: json_integer(api_int(rows, i, "last_seen_at")));
	return v;
}

static int count_host_vms(struct loam_db *db, const char *host_id, int64_t *n, loam_err *err)
{
	cleanup_rows struct loam_db_rows *rows = NULL;
	if (loam_db_query(db, "SELECT count(*) FROM vm WHERE host_id = ?",
			  DB_ARGS(DB_TEXT(host_id)), &rows, err) < 0)
		return -1;
	*n = loam_db_rows_int(rows, 0, 0);
	return 0;
}

static json_t *host_view_full(struct loam_db *db, const struct loam_db_rows *rows, size_t i,
			      loam_err *err)
{
	json_t *v = host_view(db, rows, i, err);
	int64_t nvms = 0;
	if (!v || count_host_vms(db, api_text(rows, i, "id"), &nvms, err) < 0) {
		json_decref(v);
		return NULL;
	}
	json_object_set_new(v, "vms", json_integer(nvms));
	return v;
}

int api_hosts_list(struct api_req *r, loam_err *err)
{
	cleanup_rows struct loam_db_rows *rows = NULL;
	if (loam_db_query(r->db, "SELECT " HOST_COLS " FROM host ORDER BY name", DB_NOARGS, &rows,
			  err) < 0)
		return -1;
	cleanup_json json_t *list = json_array();
	for (size_t i = 0; i < loam_db_rows_count(rows); i++) {
		json_t *v = host_view_full(r->db, rows, i, err);
		if (!v)
			return -1;
		json_array_append_new(list, v);
	}
	r->out = loam_steal(&list);
	return 0;
}

static int load_host(struct loam_db *db, const char *name, struct loam_db_rows **rows,
		     loam_err *err)
{
	if (loam_db_query(db, "SELECT " HOST_COLS " FROM host WHERE name = ?",
			  DB_ARGS(DB_TEXT(name)), rows, err) < 0)
		return -1;
	if (loam_db_rows_count(*rows) == 0)
		return loam_fail(err, LOAM_E_NOTFOUND, "no host named '%s'; see: loam host ls",
				 name);
	return 0;
}

/* Installed artifacts: the artifact store's own view when it is built in,
 * else the host_artifact rows as they are. */
static json_t *host_artifacts(struct loam_db *db, const char *host_id)
{
	json_t *typed = NULL;
	cleanup_err loam_err aerr = NULL;
	if (loam_artifact_host_json(db, host_id, &typed, &aerr) == 0 && typed)
		return typed;
	json_t *list = json_array();
	if (!api_table_exists(db, "host_artifact"))
		return list;
	cleanup_rows struct loam_db_rows *rows = NULL;
	cleanup_err loam_err err = NULL;
	if (loam_db_query(db, "SELECT * FROM host_artifact WHERE host_id = ?",
			  DB_ARGS(DB_TEXT(host_id)), &rows, &err) < 0)
		return list;
	for (size_t i = 0; i < loam_db_rows_count(rows); i++) {
		json_t *o = json_object();
		for (size_t c = 0; c < loam_db_rows_cols(rows); c++)
			if (strcmp(loam_db_rows_name(rows, c), "host_id") != 0)
				json_object_set_new(
				    o, loam_db_rows_name(rows, c),
				    loam_db_rows_null(rows, i, c)
					? json_null()
					: json_string(loam_db_rows_text(rows, i, c)));
		json_array_append_new(list, o);
	}
	return list;
}

int api_hosts_show(struct api_req *r, loam_err *err)
{
	cleanup_rows struct loam_db_rows *rows = NULL;
	if (load_host(r->db, r->seg[1], &rows, err) < 0)
		return -1;
	cleanup_json json_t *v = host_view_full(r->db, rows, 0, err);
	if (!v)
		return -1;
	const char *facts = api_text(rows, 0, "facts");
	cleanup_err loam_err ferr = NULL;
	json_t *fj = *facts ? loam_json_parse(facts, strlen(facts), "facts", &ferr) : NULL;
	json_object_set_new(v, "facts", fj ? fj : json_null());
	json_object_set_new(v, "artifacts", host_artifacts(r->db, api_text(rows, 0, "id")));
	r->out = loam_steal(&v);
	return 0;
}

/* ---- add ---- */

struct host_add {
	char id[27];
	const char *name, *address, *ssh_user, *ssh_key, *location, *state_dir;
	int64_t ssh_port;
	bool local;
	char default_name[LOAM_NAME_MAX + 1];
	char *default_state_dir;
};

/* "10.0.0.5" port 2222 → "10-0-0-5-p2222": a valid name derived from the
 * address, so an operator need not invent one. */
static void derive_name(struct host_add *h)
{
	char *o = h->default_name;
	size_t cap = sizeof(h->default_name) - 8;
	size_t n = 0;
	for (const char *s = h->address; *s && n < cap; s++) {
		char c = *s >= 'A' && *s <= 'Z' ? (char)(*s - 'A' + 'a') : *s;
		bool keep = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
		if (!keep && (n == 0 || o[n - 1] == '-'))
			continue;
		o[n++] = keep ? c : '-';
	}
	while (n > 0 && o[n - 1] == '-')
		n--;
	o[n] = '\0';
	if (h->ssh_port != 22)
		snprintf(o + n, sizeof(h->default_name) - n, "-p%d", (int)h->ssh_port);
	h->name = o;
}

static int host_add_fields(struct api_req *r, struct host_add *h, loam_err *err)
{
	static const char *const allowed[] = {"address", "ssh_port",  "ssh_user",
					      "ssh_key", "location",  "name",
					      "local",	 "state_dir", NULL};
	if (api_body_check(r, allowed, true, err) < 0 ||
	    api_body_str(r, "address", 253, &h->address, err) < 0 ||
	    api_body_str(r, "ssh_user", 32, &h->ssh_user, err) < 0 ||
	    api_body_str(r, "ssh_key", 1024, &h->ssh_key, err) < 0 ||
	    api_body_str(r, "location", LOAM_NAME_MAX, &h->location, err) < 0 ||
	    api_body_str(r, "name", LOAM_NAME_MAX, &h->name, err) < 0 ||
	    api_body_str(r, "state_dir", 1024, &h->state_dir, err) < 0 ||
	    loam_json_opt_int(r->body, "ssh_port", &h->ssh_port, err) < 0 ||
	    loam_json_opt_bool(r->body, "local", &h->local, err) < 0)
		return -1;
	return 0;
}

static int host_add_validate_ssh(struct host_add *h, loam_err *err)
{
	if (!h->address)
		return loam_fail(err, LOAM_E_INVALID,
				 "a host needs an address (or local: true for this machine)");
	if (loam_valid_address(h->address, err) < 0)
		return -1;
	if (h->ssh_port < 1 || h->ssh_port > 65535)
		return loam_fail(err, LOAM_E_INVALID, "ssh_port must be 1..65535");
	if (loam_valid_unix_user(h->ssh_user, err) < 0)
		return loam_err_wrap(err, "ssh_user");
	if (h->ssh_key) {
		if (loam_valid_abs_path("ssh_key", h->ssh_key, err) < 0)
			return -1;
		if (access(h->ssh_key, R_OK) != 0)
			return loam_fail(err, LOAM_E_INVALID,
					 "ssh_key %s is not readable by loamd; give the path of "
					 "a private key on the loamd machine",
					 h->ssh_key);
	}
	if (!h->name)
		derive_name(h);
	return 0;
}

static int host_add_validate(struct api_req *r, struct host_add *h, loam_err *err)
{
	if (h->local) {
		if (h->address || h->ssh_key || (r->body && json_object_get(r->body, "ssh_port")))
			return loam_fail(err, LOAM_E_INVALID,
					 "a local host takes no address, ssh_port or ssh_key");
		if (!h->name)
			h->name = "local";
		if (!h->state_dir) {
			if (asprintf(&h->default_state_dir, "%s/host", r->api->state_dir) < 0)
				return loam_fail(err, LOAM_E_INTERNAL, "out of memory");
			h->state_dir = h->default_state_dir;
		}
	} else if (host_add_validate_ssh(h, err) < 0) {
		return -1;
	}
	if (loam_valid_name("host name", h->name, err) < 0)
		return -1;
	if (loam_valid_name("location", h->location, err) < 0)
		return -1;
	if (h->state_dir && loam_valid_abs_path("state_dir", h->state_dir, err) < 0)
		return -1;
	return 0;
}

static int host_add_conflicts(struct loam_db *db, const struct host_add *h, loam_err *err)
{
	cleanup_rows struct loam_db_rows *rows = NULL;
	if (loam_db_query(db,
			  "SELECT name FROM host WHERE name = ? OR (? = 1 AND transport = "
			  "'local')",
			  DB_ARGS(DB_TEXT(h->name), DB_INT(h->local)), &rows, err) < 0)
		return -1;
	if (loam_db_rows_count(rows) == 0)
		return 0;
	const char *other = loam_db_rows_text(rows, 0, 0);
	if (strcmp(other, h->name) == 0)
		return loam_fail(err, LOAM_E_CONFLICT,
				 "a host named '%s' exists already; pick another name or remove "
				 "it with: loam host rm %s",
				 h->name, h->name);
	return loam_fail(err, LOAM_E_CONFLICT,
			 "this machine is already host '%s'; see: loam host show %s", other, other);
}

static int host_add_tx(struct loam_db *db, void *ctx, loam_err *err)
{
	struct host_add *h = ctx;
	if (host_add_conflicts(db, h, err) < 0)
		return -1;
	if (loam_db_exec(db,
			 "INSERT INTO host (id, name, transport, address, ssh_port, ssh_user, "
			 "ssh_key_file, state_dir, location, created_at) "
			 "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
			 DB_ARGS(DB_TEXT(h->id), DB_TEXT(h->name),
				 DB_TEXT(h->local ? "local" : "ssh"),
				 h->address ? DB_TEXT(h->address) : DB_NULL, DB_INT(h->ssh_port),
				 DB_TEXT(h->ssh_user), h->ssh_key ? DB_TEXT(h->ssh_key) : DB_NULL,
				 DB_TEXT(h->state_dir ? h->state_dir : "/var/lib/loam"),
				 DB_TEXT(h->location), DB_INT(loam_db_now_ms())),
			 NULL, err) < 0)
		return -1;
	char strand_id[27];
	cleanup_json json_t *frame = json_pack("{s:s}", "host_id", h->id); /* borrowed */
	if (loam_strand_create(db, "cloudify", NULL, frame, h->id, strand_id, err) < 0)
		return loam_err_wrap(err, "create the cloudify strand");
	return 0;
}

int api_hosts_add(struct api_req *r, loam_err *err)
{
	struct host_add h = {.ssh_port = 22, .ssh_user = "root", .location = "default"};
	if (host_add_fields(r, &h, err) < 0 || host_add_validate(r, &h, err) < 0) {
		free(h.default_state_dir);
		return -1;
	}
	loam_db_new_id(h.id);
	int rc = loam_db_tx(r->db, host_add_tx, &h, err);
	char name[LOAM_NAME_MAX + 1];
	snprintf(name, sizeof(name), "%s", h.name);
	free(h.default_state_dir);
	if (rc < 0)
		return -1;
	r->seg[1] = name;
	r->status = 201;
	return api_hosts_show(r, err);
}

/* ---- set ---- */

struct host_set {
	const char *name;
	char id[27];
	const char *allocation_state, *location;
	const struct loam_arch *emulate[8];
	size_t nemulate;
	bool has_emulate, has_allow_tcg, allow_tcg;
	double overcommit; /* 0: unchanged */
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
			dup |= s->emulate[k] == a;
		if (!dup && s->nemulate < sizeof(s->emulate) / sizeof(s->emulate[0]))
			s->emulate[s->nemulate++] = a;
	}
	s->has_emulate = true;
	return 0;
}

static int host_set_fields(struct api_req *r, struct host_set *s, loam_err *err)
{
	static const char *const allowed[] = {"allocation_state", "location",	    "emulate",
					      "allow_tcg",	  "cpu_overcommit", NULL};
	if (api_body_check(r, allowed, false, err) < 0 ||
	    api_body_str(r, "allocation_state", 32, &s->allocation_state, err) < 0 ||
	    api_body_str(r, "location", LOAM_NAME_MAX, &s->location, err) < 0)
		return -1;
	if (s->location && loam_valid_name("location", s->location, err) < 0)
		return -1;
	if (s->allocation_state && strcmp(s->allocation_state, "accepting") != 0 &&
	    strcmp(s->allocation_state, "draining") != 0)
		return loam_fail(err, LOAM_E_INVALID,
				 "allocation_state must be 'accepting' or 'draining'");
	json_t *em = json_object_get(r->body, "emulate");
	if (em && parse_emulate(em, s, err) < 0)
		return -1;
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

static int set_allocation_state(struct loam_db *db, struct host_set *s, const char *current,
				loam_err *err)
{
	bool settable = strcmp(current, "accepting") == 0 || strcmp(current, "draining") == 0;
	if (!settable)
		return loam_fail(err, LOAM_E_CONFLICT,
				 "host '%s' is %s; only a cloudified host (accepting or draining) "
				 "can change its allocation state",
				 s->name, current);
	return loam_db_exec(db, "UPDATE host SET allocation_state = ? WHERE id = ?",
			    DB_ARGS(DB_TEXT(s->allocation_state), DB_TEXT(s->id)), NULL, err);
}

static int set_emulation(struct loam_db *db, struct host_set *s, loam_err *err)
{
	if (loam_db_exec(db, "DELETE FROM host_emulation WHERE host_id = ?",
			 DB_ARGS(DB_TEXT(s->id)), NULL, err) < 0)
		return -1;
	for (size_t i = 0; i < s->nemulate; i++)
		if (loam_db_exec(db, "INSERT INTO host_emulation (host_id, arch) VALUES (?, ?)",
				 DB_ARGS(DB_TEXT(s->id), DB_TEXT(s->emulate[i]->name)), NULL,
				 err) < 0)
			return -1;
	return 0;
}

static bool host_has_live_strand(struct loam_db *db, const char *id)
{
	cleanup_rows struct loam_db_rows *rows = NULL;
	cleanup_err loam_err err = NULL;
	return api_table_exists(db, "strand") &&
	       loam_db_query(db, "SELECT 1 FROM strand WHERE id = ? AND done = 0",
			     DB_ARGS(DB_TEXT(id)), &rows, &err) == 0 &&
	       loam_db_rows_count(rows) > 0;
}

static int host_set_tx(struct loam_db *db, void *ctx, loam_err *err)
{
	struct host_set *s = ctx;
	cleanup_rows struct loam_db_rows *rows = NULL;
	if (load_host(db, s->name, &rows, err) < 0)
		return -1;
	snprintf(s->id, sizeof(s->id), "%s", api_text(rows, 0, "id"));
	if (s->allocation_state &&
	    set_allocation_state(db, s, api_text(rows, 0, "allocation_state"), err) < 0)
		return -1;
	if (s->location &&
	    loam_db_exec(db, "UPDATE host SET location = ? WHERE id = ?",
			 DB_ARGS(DB_TEXT(s->location), DB_TEXT(s->id)), NULL, err) < 0)
		return -1;
	if (s->has_emulate && set_emulation(db, s, err) < 0)
		return -1;
	/* The host installs the artifacts of arches it now serves: its cloudify
	 * strand hops to its install step and back to its heartbeat. */
	if (s->has_emulate && host_has_live_strand(db, s->id) &&
	    loam_strand_signal(db, s->id, "install", err) < 0)
		return -1;
	if (s->has_allow_tcg &&
	    loam_db_exec(db,
			 "UPDATE host SET allow_tcg = ?, accel = CASE WHEN kvm = 1 THEN 'kvm' "
			 "WHEN ? = 1 THEN 'tcg' ELSE 'none' END WHERE id = ?",
			 DB_ARGS(DB_INT(s->allow_tcg), DB_INT(s->allow_tcg), DB_TEXT(s->id)), NULL,
			 err) < 0)
		return -1;
	if (s->overcommit >= 1.0 &&
	    loam_db_exec(db, "UPDATE host SET cpu_overcommit = ? WHERE id = ?",
			 DB_ARGS(DB_REAL(s->overcommit), DB_TEXT(s->id)), NULL, err) < 0)
		return -1;
	return loam_db_exec(db, "UPDATE host SET generation = generation + 1 WHERE id = ?",
			    DB_ARGS(DB_TEXT(s->id)), NULL, err);
}

int api_hosts_set(struct api_req *r, loam_err *err)
{
	struct host_set s = {.name = r->seg[1]};
	if (host_set_fields(r, &s, err) < 0 || loam_db_tx(r->db, host_set_tx, &s, err) < 0)
		return -1;
	if (r->api->alloc)
		loam_alloc_host_changed(r->api->alloc, s.id);
	r->nseg = 2;
	return api_hosts_show(r, err);
}

/* ---- delete ---- */

struct host_rm {
	const char *name;
	char id[27];
	bool strands;
};

static int host_rm_tx(struct loam_db *db, void *ctx, loam_err *err)
{
	struct host_rm *h = ctx;
	cleanup_rows struct loam_db_rows *rows = NULL;
	if (load_host(db, h->name, &rows, err) < 0)
		return -1;
	snprintf(h->id, sizeof(h->id), "%s", api_text(rows, 0, "id"));
	int64_t nvms = 0;
	if (count_host_vms(db, h->id, &nvms, err) < 0)
		return -1;
	if (nvms > 0)
		return loam_fail(err, LOAM_E_CONFLICT,
				 "host '%s' still holds %lld VM(s); remove them first (loam vm "
				 "ls), or drain it with: loam host set %s --draining",
				 h->name, (long long)nvms, h->name);
	if (h->strands && (loam_db_exec(db, "DELETE FROM strand_signal WHERE strand_id = ?",
					DB_ARGS(DB_TEXT(h->id)), NULL, err) < 0 ||
			   loam_db_exec(db, "DELETE FROM strand WHERE id = ?",
					DB_ARGS(DB_TEXT(h->id)), NULL, err) < 0))
		return -1;
	return loam_db_exec(db, "DELETE FROM host WHERE id = ?", DB_ARGS(DB_TEXT(h->id)), NULL,
			    err);
}

int api_hosts_delete(struct api_req *r, loam_err *err)
{
	struct host_rm h = {.name = r->seg[1], .strands = api_table_exists(r->db, "strand")};
	if (loam_db_tx(r->db, host_rm_tx, &h, err) < 0)
		return -1;
	if (r->api->alloc)
		loam_alloc_host_changed(r->api->alloc, h.id);
	r->out = json_pack("{s:s, s:b}", "name", h.name, "deleted", 1);
	return 0;
}
