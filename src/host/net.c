/*
 * A VM's network as a whole (net.h): set up in order (links, then the
 * rules that name the tap, then the host's egress table, then dnsmasq,
 * which binds to the tap's addresses), checked cheaply before a start,
 * and purged; plus what the VMM's launcher needs to join it.
 */
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "host/net_internal.h"
#include "host/vm.h"
#include "host/vm_files.h"
#include "lib/cleanup.h"
#include "lib/json.h"

static int save_spec(const struct net_paths *p, const struct vm_net *n, loam_err *err)
{
	cleanup_free char *text = loam_json_dump_pretty(n->json);
	return net_write_file(p->spec, text, err);
}

int vm_net_setup(const char *state_dir, const struct vm_net *n, uid_t uid, gid_t gid, loam_err *err)
{
	struct net_paths p;
	if (net_paths_init(state_dir, n->id, &p, err) < 0 || net_make_dirs(&p, err) < 0 ||
	    save_spec(&p, n, err) < 0 || net_links_setup(n, uid, gid, err) < 0 ||
	    net_rules_apply(&p, n, err) < 0 || net_egress_host(state_dir, n, err) < 0 ||
	    net_dnsmasq_ensure(&p, n, err) < 0)
		return loam_err_wrap(err, "set up the network of VM %s", n->id);
	return 0;
}

int vm_net_ensure(const char *state_dir, const struct vm_net *n, uid_t uid, gid_t gid,
		  loam_err *err)
{
	struct net_paths p;
	if (net_paths_init(state_dir, n->id, &p, err) < 0)
		return -1;
	if (net_ns_exists(n->netns) && if_nametoindex(n->veth) != 0 && net_dnsmasq_pid(&p))
		return 0;
	return vm_net_setup(state_dir, n, uid, gid, err);
}

int vm_net_update(const char *state_dir, const struct vm_net *n, uid_t uid, gid_t gid,
		  loam_err *err)
{
	struct vm_net saved = {0};
	int found = vm_net_load(state_dir, n->id, &saved, err);
	vm_net_free(&saved);
	if (found < 0)
		return -1;
	if (found == 0)
		return loam_fail(err, LOAM_E_NOTFOUND,
				 "VM %s has no network on this host yet; vm-prep makes it", n->id);
	return vm_net_setup(state_dir, n, uid, gid, err);
}

int vm_net_purge(const char *state_dir, const char *id, loam_err *err)
{
	struct net_paths p;
	char netns[80], veth[16];
	if (net_paths_init(state_dir, id, &p, err) < 0 || vm_net_names(id, netns, veth, err) < 0)
		return -1;
	if (net_dnsmasq_stop(&p, err) < 0 || net_ns_delete(netns, veth, err) < 0 ||
	    vm_remove_tree(p.dir, err) < 0)
		return loam_err_wrap(err, "remove the network of VM %s", id);
	return 0;
}

void vm_net_state_dir_of(const char *vms_dir, char out[VM_NET_PATH_MAX])
{
	const char *slash = strrchr(vms_dir, '/');
	int len = slash ? (int)(slash - vms_dir) : (int)strlen(vms_dir);
	snprintf(out, VM_NET_PATH_MAX, "%.*s", len, vms_dir);
}

int vm_net_load_vm(const char *vms_dir, const char *id, struct vm_net *n, loam_err *err)
{
	char state_dir[VM_NET_PATH_MAX];
	vm_net_state_dir_of(vms_dir, state_dir);
	return vm_net_load(state_dir, id, n, err);
}

pid_t vm_net_dnsmasq_of(const char *vms_dir, const char *id)
{
	char state_dir[VM_NET_PATH_MAX], exe[64], prog[VM_NET_PATH_MAX];
	struct net_paths p;
	loam_err err = NULL;
	vm_net_state_dir_of(vms_dir, state_dir);
	if (net_paths_init(state_dir, id, &p, &err) < 0) {
		loam_err_free(&err);
		return 0;
	}
	pid_t pid = net_dnsmasq_pid(&p);
	snprintf(exe, sizeof(exe), "/proc/%d/exe", (int)pid);
	ssize_t len = pid ? readlink(exe, prog, sizeof(prog) - 1) : -1;
	if (len <= 0)
		return 0;
	prog[len] = '\0';
	const char *base = strrchr(prog, '/');
	return base && strcmp(base + 1, "dnsmasq") == 0 ? pid : 0;
}

int vm_net_enter(const struct vm_net *n, loam_err *err)
{
	char path[VM_NET_PATH_MAX];
	snprintf(path, sizeof(path), NET_NETNS_DIR "/%s", n->netns);
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return loam_fail_errno(err, "open the namespace %s (run vm-prep)", path);
	if (setns(fd, CLONE_NEWNET) < 0)
		return loam_fail_errno(err, "enter the namespace %s", n->netns);
	return 0;
}

/* The tap's netdev: by name (QEMU opens /dev/net/tun itself, as root), or
 * by the fds first_fd.. that vm_net_open_tap put there (the jail). */
static void add_tap_netdev(const struct vm_net *n, int first_fd, struct loam_argv *argv)
{
	char how[96];
	if (first_fd <= 0)
		snprintf(how, sizeof(how), "ifname=%s,script=no,downscript=no", NET_TAP);
	else if (n->queues <= 1)
		snprintf(how, sizeof(how), "fd=%d", first_fd);
	else {
		size_t len = (size_t)snprintf(how, sizeof(how), "fds=");
		for (unsigned q = 0; q < n->queues && len < sizeof(how); q++)
			len += (size_t)snprintf(how + len, sizeof(how) - len, "%s%d", q ? ":" : "",
						first_fd + (int)q);
	}
	loam_argv_add(argv, "-netdev");
	/* With fd=/fds= QEMU reads the vnet header flag from the fd itself. */
	if (first_fd > 0)
		loam_argv_addf(argv, "tap,id=net0,%s", how);
	else if (n->queues > 1)
		loam_argv_addf(argv, "tap,id=net0,%s,vnet_hdr=on,queues=%u", how, n->queues);
	else
		loam_argv_addf(argv, "tap,id=net0,%s,vnet_hdr=on", how);
}

void vm_net_qemu_args(const struct vm_net *n, int first_fd, struct loam_argv *argv)
{
	add_tap_netdev(n, first_fd, argv);
	loam_argv_add(argv, "-device");
	/* romfile= keeps iPXE out: the firmware has its own virtio-net driver */
	if (n->queues > 1)
		loam_argv_addf(argv, "virtio-net-pci,netdev=net0,mac=%s,romfile=,mq=on,vectors=%u",
			       n->mac, 2 * n->queues + 2);
	else
		loam_argv_addf(argv, "virtio-net-pci,netdev=net0,mac=%s,romfile=", n->mac);
}

int vm_net_open_tap(const struct vm_net *n, int first_fd)
{
	unsigned queues = n->queues > 1 ? n->queues : 1;
	for (unsigned q = 0; q < queues; q++) {
		struct ifreq ifr = {0};
		snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", NET_TAP);
		ifr.ifr_flags =
		    IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | (queues > 1 ? IFF_MULTI_QUEUE : 0);
		int want = first_fd + (int)q;
		int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
		if (fd < 0 || ioctl(fd, TUNSETIFF, &ifr) < 0)
			return -1;
		if (fd == want) /* inherited by exec, so not close-on-exec */
			fcntl(fd, F_SETFD, 0);
		else if (dup2(fd, want) < 0)
			return -1;
		else
			close(fd);
	}
	return 0;
}
