/*
 * The vm prog's network (docs/network.md): the "net" part of vm-prep's spec
 * (the VM's addresses, assigned here on first prep, its open ports and its
 * host's egress), the seed's network-config that matches what dnsmasq
 * serves, and the "net" label, which carries a changed firewall or egress
 * to the host (agent vm-net) and returns to the label it interrupted.
 *
 * A change raises the strand's "net" signal (API: vm firewall add/rm, host
 * set --egress). The before hook takes it: before prep it is dropped (prep
 * reads the current rules); from a label after prep it hops here.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/net.h"
#include "lib/cleanup.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "progs/vm_prog.h"
#include "proto/agent.h"

#define NET_QUEUES_MAX 16
#define NET_MAX_TRIES  5

void vm_net_build_free(struct vm_net_build *b)
{
	loam_vm_net_free(&b->addr);
	free(b->ports);
	free(b->wire);
	free(b->network_config);
	*b = (struct vm_net_build){0};
}

/* cloud-init's network config v2: DHCPv4, and DHCPv6 with router
 * advertisements, on the NIC with the VM's MAC, as its dnsmasq serves. */
static char *network_config(const char *mac)
{
	return xasprintf("version: 2\n"
			 "ethernets:\n"
			 "  nic0:\n"
			 "    match:\n"
			 "      macaddress: \"%s\"\n"
			 "    dhcp4: true\n"
			 "    dhcp6: true\n",
			 mac);
}

static int read_ports(struct loam_strand_ctx *ctx, struct vm_net_build *b, loam_err *err)
{
	if (loam_vm_ports(ctx->db, ctx->id, &b->ports, &b->nports, err) < 0)
		return -1;
	b->wire = xcalloc(b->nports ? b->nports : 1, sizeof(*b->wire));
	for (size_t i = 0; i < b->nports; i++)
		b->wire[i] =
		    (struct loam_vm_net_port){b->ports[i].port, b->ports[i].proto,
					      *b->ports[i].source ? b->ports[i].source : NULL};
	return 0;
}

bool vm_net_host_can(const struct loam_host *h)
{
	json_t *facts = h->facts ? json_loads(h->facts, 0, NULL) : NULL;
	json_t *missing = json_object_get(facts, LOAM_FACT_EMULATION_MISSING);
	bool can = true;
	size_t i;
	json_t *m;
	json_array_foreach(missing, i, m)
	{
		if (json_is_string(m) && strncmp(json_string_value(m), "nftables:", 9) == 0)
			can = false;
	}
	json_decref(facts);
	return can;
}

int vm_net_build(struct loam_strand_ctx *ctx, const struct loam_vm *v, const struct loam_host *h,
		 struct vm_net_build *b, loam_err *err)
{
	struct loam_net6 prefix;
	if (loam_vm_net_assign(ctx->db, ctx->id, v->host_id, &b->addr, err) < 0 ||
	    loam_net_host_prefix(h->id, h->ipv6_prefix, &prefix, err) < 0 ||
	    read_ports(ctx, b, err) < 0)
		return -1;
	loam_net6_format(&prefix, b->host_prefix);
	snprintf(b->pool, sizeof(b->pool), "%s", h->ipv4_pool ? h->ipv4_pool : "");
	unsigned queues = v->vcpus > 1 ? (unsigned)v->vcpus : 1;
	b->spec = (struct loam_vm_net_spec){
	    .mac = b->addr.mac,
	    .ipv4 = b->addr.ipv4,
	    .ipv4_pool = b->pool,
	    .ipv6 = b->addr.ipv6,
	    .ipv6_prefix = b->addr.ipv6_prefix,
	    .host_ipv6_prefix = b->host_prefix,
	    .queues = queues < NET_QUEUES_MAX ? queues : NET_QUEUES_MAX,
	    .egress = h->egress,
	    .ports = b->wire,
	    .nports = b->nports,
	};
	b->network_config = network_config(b->addr.mac);
	return 0;
}

/* ---- the "net" signal and label ---- */

static const char *const after_prep[] = {VM_RUN,     VM_WAIT_READY, VM_WAIT,   VM_STOP,
					 VM_STOPPED, VM_REBOOT,	    VM_FAILED, NULL};

static const char *label_literal(const char *name)
{
	for (const char *const *l = after_prep; *l; l++)
		if (strcmp(*l, name) == 0)
			return *l;
	return NULL;
}

int vm_net_signal(struct loam_strand_ctx *ctx, struct loam_outcome *out)
{
	if (!loam_strand_take_signal(ctx, LOAM_SIGNAL_NET))
		return 0;
	const char *back = label_literal(ctx->label);
	if (!back)
		return 0; /* before prep (which reads the current rules) or destroying */
	json_object_set_new(ctx->frame, VM_FRAME_NET_RETURN, json_string(back));
	*out = loam_hop(VM_NET);
	return 1;
}

static int push_net(struct loam_strand_ctx *ctx, const struct loam_vm *v, loam_err *err)
{
	cleanup_host struct loam_host h = {0};
	if (loam_host_load(ctx->db, v->host_id, &h, err) < 0)
		return -1;
	cleanup_vm_net_build struct vm_net_build b = {0};
	cleanup_vm_agent struct vm_agent a = {0};
	if (vm_net_build(ctx, v, &h, &b, err) < 0 || vm_agent_open(ctx, v->host_id, &a, err) < 0)
		return -1;
	return loam_agent_vm_net(&a.agent, ctx->id, &b.spec, err);
}

/* Applies the VM's current rules and its host's egress on the host, then
 * returns to the label the signal interrupted. A host that keeps failing
 * is given up on after a few tries (the next change or prep applies it). */
int vm_label_net(struct loam_strand_ctx *ctx, struct loam_outcome *out, loam_err *err)
{
	struct loam_vm *v = vm_of(ctx);
	const char *back = label_literal(
	    json_string_value(json_object_get(ctx->frame, VM_FRAME_NET_RETURN)) ?: "");
	if (!back)
		back = VM_WAIT;
	if (v->host_id && push_net(ctx, v, err) < 0) {
		if (ctx->tries + 1 < NET_MAX_TRIES)
			return -1;
		log_warn("vm %s: its network change is not applied on its host: %s", v->name,
			 loam_err_msg(*err));
		loam_err_free(err);
	}
	*out = loam_hop(back);
	return 0;
}
