/*
 * A VM's network in the API (docs/api.md, docs/network.md): the keys `vm
 * show` adds (mac, ipv4, ipv6, ipv6_prefix, open_ports, ssh, ssh_jump,
 * ssh_host_keys), `open_ports` at create, and its firewall:
 *   GET  /v1/vms/NAME/firewall          the open ports
 *   POST /v1/vms/NAME/firewall/add      {"port": "80/tcp", "from": CIDR?}
 *   POST /v1/vms/NAME/firewall/rm       the same
 * A change raises the VM strand's "net" signal, which carries it to the
 * host (src/progs/vm_net.c).
 */
#include "api/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/net.h"
#include "db/vm.h"
#include "engine/engine.h"
#include "lib/cleanup.h"
#include "lib/json.h"
#include "lib/xalloc.h"
#include "progs/progs.h"

#define VM_DEFAULT_USER "loam" /* the guest image's login user */
#define SSH_PORT_RULE	"22/tcp"
#define RULE_TEXT_MAX	96

static json_t *ports_json(const struct loam_vm_port *ports, size_t n)
{
	json_t *list = json_array();
	json_array_append_new(list, json_string(SSH_PORT_RULE));
	for (size_t i = 0; i < n; i++) {
		char rule[RULE_TEXT_MAX];
		loam_vm_port_format(&ports[i], rule, sizeof(rule));
		json_array_append_new(list, json_string(rule));
	}
	return list;
}

static int open_ports_json(struct loam_db *db, const char *vm_id, json_t **out, loam_err *err)
{
	struct loam_vm_port *ports = NULL;
	size_t n = 0;
	if (loam_vm_ports(db, vm_id, &ports, &n, err) < 0)
		return -1;
	*out = ports_json(ports, n);
	free(ports);
	return 0;
}

/* The jump host for a VM on an SSH host (null on a local host), and the
 * command line that logs in. */
static void add_ssh(struct loam_db *db, const struct loam_vm *vm, const char *ipv4, json_t *v)
{
	cleanup_host struct loam_host h = {0};
	cleanup_err loam_err err = NULL;
	bool remote = vm->host_id && loam_host_get(db, vm->host_id, &h, &err) > 0 &&
		      strcmp(h.transport, "ssh") == 0 && h.address;
	json_t *jump = json_null();
	char cmd[512] = "";
	if (remote) {
		jump =
		    json_pack("{s:s, s:I, s:s, s:s?}", "address", h.address, "port",
			      (json_int_t)h.ssh_port, "user", h.ssh_user, "host_key", h.host_key);
		bool v6 = strchr(h.address, ':') != NULL;
		snprintf(cmd, sizeof(cmd), "ssh -J %s@%s%s%s:%lld " VM_DEFAULT_USER "@%s",
			 h.ssh_user, v6 ? "[" : "", h.address, v6 ? "]" : "", (long long)h.ssh_port,
			 ipv4);
	} else {
		snprintf(cmd, sizeof(cmd), "ssh " VM_DEFAULT_USER "@%s", ipv4);
	}
	json_object_set_new(v, "ssh_jump", jump);
	json_object_set_new(v, "ssh", json_string(cmd));
}

int api_vm_net_view(struct loam_db *db, const struct loam_vm *vm, json_t *v, loam_err *err)
{
	cleanup_vm_net_row struct loam_vm_net n = {0};
	json_t *ports = NULL;
	int have = loam_vm_net_get(db, vm->id, &n, err);
	if (have < 0 || open_ports_json(db, vm->id, &ports, err) < 0)
		return -1;
	json_object_set_new(v, "mac", have ? json_string(n.mac) : json_null());
	json_object_set_new(v, "ipv4", have ? json_string(n.ipv4) : json_null());
	json_object_set_new(v, "ipv6", have ? json_string(n.ipv6) : json_null());
	json_object_set_new(v, "ipv6_prefix", have ? json_string(n.ipv6_prefix) : json_null());
	json_object_set_new(v, "open_ports", ports);
	if (have)
		add_ssh(db, vm, n.ipv4, v);
	else
		json_object_set_new(v, "ssh", json_null());
	/* wave/guest records the guest's host keys; none yet */
	if (!json_object_get(v, "ssh_host_keys"))
		json_object_set_new(v, "ssh_host_keys", json_array());
	return 0;
}

/* ---- open ports at create ---- */

int api_vm_ports_parse(const json_t *list, struct loam_vm_port **out, size_t *n, loam_err *err)
{
	*out = NULL;
	*n = 0;
	if (!list || json_is_null(list))
		return 0;
	if (!json_is_array(list) || json_array_size(list) > 64)
		return loam_fail(err, LOAM_E_INVALID,
				 "field 'open_ports' must be an array of at most 64 rules like "
				 "\"80/tcp\"");
	struct loam_vm_port *v = xcalloc(json_array_size(list) + 1, sizeof(*v));
	size_t i;
	const json_t *rule;
	json_array_foreach(list, i, rule)
	{
		if (!json_is_string(rule) ||
		    loam_vm_port_parse(json_string_value(rule), NULL, &v[i], err) < 0) {
			free(v);
			return loam_fail(err, LOAM_E_INVALID,
					 "open_ports[%zu] must be a rule like \"80/tcp\" or "
					 "\"53/udp\" (port 1..65535)",
					 i);
		}
	}
	*out = v;
	*n = json_array_size(list);
	return 0;
}

int api_vm_ports_insert(struct loam_db *db, const char *vm_id, const struct loam_vm_port *ports,
			size_t n, loam_err *err)
{
	for (size_t i = 0; i < n; i++) {
		bool added = false;
		if (loam_vm_port_add(db, vm_id, &ports[i], &added, err) < 0)
			return -1;
	}
	return 0;
}

/* ---- the firewall routes ---- */

static int firewall_view(struct api_req *r, const struct loam_vm *vm, loam_err *err)
{
	json_t *ports = NULL;
	if (open_ports_json(r->db, vm->id, &ports, err) < 0)
		return -1;
	r->out = json_pack("{s:s, s:o}", "name", vm->name, "open_ports", ports);
	return 0;
}

int api_vm_firewall_list(struct api_req *r, loam_err *err)
{
	cleanup_vm struct loam_vm vm = {0};
	if (api_vm_lookup(r, r->seg[1], &vm, err) < 0)
		return -1;
	return firewall_view(r, &vm, err);
}

static int rule_from_body(struct api_req *r, struct loam_vm_port *p, loam_err *err)
{
	static const char *const allowed[] = {"port", "from", NULL};
	const char *port = NULL, *from = NULL;
	if (api_body_check(r, allowed, false, err) < 0 ||
	    api_body_str(r, "port", 16, &port, err) < 0 ||
	    api_body_str(r, "from", 64, &from, err) < 0)
		return -1;
	if (!port)
		return loam_fail(err, LOAM_E_INVALID, "a rule needs a port, e.g. \"80/tcp\"");
	if (loam_vm_port_parse(port, from, p, err) < 0)
		return -1;
	if (p->port == 22 && strcmp(p->proto, "tcp") == 0 && !*p->source)
		return loam_fail(err, LOAM_E_INVALID,
				 "22/tcp (SSH) is always open; it is no rule to add or remove");
	return 0;
}

struct rule_change {
	const char *id; /* the VM's, found in the principal's projects */
	struct loam_vm_port p;
	bool add, changed;
	struct loam_vm vm;
};

static int change_tx(struct loam_db *db, void *ctx, loam_err *err)
{
	struct rule_change *c = ctx;
	loam_vm_free(&c->vm);
	bool live = false;
	int found = loam_vm_load(db, c->id, &c->vm, err);
	if (found <= 0)
		return found < 0 ? -1 : loam_fail(err, LOAM_E_NOTFOUND, "the VM is gone meanwhile");
	int rc = c->add ? loam_vm_port_add(db, c->vm.id, &c->p, &c->changed, err)
			: loam_vm_port_rm(db, c->vm.id, &c->p, &c->changed, err);
	if (rc < 0 || !c->changed || loam_strand_live(db, c->vm.id, &live, err) < 0)
		return rc;
	return live ? loam_strand_signal(db, c->vm.id, LOAM_SIGNAL_NET, err) : 0;
}

static int change(struct api_req *r, bool add, loam_err *err)
{
	cleanup_vm struct loam_vm named = {0};
	if (api_vm_lookup(r, r->seg[1], &named, err) < 0)
		return -1;
	struct rule_change c = {.id = named.id, .add = add};
	if (rule_from_body(r, &c.p, err) < 0)
		return -1;
	int rc = loam_db_tx(r->db, change_tx, &c, err);
	if (rc == 0)
		rc = firewall_view(r, &c.vm, err);
	if (rc == 0)
		json_object_set_new(r->out, "changed", json_boolean(c.changed));
	loam_vm_free(&c.vm);
	return rc;
}

int api_vm_firewall_add(struct api_req *r, loam_err *err)
{
	return change(r, true, err);
}

int api_vm_firewall_rm(struct api_req *r, loam_err *err)
{
	return change(r, false, err);
}
