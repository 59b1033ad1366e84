/*
 * Memory facts: installed GiB and 1 GiB hugepages. Installed memory is what
 * the DIMMs add up to (SMBIOS type 17, readable by root), else what the
 * memory block devices span, else MemTotal rounded up, because MemTotal
 * lacks what firmware and the kernel keep and would make a 256 GiB host
 * look like a 250 GiB one. Each source must at least reach MemTotal to be
 * believed, so a bogus table cannot shrink a host.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/learn.h"
#include "lib/cleanup.h"

#define KIB_PER_GIB	       (1024ull * 1024)
#define DMI_TYPE_MEMORY_DEVICE 17

int learn_meminfo_kib(const char *buf, const char *key, uint64_t *kib, loam_err *err)
{
	size_t n = strlen(key);
	for (const char *line = buf; line && *line;
	     line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
		if (strncmp(line, key, n) != 0 || line[n] != ':')
			continue;
		const char *num = line + n + 1 + strspn(line + n + 1, " \t");
		char *end;
		errno = 0;
		unsigned long long v = strtoull(num, &end, 10);
		if (*num < '0' || *num > '9' || errno || strncmp(end, " kB", 3) != 0)
			return loam_fail(err, LOAM_E_INVALID, "meminfo: malformed %s line", key);
		*kib = v;
		return 0;
	}
	return loam_fail(err, LOAM_E_NOTFOUND, "meminfo: no %s line", key);
}

/* The next size memory is sold in: a multiple of the largest power of two
 * no more than an eighth of it (24, 96, 192, 256, 384, 512...). */
unsigned learn_round_memtotal_gib(uint64_t kib)
{
	uint64_t gib = (kib + KIB_PER_GIB - 1) / KIB_PER_GIB;
	if (gib == 0)
		return 1;
	if (gib > UINT32_MAX / 2)
		return UINT32_MAX / 2;
	uint64_t granule = 1;
	while (granule * 2 <= gib / 8)
		granule *= 2;
	uint64_t rounded = (gib + granule - 1) / granule * granule;
	/* Within 10%: firmware and kernel reservations, not missing DIMMs. */
	if (kib * 10 >= rounded * KIB_PER_GIB * 9)
		return (unsigned)rounded;
	return (unsigned)gib;
}

static uint16_t le16(const unsigned char *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* SMBIOS 3.x, 7.18.5: Size at 0x0C (bit 15: KiB units; 0x7FFF: see the
 * Extended Size at 0x1C, in MiB); 0 is an empty slot, 0xFFFF unknown. */
int learn_dmi_memory_device_mib(const unsigned char *raw, size_t len, uint64_t *mib, loam_err *err)
{
	*mib = 0;
	if (len < 4 || raw[0] != DMI_TYPE_MEMORY_DEVICE)
		return loam_fail(err, LOAM_E_INVALID, "not an SMBIOS memory device structure");
	size_t formatted = raw[1];
	if (formatted > len || formatted < 0x0E)
		return loam_fail(err, LOAM_E_INVALID,
				 "SMBIOS memory device of %zu bytes is too short", formatted);
	uint16_t size = le16(raw + 0x0C);
	if (size == 0 || size == 0xFFFF)
		return 0;
	if (size == 0x7FFF) {
		if (formatted < 0x20)
			return loam_fail(err, LOAM_E_INVALID,
					 "SMBIOS memory device points to a missing extended size");
		*mib = le32(raw + 0x1C) & 0x7FFFFFFF;
		return 0;
	}
	*mib = size & 0x8000 ? (uint64_t)(size & 0x7FFF) / 1024 : size;
	return 0;
}

int learn_parse_hex_u64(const char *s, uint64_t *out, loam_err *err)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 16);
	if (end == s || errno || strspn(end, " \n") != strlen(end) || *s == '-' || *s == ' ')
		return loam_fail(err, LOAM_E_INVALID, "not a hex number: '%.32s'", s);
	*out = v;
	return 0;
}

struct dmi_walk {
	const struct learn_root *root;
	uint64_t mib;
	unsigned devices;
};

static int add_dmi_device(const char *name, void *ctx)
{
	struct dmi_walk *w = ctx;
	char rel[128];
	snprintf(rel, sizeof(rel), "sys/firmware/dmi/entries/%s/raw", name);
	cleanup_free char *raw = NULL;
	size_t len = 0;
	uint64_t mib;
	cleanup_err loam_err err = NULL;
	if (learn_read(w->root, rel, 4096, &raw, &len, &err) < 0 ||
	    learn_dmi_memory_device_mib((const unsigned char *)raw, len, &mib, &err) < 0)
		return 0; /* unreadable (not root) or malformed: not counted */
	w->mib += mib;
	w->devices += mib > 0;
	return 0;
}

static uint64_t dmi_gib(const struct learn_root *root)
{
	struct dmi_walk w = {.root = root};
	cleanup_err loam_err err = NULL;
	if (learn_each_dir(root, "sys/firmware/dmi/entries", "17-", false, add_dmi_device, &w,
			   &err) < 0 ||
	    w.devices == 0)
		return 0;
	return (w.mib + 512) / 1024;
}

static int count_dir(const char *name, void *ctx)
{
	(void)name;
	(*(unsigned *)ctx)++;
	return 0;
}

static uint64_t memory_blocks_gib(const struct learn_root *root)
{
	cleanup_free char *buf = NULL;
	cleanup_err loam_err err = NULL;
	uint64_t block = 0;
	unsigned blocks = 0;
	if (learn_read(root, "sys/devices/system/memory/block_size_bytes", 64, &buf, NULL, &err) <
		0 ||
	    learn_parse_hex_u64(buf, &block, &err) < 0 ||
	    learn_each_dir(root, "sys/devices/system/memory", "memory", false, count_dir, &blocks,
			   &err) < 0)
		return 0;
	if (block == 0 || block > (1ull << 40))
		return 0;
	/* Blocks skip the PCI hole and cover the rest: round to nearest. */
	return (blocks * block + (1ull << 29)) >> 30;
}

int learn_memory(const struct learn_root *root, struct learn_memory *out, loam_err *err)
{
	cleanup_free char *meminfo = NULL;
	uint64_t total_kib = 0;
	if (learn_read(root, "proc/meminfo", 0, &meminfo, NULL, err) < 0 ||
	    learn_meminfo_kib(meminfo, "MemTotal", &total_kib, err) < 0)
		return loam_err_wrap(err, "memory");
	uint64_t floor_gib = total_kib / KIB_PER_GIB;
	uint64_t gib;
	if ((gib = dmi_gib(root)) && gib >= floor_gib) {
		*out = (struct learn_memory){gib, "dmi", "/sys/firmware/dmi/entries/17-*/raw"};
	} else if ((gib = memory_blocks_gib(root)) && gib >= floor_gib) {
		*out = (struct learn_memory){gib, "memory-blocks", "/sys/devices/system/memory"};
	} else {
		*out = (struct learn_memory){learn_round_memtotal_gib(total_kib), "meminfo",
					     "/proc/meminfo MemTotal, rounded up"};
	}
	return 0;
}

static long read_count(const struct learn_root *root, const char *rel)
{
	cleanup_free char *buf = NULL;
	cleanup_err loam_err err = NULL;
	long v;
	if (learn_read(root, rel, 64, &buf, NULL, &err) < 0 ||
	    learn_parse_long(buf, &v, &err) < 0 || v < 0)
		return 0;
	return v;
}

void learn_hugepages_1g(const struct learn_root *root, long *total, long *avail)
{
	*total = read_count(root, "sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages");
	*avail = read_count(root, "sys/kernel/mm/hugepages/hugepages-1048576kB/free_hugepages");
}
