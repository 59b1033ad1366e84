/*
 * An agent whose userland runs under a user-mode emulator (qemu-user on a
 * kernel of another arch, as the arm64-debian test host does) learns facts
 * about the kernel's machine, not its own arch's. It says so rather than
 * report them as its arch's: the fact `emulation` names both arches, and
 * `emulation_missing` lists each part such a host lacks, with the reason.
 * The tell is /proc/cpuinfo: the kernel writes it for its own arch, so a
 * key only another arch's cpuinfo has means the userland is translated.
 * The jail's own missing parts are the jail's fact (jail_missing).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/netlink.h>

#include "host/learn.h"
#include "lib/xalloc.h"
#include "proto/agent.h"

/* nft talks netfilter netlink; qemu-user translates only the route, audit
 * and uevent families, so an emulated nft cannot set a rule. Probed with
 * one socket, not with nft: learn stays cheap. */
static const char *netfilter_missing(void)
{
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
	if (fd >= 0) {
		close(fd);
		return NULL;
	}
	return strerror(errno);
}

static void add_missing(json_t *list, const char *part, const char *why)
{
	char *line = xasprintf("%s: %s", part, why);
	json_array_append_new(list, json_string(line));
	free(line);
}

void learn_emulation(const struct loam_arch *userland, const struct loam_arch *kernel,
		     json_t *facts, json_t *sources)
{
	if (!kernel || kernel == userland)
		return;
	char *what = xasprintf("user-mode: this %s userland runs translated on a %s kernel",
			       userland->name, kernel->name);
	json_object_set_new(facts, LOAM_FACT_EMULATION, json_string(what));
	free(what);
	json_object_set_new(sources, LOAM_FACT_EMULATION,
			    json_string("uname(2) vs /proc/cpuinfo's arch"));

	json_t *missing = json_array();
	char *why =
	    xasprintf("/proc/cpuinfo describes the %s CPU the emulator runs on", kernel->name);
	add_missing(missing, LOAM_FACT_CPU_MODEL, why);
	free(why);
	json_object_set_new(facts, LOAM_FACT_CPU_MODEL, json_string(""));
	json_object_set_new(sources, LOAM_FACT_CPU_MODEL, json_string("unavailable (emulated)"));
	const char *nf = netfilter_missing();
	if (nf) {
		why = xasprintf("netfilter netlink refused (%s): nft cannot set the VMs' "
				"firewall and NAT rules",
				nf);
		add_missing(missing, "nftables", why);
		free(why);
	}
	add_missing(missing, "performance",
		    "every process, the VMM included, is translated: figures are not a server's");
	json_object_set_new(facts, LOAM_FACT_EMULATION_MISSING, missing);
}
