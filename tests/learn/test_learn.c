/*
 * Host fact learning: every fixture tree under tests/fixtures/learn/ gives
 * its known numbers exactly, and each parser handles the edge cases that
 * real /proc and /sys copies contain (gaps, repeats, loops, odd units).
 */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host/learn.h"
#include "lib/cleanup.h"
#include "lib/json.h"
#include "t.h"

static char tmpdir[] = "/tmp/loam-test-learn-XXXXXX";

static long long get_int(const json_t *facts, const char *key)
{
	const json_t *v = json_object_get(facts, key);
	if (!json_is_integer(v)) {
		fprintf(stderr, "%s: key '%s' is not an integer\n", t_current, key);
		return -999;
	}
	return json_integer_value(v);
}

static const char *get_str(const json_t *facts, const char *key)
{
	return json_string_value(json_object_get(facts, key));
}

static bool get_bool(const json_t *facts, const char *key)
{
	return json_is_true(json_object_get(facts, key));
}

static json_t *learn_fixture(const char *name)
{
	char dir[256], storage[256];
	snprintf(dir, sizeof(dir), "tests/fixtures/learn/%s", name);
	snprintf(storage, sizeof(storage), "%s/%s/storage", tmpdir, name);
	struct learn_root root;
	cleanup_err loam_err err = NULL;
	json_t *facts = NULL;
	if (learn_root_open(&root, dir, &err) < 0 || learn_facts(&root, storage, &facts, &err) < 0)
		fprintf(stderr, "%s: learn %s: %s\n", t_current, name, loam_err_msg(err));
	if (root.dir)
		learn_root_close(&root);
	struct stat st;
	CHECK(stat(storage, &st) == 0 && S_ISDIR(st.st_mode)); /* created when missing */
	return facts;
}

static bool is_symlink(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0 && S_ISLNK(st.st_mode);
}

static void test_x64_two_sockets_smt(void)
{
	cleanup_json json_t *f = learn_fixture("x64-2s-smt");
	CHECK(f != NULL);
	CHECK_STR(get_str(f, "arch"), "x64");
	CHECK_STR(get_str(f, "uname_machine"), "x86_64");
	CHECK_INT(get_int(f, "cpus"), 64);
	CHECK_INT(get_int(f, "cores"), 32);
	CHECK_INT(get_int(f, "sockets"), 2);
	CHECK_INT(get_int(f, "dies"), 2);
	CHECK_INT(get_int(f, "threads_per_core"), 2);
	CHECK(get_bool(f, "threads_per_core_uniform"));
	CHECK(!get_bool(f, "heterogeneous"));
	CHECK_INT(get_int(f, "numa_nodes"), 2);
	CHECK_INT(get_int(f, "memory_gib"), 512);
	CHECK_STR(get_str(f, "memory_source"), "dmi");
	CHECK_INT(get_int(f, "hugepages_1g_total"), 400);
	CHECK_INT(get_int(f, "hugepages_1g_free"), 380);
	CHECK_STR(get_str(f, "cpu_model"), "Intel(R) Xeon(R) Gold 6346 CPU @ 3.10GHz");
	CHECK_STR(get_str(f, "os"), "Ubuntu 22.04.3 LTS");
	CHECK_STR(get_str(f, "kernel"), "5.15.0-91-generic");
	CHECK_STR(get_str(f, "kvm_module"), "kvm_intel");
	CHECK(json_is_false(json_object_get(f, "kvm")));
	CHECK_CONTAINS(get_str(f, "kvm_reason"), "/dev/kvm is missing");
	CHECK(get_int(f, "storage_total_gib") >= 0);
	CHECK(json_is_object(json_object_get(f, "sources")));
	CHECK(is_symlink("tests/fixtures/learn/x64-2s-smt/sys/devices/system/node/node9"));
	CHECK(is_symlink("tests/fixtures/learn/x64-2s-smt/sys/firmware/dmi/entries/17-99"));
}

static void test_arm64_ampere(void)
{
	cleanup_json json_t *f = learn_fixture("arm64-ampere");
	CHECK(f != NULL);
	CHECK_STR(get_str(f, "arch"), "arm64"); /* from cpuinfo: no kernel/arch file */
	CHECK_STR(get_str(f, "uname_machine"), "aarch64");
	CHECK_INT(get_int(f, "cpus"), 80);
	CHECK_INT(get_int(f, "cores"), 80);
	CHECK_INT(get_int(f, "sockets"), 1);
	CHECK_INT(get_int(f, "dies"), 1);
	CHECK_INT(get_int(f, "threads_per_core"), 1);
	CHECK(get_bool(f, "threads_per_core_uniform"));
	CHECK_INT(get_int(f, "numa_nodes"), 1);
	CHECK_INT(get_int(f, "memory_gib"), 256);
	CHECK_STR(get_str(f, "memory_source"), "memory-blocks");
	CHECK_INT(get_int(f, "hugepages_1g_total"), 200);
	CHECK_INT(get_int(f, "hugepages_1g_free"), 196);
	CHECK_STR(get_str(f, "cpu_model"), "ARM Neoverse-N1");
	CHECK_STR(get_str(f, "os"), "Debian GNU/Linux 12 (bookworm)");
	CHECK_STR(get_str(f, "kernel"), "6.1.0-13-arm64");
	CHECK_STR(get_str(f, "kvm_module"), "kvm");
	CHECK(json_is_false(json_object_get(f, "kvm")));
	CHECK(is_symlink("tests/fixtures/learn/arm64-ampere/sys/devices/system/memory/memory999"));
}

static void test_arm64_big_little(void)
{
	cleanup_json json_t *f = learn_fixture("arm64-biglittle");
	CHECK(f != NULL);
	CHECK_STR(get_str(f, "arch"), "arm64");
	CHECK_INT(get_int(f, "cpus"), 8);
	CHECK_INT(get_int(f, "cores"), 8); /* core_id repeats across clusters */
	CHECK_INT(get_int(f, "clusters"), 3);
	CHECK_INT(get_int(f, "sockets"), 1);
	CHECK_INT(get_int(f, "dies"), 1);
	CHECK_INT(get_int(f, "threads_per_core"), 1);
	CHECK(get_bool(f, "heterogeneous"));
	CHECK_INT(get_int(f, "numa_nodes"), 1);
	CHECK_INT(get_int(f, "memory_gib"), 12);
	CHECK_STR(get_str(f, "memory_source"), "meminfo");
	CHECK_INT(get_int(f, "hugepages_1g_total"), 0);
	CHECK_STR(get_str(f, "cpu_model"), "ARM Cortex-A510");
	CHECK_STR(get_str(f, "os"), "postmarketOS v24.06");
	const json_t *types = json_object_get(f, "core_types");
	CHECK_INT(json_array_size(types), 3);
	const char *want_models[] = {"ARM Cortex-A510", "ARM Cortex-A710", "ARM Cortex-X2"};
	const long want_cpus[] = {4, 3, 1}, want_capacity[] = {325, 800, 1024};
	for (size_t i = 0; i < 3 && i < json_array_size(types); i++) {
		const json_t *t = json_array_get(types, i);
		CHECK_STR(get_str(t, "model"), want_models[i]);
		CHECK_INT(get_int(t, "cpus"), want_cpus[i]);
		CHECK_INT(get_int(t, "capacity"), want_capacity[i]);
	}
	CHECK(is_symlink("tests/fixtures/learn/arm64-biglittle/sys/devices/system/cpu/cpu7/"
			 "topology/die_id"));
}

static void test_vm_gaps(void)
{
	cleanup_json json_t *f = learn_fixture("vm-gaps");
	CHECK(f != NULL);
	CHECK_STR(get_str(f, "arch"), "x64");
	CHECK_INT(get_int(f, "cpus"), 6); /* 16 possible, 8 present, 2 offline */
	CHECK_INT(get_int(f, "cores"), 6);
	CHECK_INT(get_int(f, "sockets"), 1);
	CHECK_INT(get_int(f, "dies"), 2);
	CHECK_INT(get_int(f, "threads_per_core"), 1);
	CHECK_INT(get_int(f, "numa_nodes"), 2); /* node0 and node2 */
	CHECK_INT(get_int(f, "memory_gib"), 16);
	CHECK_STR(get_str(f, "memory_source"), "meminfo");
	CHECK_INT(get_int(f, "hugepages_1g_total"), 0);
	CHECK_INT(get_int(f, "hugepages_1g_free"), 0);
	CHECK_STR(get_str(f, "cpu_model"), "QEMU Virtual CPU version 2.5+");
	CHECK_STR(get_str(f, "kvm_module"), "");
	CHECK(is_symlink("tests/fixtures/learn/vm-gaps/sys/devices/system/node/node5"));
}

static void test_missing_root(void)
{
	struct learn_root root;
	cleanup_err loam_err err = NULL;
	CHECK(learn_root_open(&root, "tests/fixtures/learn/no-such-machine", &err) < 0);
	CHECK_CONTAINS(loam_err_msg(err), "no-such-machine");
}

static void test_cpulist(void)
{
	struct learn_cpuset s;
	cleanup_err loam_err err = NULL;
	CHECK(learn_cpulist_parse("0-3,8,10-11\n", &s, &err) == 0);
	CHECK_INT(learn_cpuset_count(&s), 7);
	CHECK(learn_cpuset_has(&s, 8) && !learn_cpuset_has(&s, 9) && learn_cpuset_has(&s, 11));
	CHECK(learn_cpulist_parse("", &s, &err) == 0 && learn_cpuset_count(&s) == 0);
	CHECK(learn_cpulist_parse("\n", &s, &err) == 0 && learn_cpuset_count(&s) == 0);
	CHECK(learn_cpulist_parse("0-8191", &s, &err) == 0 && learn_cpuset_count(&s) == 8192);
	const char *bad[] = {"3-1", "0-",   "-1",  "a",	   "0,,1",
			     "0,",  "8192", "1 2", "0-3x", "99999999999"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		loam_err_free(&err);
		if (learn_cpulist_parse(bad[i], &s, &err) == 0)
			fprintf(stderr, "accepted bad cpu list '%s'\n", bad[i]), t_failed_checks++;
	}
	CHECK_CONTAINS(loam_err_msg(err), "malformed cpu list");
	struct learn_cpuset a, b;
	CHECK(learn_cpulist_parse("0-7", &a, &err) == 0 &&
	      learn_cpulist_parse("2,4-5,9", &b, &err) == 0);
	learn_cpuset_and(&a, &b);
	CHECK_INT(learn_cpuset_count(&a), 3);
}

static void test_parse_long(void)
{
	long v;
	cleanup_err loam_err err = NULL;
	CHECK(learn_parse_long("-1\n", &v, &err) == 0 && v == -1);
	CHECK(learn_parse_long("42", &v, &err) == 0 && v == 42);
	CHECK(learn_parse_long("", &v, &err) < 0);
	CHECK(learn_parse_long("4x", &v, &err) < 0);
	CHECK(learn_parse_long("99999999999999999999999", &v, &err) < 0);
}

static void test_cpuinfo(void)
{
	const char *text = "processor\t: 0\nmodel name\t: Foo CPU  \nflags\t\t: a b\n\n"
			   "processor\t: 1\nCPU part\t: 0xd0c\nno colon line\n\n\n"
			   "Hardware\t: board\n";
	struct learn_cpuinfo ci;
	cleanup_err loam_err err = NULL;
	CHECK(learn_cpuinfo_parse(text, strlen(text), &ci, &err) == 0);
	CHECK_INT(ci.n, 3);
	CHECK_STR(learn_cpuinfo_get(learn_cpuinfo_for_cpu(&ci, 0), "model name"), "Foo CPU");
	CHECK_STR(learn_cpuinfo_get(learn_cpuinfo_for_cpu(&ci, 1), "CPU part"), "0xd0c");
	CHECK_STR(learn_cpuinfo_get(learn_cpuinfo_for_cpu(&ci, 7), "flags"), "a b"); /* first */
	CHECK(learn_cpuinfo_get(&ci.blocks[0], "missing") == NULL);
	learn_cpuinfo_free(&ci);
	CHECK(learn_cpuinfo_parse("", 0, &ci, &err) == 0 && ci.n == 0);
	CHECK(learn_cpuinfo_for_cpu(&ci, 0) == NULL);
	learn_cpuinfo_free(&ci);
}

static void test_arm64_model_decoding(void)
{
	const struct loam_arch *arm = loam_arch_by_name("arm64");
	const char *text = "processor : 0\nCPU implementer : 0x61\nCPU part : 0x022\n";
	struct learn_cpuinfo ci;
	cleanup_err loam_err err = NULL;
	char model[128];
	CHECK(learn_cpuinfo_parse(text, strlen(text), &ci, &err) == 0);
	arm->cpu_model(learn_cpuinfo_get, &ci.blocks[0], model, sizeof(model));
	CHECK_STR(model, "CPU implementer 0x61 part 0x022");
	learn_cpuinfo_free(&ci);
	arm->cpu_model(learn_cpuinfo_get, NULL, model, sizeof(model));
	CHECK_STR(model, "");
}

/* Intel hybrid: 8 P-cores with two threads, 8 E-cores with one. */
static void test_heterogeneous_threads(void)
{
	struct learn_cpu_topo c[24];
	for (unsigned i = 0; i < 24; i++) {
		long core = i < 16 ? i / 2 : 8 + (i - 16);
		c[i] = (struct learn_cpu_topo){i, 0, 0, core, core, -1, i < 16 ? "P" : "E"};
	}
	struct learn_topo_summary s;
	learn_topology_summarize(c, 24, &s);
	CHECK_INT(s.cpus, 24);
	CHECK_INT(s.cores, 16);
	CHECK(!s.threads_uniform);
	CHECK_INT(s.threads_per_core, 2);
	CHECK_INT(s.core_types, 2);
	learn_topology_summarize(c, 0, &s);
	CHECK_INT(s.cores, 0);
}

static void test_meminfo_and_rounding(void)
{
	uint64_t kib;
	cleanup_err loam_err err = NULL;
	const char *mi = "MemTotalX:  1 kB\nMemTotal:       24684084 kB\nMemFree: 3 kB\n";
	CHECK(learn_meminfo_kib(mi, "MemTotal", &kib, &err) == 0 && kib == 24684084);
	CHECK(learn_meminfo_kib("MemTotal: lots\n", "MemTotal", &kib, &err) < 0);
	CHECK(learn_meminfo_kib("MemTotal: -5 kB\n", "MemTotal", &kib, &err) < 0);
	CHECK(learn_meminfo_kib("MemTotal: 5 MB\n", "MemTotal", &kib, &err) < 0);
	CHECK(learn_meminfo_kib("MemFree: 1 kB\n", "MemTotal", &kib, &err) < 0);
	struct {
		uint64_t kib;
		unsigned gib;
	} cases[] = {
	    {24684084, 24},   {262566912, 256},
	    {16393000, 16},   {11744051, 12},
	    {527433728, 512}, {0, 1},
	    {1, 1},	      {395312000, 384},
	    {98800000, 96},   {60 * 1048576ull, 60},
	    {64487424, 64},   {40 * 1048576ull, 40},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		CHECK_INT(learn_round_memtotal_gib(cases[i].kib), cases[i].gib);
}

static void test_dmi_memory_device(void)
{
	unsigned char d[0x28] = {17, 0x28};
	uint64_t mib;
	cleanup_err loam_err err = NULL;
	d[0x0C] = 0x00, d[0x0D] = 0x40; /* 16384 MiB */
	CHECK(learn_dmi_memory_device_mib(d, sizeof(d), &mib, &err) == 0 && mib == 16384);
	d[0x0C] = 0x00, d[0x0D] = 0x80 | 0x10; /* 4096 KiB */
	CHECK(learn_dmi_memory_device_mib(d, sizeof(d), &mib, &err) == 0 && mib == 4);
	d[0x0C] = 0xFF, d[0x0D] = 0x7F, d[0x1C] = 0x00, d[0x1D] = 0x00, d[0x1E] = 0x01;
	CHECK(learn_dmi_memory_device_mib(d, sizeof(d), &mib, &err) == 0 && mib == 65536);
	d[0x0C] = 0xFF, d[0x0D] = 0xFF; /* unknown */
	CHECK(learn_dmi_memory_device_mib(d, sizeof(d), &mib, &err) == 0 && mib == 0);
	d[0x0C] = 0, d[0x0D] = 0; /* empty slot */
	CHECK(learn_dmi_memory_device_mib(d, sizeof(d), &mib, &err) == 0 && mib == 0);
	CHECK(learn_dmi_memory_device_mib(d, 8, &mib, &err) < 0);
	d[0] = 16;
	CHECK(learn_dmi_memory_device_mib(d, sizeof(d), &mib, &err) < 0);
	unsigned char short_ext[0x18] = {17, 0x18, 0, 0};
	short_ext[0x0C] = 0xFF, short_ext[0x0D] = 0x7F;
	CHECK(learn_dmi_memory_device_mib(short_ext, sizeof(short_ext), &mib, &err) < 0);
}

static void test_hex(void)
{
	uint64_t v;
	cleanup_err loam_err err = NULL;
	CHECK(learn_parse_hex_u64("8000000\n", &v, &err) == 0 && v == 0x8000000);
	CHECK(learn_parse_hex_u64("", &v, &err) < 0);
	CHECK(learn_parse_hex_u64("-1", &v, &err) < 0);
	CHECK(learn_parse_hex_u64("12 34", &v, &err) < 0);
}

static void test_os_release(void)
{
	cleanup_err loam_err err = NULL;
	char *s = NULL;
	CHECK(learn_os_release_pretty("NAME=x\nPRETTY_NAME=\"Debian \\\"12\\\"\"\n", &s, &err) ==
	      0);
	CHECK_STR(s, "Debian \"12\"");
	free(s);
	CHECK(learn_os_release_pretty("PRETTY_NAME='Arch Linux'\n", &s, &err) == 0);
	CHECK_STR(s, "Arch Linux");
	free(s);
	CHECK(learn_os_release_pretty("ID=x\nNAME=Bare\n", &s, &err) == 0);
	CHECK_STR(s, "Bare");
	free(s);
	CHECK(learn_os_release_pretty("ID=x\n", &s, &err) < 0);
}

static void test_kvm_rules_with_pvm(void)
{
	const struct loam_arch *x64 = loam_arch_by_name("x64");
	const char *why = NULL;
	struct loam_kvm_probe p = {.dev_kvm_opens = true,
				   .kvm_api_version = 12,
				   .kvm_vm_creates = true,
				   .cpu_flags = "fpu vmx sse2",
				   .kvm_module = "kvm_pvm"};
	CHECK(!x64->kvm_usable(&p, &why)); /* nested vmx does not make PVM hardware */
	CHECK_CONTAINS(why, "kvm_pvm");
	p.kvm_module = "kvm_intel";
	CHECK(x64->kvm_usable(&p, &why));
}

static void test_storage_created(void)
{
	char dir[256];
	snprintf(dir, sizeof(dir), "%s/a/b/c", tmpdir);
	uint64_t total = 0, avail = 0;
	cleanup_err loam_err err = NULL;
	CHECK(learn_storage(dir, &total, &avail, &err) == 0);
	CHECK(total >= avail);
	CHECK(access(dir, F_OK) == 0);
	CHECK(learn_storage("/proc/self/status/x", &total, &avail, &err) < 0);
	CHECK_CONTAINS(loam_err_msg(err), "storage dir");
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

static void remove_tmpdir(void)
{
	nftw(tmpdir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int main(void)
{
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	RUN(test_x64_two_sockets_smt);
	RUN(test_arm64_ampere);
	RUN(test_arm64_big_little);
	RUN(test_vm_gaps);
	RUN(test_missing_root);
	RUN(test_cpulist);
	RUN(test_parse_long);
	RUN(test_cpuinfo);
	RUN(test_arm64_model_decoding);
	RUN(test_heterogeneous_threads);
	RUN(test_meminfo_and_rounding);
	RUN(test_dmi_memory_device);
	RUN(test_hex);
	RUN(test_os_release);
	RUN(test_kvm_rules_with_pvm);
	RUN(test_storage_created);
	remove_tmpdir();
	return t_summary();
}
