/*
 * vm-prep's spec as the JSON the agent reads on stdin (docs/agent-vm-
 * verbs.md): typed fields in, the protocol's keys out, optional parts left
 * out so that the agent applies its own defaults.
 */
#include "proto/client.h"

#include "lib/json.h"
#include "proto/agent.h"

static void set_str(json_t *o, const char *key, const char *v)
{
	if (v)
		json_object_set_new(o, key, json_string(v));
}

static json_t *topology(const struct loam_topology *t)
{
	if (!t->packages)
		return NULL;
	return json_pack("{s:i, s:i, s:i, s:i}", LOAM_KEY_PACKAGES, (json_int_t)t->packages,
			 LOAM_KEY_DIES, (json_int_t)t->dies, LOAM_KEY_CORES, (json_int_t)t->cores,
			 LOAM_KEY_THREADS, (json_int_t)t->threads);
}

static json_t *seed(const struct loam_vm_prep_spec *s)
{
	if (!s->meta_data)
		return json_null();
	json_t *j = json_pack("{s:s, s:s}", LOAM_KEY_META_DATA, s->meta_data, LOAM_KEY_USER_DATA,
			      s->user_data ? s->user_data : "");
	set_str(j, LOAM_KEY_NETWORK_CONFIG, s->network_config);
	return j;
}

static json_t *direct_kernel(const struct loam_vm_prep_spec *s)
{
	if (!s->kernel)
		return json_null();
	json_t *j = json_pack("{s:s, s:b}", LOAM_KEY_KERNEL, s->kernel, LOAM_KEY_FIRMWARE,
			      (int)s->kernel_firmware);
	set_str(j, LOAM_KEY_INITRD, s->initrd);
	set_str(j, LOAM_KEY_CMDLINE, s->cmdline);
	return j;
}

json_t *loam_vm_net_spec_json(const struct loam_vm_net_spec *n)
{
	json_t *ports = json_array();
	for (size_t i = 0; i < n->nports; i++) {
		json_t *p = json_pack("{s:i, s:s}", LOAM_KEY_PORT, (json_int_t)n->ports[i].port,
				      LOAM_KEY_PROTO, n->ports[i].proto);
		set_str(p, LOAM_KEY_FROM, n->ports[i].from);
		json_array_append_new(ports, p);
	}
	return json_pack(
	    "{s:s, s:i, s:s, s:s, s:s, s:s, s:s, s:b, s:o}", LOAM_KEY_MAC, n->mac, LOAM_KEY_QUEUES,
	    (json_int_t)n->queues, LOAM_KEY_IPV4, n->ipv4, LOAM_KEY_IPV4_POOL, n->ipv4_pool,
	    LOAM_KEY_IPV6, n->ipv6, LOAM_KEY_IPV6_PREFIX, n->ipv6_prefix, LOAM_KEY_HOST_IPV6_PREFIX,
	    n->host_ipv6_prefix, LOAM_KEY_EGRESS, (int)n->egress, LOAM_KEY_OPEN_PORTS, ports);
}

char *loam_vm_prep_spec_json(const struct loam_vm_prep_spec *s)
{
	cleanup_json json_t *j =
	    json_pack("{s:s, s:s, s:s, s:i, s:i, s:b, s:b}", LOAM_KEY_ID, s->id, LOAM_KEY_NAME,
		      s->name, LOAM_KEY_ARCH, s->arch, LOAM_KEY_VCPUS, (json_int_t)s->vcpus,
		      LOAM_KEY_MEMORY_MIB, (json_int_t)s->memory_mib, LOAM_KEY_HUGEPAGES,
		      (int)s->hugepages, LOAM_KEY_KVM, (int)s->kvm);
	json_t *topo = topology(&s->topo);
	if (topo)
		json_object_set_new(j, LOAM_KEY_TOPOLOGY, topo);
	set_str(j, LOAM_KEY_IMAGE, s->image);
	set_str(j, LOAM_KEY_IMAGE_FORMAT, s->image_format);
	set_str(j, LOAM_KEY_FW_CODE, s->fw_code);
	set_str(j, LOAM_KEY_FW_VARS, s->fw_vars);
	if (s->disk_gib)
		json_object_set_new(j, LOAM_KEY_DISK_GIB, json_integer(s->disk_gib));
	json_object_set_new(j, LOAM_KEY_SEED, seed(s));
	json_object_set_new(j, LOAM_KEY_DIRECT_KERNEL, direct_kernel(s));
	set_str(j, LOAM_KEY_QEMU, s->qemu);
	set_str(j, LOAM_KEY_HUGEPAGE_DIR, s->hugepage_dir);
	if (s->net)
		json_object_set_new(j, LOAM_KEY_NET, loam_vm_net_spec_json(s->net));
	else if (s->net_json)
		json_object_set_new(j, LOAM_KEY_NET, json_deep_copy(s->net_json));
	set_str(j, LOAM_KEY_VMM_DIR, s->vmm_dir);
	set_str(j, LOAM_KEY_STORAGE_DIR, s->storage_dir);
	return loam_json_dump(j);
}

static const char *str_of(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static unsigned uint_of(const json_t *o, const char *key)
{
	json_int_t v = json_integer_value(json_object_get(o, key));
	return v > 0 ? (unsigned)v : 0;
}

int loam_vm_prep_spec_read(const json_t *j, struct loam_vm_prep_spec *s, loam_err *err)
{
	const json_t *topo = json_object_get(j, LOAM_KEY_TOPOLOGY);
	const json_t *seed = json_object_get(j, LOAM_KEY_SEED);
	const json_t *dk = json_object_get(j, LOAM_KEY_DIRECT_KERNEL);
	*s = (struct loam_vm_prep_spec){
	    .id = str_of(j, LOAM_KEY_ID),
	    .name = str_of(j, LOAM_KEY_NAME),
	    .arch = str_of(j, LOAM_KEY_ARCH),
	    .vcpus = uint_of(j, LOAM_KEY_VCPUS),
	    .memory_mib = uint_of(j, LOAM_KEY_MEMORY_MIB),
	    .disk_gib = uint_of(j, LOAM_KEY_DISK_GIB),
	    .hugepages = json_is_true(json_object_get(j, LOAM_KEY_HUGEPAGES)),
	    .kvm = json_is_true(json_object_get(j, LOAM_KEY_KVM)),
	    .topo = {uint_of(topo, LOAM_KEY_PACKAGES), uint_of(topo, LOAM_KEY_DIES),
		     uint_of(topo, LOAM_KEY_CORES), uint_of(topo, LOAM_KEY_THREADS)},
	    .image = str_of(j, LOAM_KEY_IMAGE),
	    .image_format = str_of(j, LOAM_KEY_IMAGE_FORMAT),
	    .fw_code = str_of(j, LOAM_KEY_FW_CODE),
	    .fw_vars = str_of(j, LOAM_KEY_FW_VARS),
	    .meta_data = str_of(seed, LOAM_KEY_META_DATA),
	    .user_data = str_of(seed, LOAM_KEY_USER_DATA),
	    .network_config = str_of(seed, LOAM_KEY_NETWORK_CONFIG),
	    .kernel = str_of(dk, LOAM_KEY_KERNEL),
	    .initrd = str_of(dk, LOAM_KEY_INITRD),
	    .cmdline = str_of(dk, LOAM_KEY_CMDLINE),
	    .kernel_firmware = !json_is_false(json_object_get(dk, LOAM_KEY_FIRMWARE)),
	    .qemu = str_of(j, LOAM_KEY_QEMU),
	    .hugepage_dir = str_of(j, LOAM_KEY_HUGEPAGE_DIR),
	    .net_json = json_is_object(json_object_get(j, LOAM_KEY_NET))
			    ? json_object_get(j, LOAM_KEY_NET)
			    : NULL,
	    .vmm_dir = str_of(j, LOAM_KEY_VMM_DIR),
	    .storage_dir = str_of(j, LOAM_KEY_STORAGE_DIR),
	};
	if (!s->id || !s->name || !s->arch)
		return loam_fail(err, LOAM_E_INVALID, "a VM spec needs %s, %s and %s", LOAM_KEY_ID,
				 LOAM_KEY_NAME, LOAM_KEY_ARCH);
	return 0;
}
