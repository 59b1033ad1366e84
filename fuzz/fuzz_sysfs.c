/*
 * Fuzzes the small sysfs and procfs parsers. The first byte picks one: the
 * cpu-list format ("0-3,8,10-11"), decimal and hex values, meminfo lines,
 * SMBIOS memory devices, os-release, the MemTotal rounding and the topology
 * summary (the rest of the input as per-CPU ids). Each must refuse or
 * accept without crashing, and what it accepts must be self-consistent.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "host/learn.h"
#include "lib/cleanup.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_cpulist(const char *s)
{
	static struct learn_cpuset set, copy;
	cleanup_err loam_err err = NULL;
	if (learn_cpulist_parse(s, &set, &err) < 0)
		return;
	unsigned n = learn_cpuset_count(&set);
	if (n > LEARN_MAX_CPUS)
		abort();
	copy = set;
	learn_cpuset_and(&copy, &set);
	if (learn_cpuset_count(&copy) != n)
		abort();
}

static void fuzz_values(const char *s)
{
	cleanup_err loam_err err = NULL;
	long v;
	uint64_t u;
	learn_parse_long(s, &v, &err);
	learn_parse_hex_u64(s, &u, &err);
	learn_meminfo_kib(s, "MemTotal", &u, &err);
	cleanup_free char *pretty = NULL;
	learn_os_release_pretty(s, &pretty, &err);
}

static void fuzz_round(const uint8_t *data, size_t size)
{
	uint64_t kib = 0;
	memcpy(&kib, data, size < sizeof(kib) ? size : sizeof(kib));
	unsigned gib = learn_round_memtotal_gib(kib);
	/* Never below MemTotal (short of the cap), never zero. */
	if (gib == 0 || (kib < (1ull << 50) && (uint64_t)gib * 1048576 < kib))
		abort();
}

static void fuzz_topology(const uint8_t *data, size_t size)
{
	size_t n = size / 4;
	struct learn_cpu_topo *c = calloc(n ? n : 1, sizeof(*c));
	if (!c)
		return;
	static const char *models[] = {"a", "b", ""};
	for (size_t i = 0; i < n; i++)
		c[i] = (struct learn_cpu_topo){(unsigned)i,
					       (int8_t)data[4 * i] % 4,
					       (int8_t)data[4 * i + 1] % 3,
					       data[4 * i + 2] % 5,
					       data[4 * i + 3],
					       data[4 * i + 2] % 2,
					       models[data[4 * i + 3] % 3]};
	struct learn_topo_summary s;
	learn_topology_summarize(c, n, &s);
	if (s.cpus != n || s.cores > n || s.sockets > s.dies || s.dies > s.clusters ||
	    s.clusters > s.cores || (n && (s.threads_per_core == 0 || s.cores == 0)) ||
	    (s.threads_uniform && s.threads_per_core * s.cores != n))
		abort();
	free(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	uint8_t which = data[0] % 5;
	data++, size--;
	char *s = strndup((const char *)data, size);
	if (!s)
		return 0;
	uint64_t mib;
	cleanup_err loam_err err = NULL;
	switch (which) {
	case 0:
		fuzz_cpulist(s);
		break;
	case 1:
		fuzz_values(s);
		break;
	case 2:
		learn_dmi_memory_device_mib(data, size, &mib, &err);
		break;
	case 3:
		fuzz_round(data, size);
		break;
	case 4:
		fuzz_topology(data, size);
		break;
	}
	free(s);
	return 0;
}
