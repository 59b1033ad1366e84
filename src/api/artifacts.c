/*
 * /v1/artifacts and /v1/hosts/NAME/upgrade (issue 5, item 6): the installed
 * versions per host with how many VMs use each, `host upgrade` (installs the
 * store's versions side by side through the host's agent and records
 * host_artifact rows) and GC (removes versions no VM uses, never the newest,
 * and says why each other one stays). Both run the agent synchronously
 * within the request, over a transport opened for it with the host's
 * pinned key, like cloudify does. See docs/api.md and docs/artifacts.md.
 */
#include "api/internal.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "lib/cleanup.h"
#include "lib/json.h"
#include "lib/valid.h"
#include "lib/xalloc.h"

#include "alloc/alloc.h"
#include "artifact/host_install.h"
#include "artifact/upgrade.h"
#include "artifact/versions.h"
#include "db/host_artifact.h"
#include "transport/transport.h"

/* A host that has an agent, with its transport open. */
struct agent_host {
	struct loam_host row;
	struct loam_transport *t;
	char *prefix; /* where artifacts go there: STATE_DIR/artifacts, as cloudify */
};

static void agent_host_close(struct agent_host *h)
{
	if (h->t)
		loam_transport_close(h->t);
	loam_host_free(&h->row);
	free(h->prefix);
	*h = (struct agent_host){0};
}

static int load_host(struct loam_db *db, const char *name, struct agent_host *h, loam_err *err)
{
	int found = loam_host_get_by_name(db, name, &h->row, err);
	if (found <= 0)
		return found < 0 ? -1
				 : loam_fail(err, LOAM_E_NOTFOUND,
					     "no host named %s; see loam host ls", name);
	h->prefix = xasprintf("%s/artifacts", h->row.state_dir);
	return 0;
}

/* Fails (conflict) unless cloudify has put the agent there. */
static int check_prepared(const struct agent_host *h, loam_err *err)
{
	const struct loam_host *row = &h->row;
	if (row->state == LOAM_HOST_FAILED)
		return loam_fail(err, LOAM_E_CONFLICT, "host %s has failed; see loam host show %s",
				 row->name, row->name);
	if (!row->agent_path || !row->arch ||
	    (strcmp(row->transport, "ssh") == 0 && !row->host_key))
		return loam_fail(err, LOAM_E_CONFLICT,
				 "host %s is not prepared yet (no agent); wait until loam host "
				 "show %s says accepting",
				 row->name, row->name);
	return 0;
}

static int open_transport(struct agent_host *h, loam_err *err)
{
	return api_host_transport(&h->row, &h->t, err);
}

/* ---- GET /v1/artifacts ---- */

int api_artifacts_list(struct api_req *r, loam_err *err)
{
	return loam_artifact_ls_json(r->db, &r->out, err);
}

/* ---- POST /v1/hosts/NAME/upgrade ---- */

/* http://ADDR:PORT/artifacts from the socket loamd listens on (a wildcard
 * address becomes loopback: the local host; remote hosts need a routable
 * --listen). */
static int artifact_base_url(struct loam_api *api, char **out, loam_err *err)
{
	const union MHD_DaemonInfo *info =
	    api->mhd ? MHD_get_daemon_info(api->mhd, MHD_DAEMON_INFO_LISTEN_FD) : NULL;
	union {
		struct sockaddr sa;
		struct sockaddr_in in4;
		struct sockaddr_in6 in6;
		struct sockaddr_storage ss;
	} u;
	memset(&u, 0, sizeof(u));
	socklen_t len = sizeof(u);
	if (!info || getsockname(info->listen_fd, &u.sa, &len) < 0)
		return loam_fail(err, LOAM_E_INTERNAL, "loamd's listen address is unknown");
	char addr[INET6_ADDRSTRLEN] = "";
	bool v6 = u.sa.sa_family == AF_INET6;
	unsigned port = ntohs(v6 ? u.in6.sin6_port : u.in4.sin_port);
	if (v6)
		inet_ntop(AF_INET6, &u.in6.sin6_addr, addr, sizeof(addr));
	else
		inet_ntop(AF_INET, &u.in4.sin_addr, addr, sizeof(addr));
	const char *host = strcmp(addr, "0.0.0.0") == 0 ? "127.0.0.1"
			   : strcmp(addr, "::") == 0	? "::1"
							: addr;
	*out = xasprintf("http://%s%s%s:%u/artifacts", v6 ? "[" : "", host, v6 ? "]" : "", port);
	return 0;
}

/* The host's own arch, then the arches it emulates (NULL-terminated). */
static void served_arches(const struct loam_host *h, const char **out, size_t max)
{
	size_t n = 0;
	out[n++] = h->arch;
	for (size_t i = 0; i < h->emulate.n && n + 1 < max; i++)
		if (strcmp(h->emulate.v[i], h->arch) != 0)
			out[n++] = h->emulate.v[i];
	out[n] = NULL;
}

static json_t *entries_json(const struct loam_artifact_manifest *m)
{
	json_t *list = json_array();
	for (size_t i = 0; i < m->count; i++)
		json_array_append_new(
		    list, json_pack("{s:s, s:s, s:s, s:s}", "component",
				    loam_artifact_component_name(m->entries[i].component), "name",
				    m->entries[i].name, "version", m->entries[i].version, "arch",
				    m->entries[i].arch));
	return list;
}

struct upgrade {
	const char *component, *version;
	struct agent_host host;
	struct loam_artifact_manifest store, picked;
	const char *arches[9];
	char *base_url;
};

static void upgrade_free(struct upgrade *u)
{
	agent_host_close(&u->host);
	loam_artifact_manifest_free(&u->store);
	free(u->picked.entries);
	free(u->base_url);
}

/* Everything checked before anything changes: the body, the host, the
 * store and the selection. */
static int upgrade_prepare(struct api_req *r, struct upgrade *u, loam_err *err)
{
	static const char *const allowed[] = {"component", "version", NULL};
	if (api_body_check(r, allowed, true, err) < 0 ||
	    api_body_str(r, "component", 32, &u->component, err) < 0 ||
	    api_body_str(r, "version", 128, &u->version, err) < 0)
		return -1;
	if (load_host(r->db, r->seg[1], &u->host, err) < 0 || check_prepared(&u->host, err) < 0)
		return -1;
	if (!r->api->artifact_store)
		return loam_fail(err, LOAM_E_CONFLICT,
				 "this loamd has no artifact store; start it with "
				 "--artifact-store DIR");
	cleanup_free char *path = xasprintf("%s/manifest.json", r->api->artifact_store);
	if (loam_artifact_manifest_load(path, &u->store, err) < 0)
		return loam_err_wrap(err, "artifact store");
	served_arches(&u->host.row, u->arches, sizeof(u->arches) / sizeof(*u->arches));
	if (loam_artifact_upgrade_select(&u->store, u->arches, u->component, u->version, &u->picked,
					 err) < 0)
		return -1;
	return artifact_base_url(r->api, &u->base_url, err);
}

int api_hosts_upgrade(struct api_req *r, loam_err *err)
{
	struct upgrade u = {0};
	int rc = upgrade_prepare(r, &u, err);
	if (rc == 0)
		rc = open_transport(&u.host, err);
	const char *id = rc == 0 ? u.host.row.id : NULL;
	if (rc == 0)
		rc = loam_artifact_install_on_host(r->db, u.host.t, id, u.host.row.agent_path,
						   &u.picked, u.arches, u.base_url, u.host.prefix,
						   err);
	if (id && r->api->alloc)
		loam_alloc_host_changed(r->api->alloc, id); /* a new image may be there */
	json_t *artifacts = NULL;
	if (rc == 0 && (rc = loam_artifact_host_json(r->db, id, &artifacts, err)) == 0)
		r->out = json_pack("{s:s, s:o, s:o}", "host", r->seg[1], "installed",
				   entries_json(&u.picked), "artifacts", artifacts);
	upgrade_free(&u);
	return rc < 0 ? loam_err_wrap(err, "upgrade host %s", r->seg[1]) : 0;
}

/* ---- POST /v1/artifacts/gc ---- */

/* Plan entries that GC was to remove but did not (a VM took one meanwhile)
 * move to keep. */
static void settle_plan(json_t *plan, const json_t *removed)
{
	json_t *keep = json_object_get(plan, "keep"), *e;
	size_t i, k;
	json_array_foreach(json_object_get(plan, "remove"), i, e)
	{
		bool gone = false;
		const json_t *g;
		json_array_foreach(removed, k, g)
		{
			gone |=
			    json_equal(json_object_get(e, "version"),
				       json_object_get(g, "version")) &&
			    json_equal(json_object_get(e, "component"),
				       json_object_get(g, "component")) &&
			    json_equal(json_object_get(e, "name"), json_object_get(g, "name")) &&
			    json_equal(json_object_get(e, "arch"), json_object_get(g, "arch"));
		}
		if (!gone) {
			json_object_set_new(e, "reason", json_string("a VM started using it"));
			json_array_append(keep, e);
			json_array_remove(json_object_get(plan, "remove"), i--);
		}
	}
}

static int gc_one_host(struct api_req *r, const char *name, bool dry_run, json_t **out,
		       loam_err *err)
{
	struct agent_host h = {0};
	json_t *plan = NULL;
	int rc = load_host(r->db, name, &h, err);
	if (rc == 0)
		rc = loam_artifact_gc_plan(r->db, h.row.id, &plan, err);
	if (rc == 0 && !dry_run && json_array_size(json_object_get(plan, "remove")) > 0) {
		json_t *removed = NULL;
		rc = check_prepared(&h, err) < 0 || open_transport(&h, err) < 0 ||
			     loam_artifact_gc_host(r->db, h.t, h.row.id, h.row.agent_path, h.prefix,
						   &removed, err) < 0
			 ? -1
			 : 0;
		if (rc == 0)
			settle_plan(plan, removed);
		json_decref(removed);
	}
	agent_host_close(&h);
	if (rc < 0) {
		json_decref(plan);
		return loam_err_wrap(err, "gc on host %s", name);
	}
	*out = json_pack("{s:s, s:o, s:o}", "host", name, "removed",
			 json_incref(json_object_get(plan, "remove")), "kept",
			 json_incref(json_object_get(plan, "keep")));
	json_decref(plan);
	return 0;
}

static int gc_fields(struct api_req *r, const char **host, bool *dry_run, loam_err *err)
{
	static const char *const allowed[] = {"host", "dry_run", NULL};
	if (api_body_check(r, allowed, true, err) < 0 ||
	    api_body_str(r, "host", LOAM_NAME_MAX, host, err) < 0)
		return -1;
	json_t *d = json_object_get(r->body, "dry_run");
	if (d && !json_is_boolean(d))
		return loam_fail(err, LOAM_E_INVALID, "field 'dry_run' must be true or false");
	*dry_run = json_is_true(d);
	return 0;
}

/* The named host, or every host that has artifacts. */
static int gc_hosts(struct loam_db *db, const char *only, char ***names, size_t *n, loam_err *err)
{
	if (!only)
		return loam_host_artifact_hosts(db, names, n, err);
	cleanup_host struct loam_host h = {0};
	int found = loam_host_get_by_name(db, only, &h, err);
	if (found <= 0)
		return found < 0 ? -1
				 : loam_fail(err, LOAM_E_NOTFOUND,
					     "no host named %s; see loam host ls", only);
	*names = xcalloc(2, sizeof(**names));
	(*names)[0] = xstrdup(only);
	*n = 1;
	return 0;
}

int api_artifacts_gc(struct api_req *r, loam_err *err)
{
	const char *only = NULL;
	bool dry_run = false;
	cleanup_strv char **hosts = NULL;
	size_t nhosts = 0;
	if (gc_fields(r, &only, &dry_run, err) < 0 ||
	    gc_hosts(r->db, only, &hosts, &nhosts, err) < 0)
		return -1;
	json_t *list = json_array();
	size_t failed = 0;
	for (size_t i = 0; i < nhosts; i++) {
		json_t *one = NULL;
		cleanup_err loam_err host_err = NULL;
		if (gc_one_host(r, hosts[i], dry_run, &one, &host_err) < 0) {
			failed++;
			one = json_pack("{s:s, s:[], s:[], s:s}", "host", hosts[i], "removed",
					"kept", "error", loam_err_msg(host_err));
		}
		json_array_append_new(list, one);
	}
	r->out = json_pack("{s:b, s:o, s:I}", "dry_run", dry_run, "hosts", list, "failed",
			   (json_int_t)failed);
	return 0;
}
