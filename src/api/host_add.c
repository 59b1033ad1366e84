/*
 * POST /v1/hosts: add a host, validated in full first (its state_dir and
 * ssh_key under the operator's roots, paths.c; its SSH host key, when
 * given, pinned before first contact); then the row and its cloudify
 * strand (strand id = host id) in one transaction, so that a crash never
 * leaves a host without its prog or a second row.
 */
#include "api/internal.h"

#include <stdio.h>
#include <string.h>

#include "engine/engine.h"
#include "lib/cleanup.h"
#include "lib/json.h"
#include "lib/valid.h"
#include "lib/xalloc.h"
#include "progs/progs.h"

struct host_add {
	char id[27];
	const char *name, *address, *ssh_user, *ssh_key, *location, *state_dir, *host_key;
	char *pinned; /* host_key as stored: "TYPE BASE64" */
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
	static const char *const allowed[] = {"address",  "ssh_port", "ssh_user", "ssh_key",
					      "location", "name",     "local",	  "state_dir",
					      "host_key", NULL};
	if (api_body_check(r, allowed, true, err) < 0 ||
	    api_body_str(r, "address", 253, &h->address, err) < 0 ||
	    api_body_str(r, "ssh_user", 32, &h->ssh_user, err) < 0 ||
	    api_body_str(r, "ssh_key", 1024, &h->ssh_key, err) < 0 ||
	    api_body_str(r, "location", LOAM_NAME_MAX, &h->location, err) < 0 ||
	    api_body_str(r, "name", LOAM_NAME_MAX, &h->name, err) < 0 ||
	    api_body_str(r, "state_dir", 1024, &h->state_dir, err) < 0 ||
	    api_body_str(r, "host_key", 8192, &h->host_key, err) < 0 ||
	    loam_json_opt_int(r->body, "ssh_port", &h->ssh_port, err) < 0 ||
	    loam_json_opt_bool(r->body, "local", &h->local, err) < 0)
		return -1;
	return 0;
}

static int host_add_validate_ssh(const struct loam_api *api, struct host_add *h, loam_err *err)
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
	if (h->ssh_key && api_check_ssh_key(api, h->ssh_key, err) < 0)
		return -1;
	if (h->host_key && api_host_key_parse(h->host_key, &h->pinned, err) < 0)
		return -1;
	if (!h->name)
		derive_name(h);
	return 0;
}

static int host_add_validate(struct api_req *r, struct host_add *h, loam_err *err)
{
	if (h->local) {
		if (h->address || h->ssh_key || h->host_key ||
		    (r->body && json_object_get(r->body, "ssh_port")))
			return loam_fail(err, LOAM_E_INVALID,
					 "a local host takes no address, ssh_port, ssh_key or "
					 "host_key");
		if (!h->name)
			h->name = "local";
	} else if (host_add_validate_ssh(r->api, h, err) < 0) {
		return -1;
	}
	if (h->state_dir && api_check_state_dir(r->api, h->state_dir, err) < 0)
		return -1;
	if (h->local && !h->state_dir) {
		h->default_state_dir = xasprintf("%s/host", r->api->state_dir);
		h->state_dir = h->default_state_dir;
	}
	if (loam_valid_name("host name", h->name, err) < 0)
		return -1;
	return loam_valid_name("location", h->location, err);
}

static int host_add_conflicts(struct loam_db *db, const struct host_add *h, loam_err *err)
{
	cleanup_free char *other = NULL;
	int found = loam_host_find_clash(db, h->name, h->local, &other, err);
	if (found <= 0)
		return found;
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
	struct loam_host_new row = {.id = h->id,
				    .name = h->name,
				    .local = h->local,
				    .address = h->address,
				    .ssh_user = h->ssh_user,
				    .ssh_key_file = h->ssh_key,
				    .ssh_port = h->ssh_port,
				    .state_dir = h->state_dir ? h->state_dir : "/var/lib/loam",
				    .location = h->location,
				    .host_key = h->pinned};
	if (loam_host_insert(db, &row, err) < 0)
		return -1;
	cleanup_json json_t *frame = json_pack("{s:s}", "host_id", h->id); /* borrowed */
	if (loam_strand_create(db, LOAM_PROG_CLOUDIFY, NULL, frame, h->id, NULL, err) < 0)
		return loam_err_wrap(err, "create the cloudify strand");
	return 0;
}

int api_hosts_add(struct api_req *r, loam_err *err)
{
	struct host_add h = {.ssh_port = 22, .ssh_user = "root", .location = "default"};
	if (host_add_fields(r, &h, err) < 0 || host_add_validate(r, &h, err) < 0) {
		free(h.default_state_dir);
		free(h.pinned);
		return -1;
	}
	loam_db_new_id(h.id);
	int rc = loam_db_tx(r->db, host_add_tx, &h, err);
	char name[LOAM_NAME_MAX + 1];
	snprintf(name, sizeof(name), "%s", h.name);
	free(h.default_state_dir);
	free(h.pinned);
	if (rc < 0)
		return -1;
	r->seg[1] = name;
	r->status = 201;
	return api_hosts_show(r, err);
}
