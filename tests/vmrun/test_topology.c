/*
 * Guest CPU topology scaling (docs/design.md §2) on the host shapes loam meets:
 * x64 SMT servers, the 80-core arm64 servers, this 2-core development
 * machine, and VM sizes that do not divide evenly.
 */
#include "lib/cleanup.h"
#include "lib/log.h"
#include "lib/topology.h"
#include "t.h"

static const struct loam_host_topology x64_smt = {2, 1, 16, 2};
static const struct loam_host_topology x64_dies = {2, 2, 4, 2};
static const struct loam_host_topology arm64_80 = {1, 1, 80, 1};
static const struct loam_host_topology this_machine = {1, 1, 2, 1};

static struct loam_topology scale(const struct loam_host_topology *h, unsigned vcpus)
{
	cleanup_err loam_err err = NULL;
	struct loam_topology t = {0};
	CHECK_INT(loam_topology_scale(h, vcpus, &t, &err), 0);
	CHECK(loam_topology_valid(&t, vcpus));
	return t;
}

#define CHECK_TOPO(h, vcpus, p, d, c, t)                                                           \
	do {                                                                                       \
		struct loam_topology _t = scale(h, vcpus);                                         \
		CHECK_INT(_t.packages, p);                                                         \
		CHECK_INT(_t.dies, d);                                                             \
		CHECK_INT(_t.cores, c);                                                            \
		CHECK_INT(_t.threads, t);                                                          \
	} while (0)

static void test_x64_smt_host(void)
{
	CHECK_TOPO(&x64_smt, 2, 1, 1, 1, 2);
	CHECK_TOPO(&x64_smt, 4, 1, 1, 2, 2);
	CHECK_TOPO(&x64_smt, 16, 1, 1, 8, 2);
	CHECK_TOPO(&x64_smt, 30, 1, 1, 15, 2);
	CHECK_TOPO(&x64_smt, 32, 1, 1, 16, 2);
	/* 30 cores do not fit one 16-core die: two packages of 15. */
	CHECK_TOPO(&x64_smt, 60, 2, 1, 15, 2);
}

static void test_x64_multi_die_host(void)
{
	CHECK_TOPO(&x64_dies, 8, 1, 1, 4, 2);
	/* 8 cores: two full dies of one package before a second package. */
	CHECK_TOPO(&x64_dies, 16, 1, 2, 4, 2);
	/* 15 cores: 5 dies of 3 cores, which one package of 2 dies cannot hold. */
	CHECK_TOPO(&x64_dies, 30, 5, 1, 3, 2);
}

static void test_arm64_host(void)
{
	CHECK_TOPO(&arm64_80, 2, 1, 1, 2, 1);
	CHECK_TOPO(&arm64_80, 8, 1, 1, 8, 1);
	CHECK_TOPO(&arm64_80, 30, 1, 1, 30, 1);
	CHECK_TOPO(&arm64_80, 60, 1, 1, 60, 1);
}

static void test_this_machine(void)
{
	CHECK_TOPO(&this_machine, 2, 1, 1, 2, 1);
	CHECK_TOPO(&this_machine, 1, 1, 1, 1, 1);
	/* Overcommitted beyond the host: dies stay host-sized and multiply. */
	CHECK_TOPO(&this_machine, 4, 2, 1, 2, 1);
	CHECK_TOPO(&this_machine, 30, 15, 1, 2, 1);
}

static void test_odd_counts_fall_back_on_threads(void)
{
	/* 3 vCPUs cannot be SMT pairs: one thread per core. */
	CHECK_TOPO(&x64_smt, 3, 1, 1, 3, 1);
	CHECK_TOPO(&x64_smt, 1, 1, 1, 1, 1);
	/* A 4-way SMT host keeps the most threads that divide the VM. */
	const struct loam_host_topology smt4 = {1, 1, 8, 4};
	CHECK_TOPO(&smt4, 6, 1, 1, 2, 3);
	CHECK_TOPO(&smt4, 8, 1, 1, 2, 4);
}

static void test_every_count_multiplies_out(void)
{
	const struct loam_host_topology *hosts[] = {&x64_smt, &x64_dies, &arm64_80, &this_machine};
	for (size_t h = 0; h < sizeof(hosts) / sizeof(hosts[0]); h++)
		for (unsigned v = 1; v <= 130; v++) {
			struct loam_topology t = scale(hosts[h], v);
			if (v % hosts[h]->threads_per_core == 0)
				CHECK_INT(t.threads, hosts[h]->threads_per_core);
			/* Never a die or package bigger than the host's. */
			CHECK(t.cores <= hosts[h]->cores_per_die);
			CHECK(t.dies <= hosts[h]->dies_per_socket);
		}
}

static void test_from_learned_totals(void)
{
	cleanup_err loam_err err = NULL;
	struct loam_host_topology h;
	CHECK_INT(loam_host_topology_from_learned(2, 2, 32, 2, &h, &err), 0);
	CHECK_INT(h.sockets, 2);
	CHECK_INT(h.dies_per_socket, 1);
	CHECK_INT(h.cores_per_die, 16);
	CHECK_INT(h.threads_per_core, 2);
	/* arm64 reports no dies: one per socket. */
	CHECK_INT(loam_host_topology_from_learned(1, 0, 80, 1, &h, &err), 0);
	CHECK_INT(h.dies_per_socket, 1);
	CHECK_INT(h.cores_per_die, 80);
	CHECK_INT(loam_host_topology_from_learned(2, 8, 64, 2, &h, &err), 0);
	CHECK_INT(h.dies_per_socket, 4);
	CHECK_INT(h.cores_per_die, 8);
	CHECK_INT(loam_host_topology_from_learned(1, 1, 0, 1, &h, &err), -1);
	CHECK_INT(loam_err_kind_of(err), LOAM_E_INVALID);
}

static void test_bad_input(void)
{
	struct loam_topology t = {0};
	loam_err err = NULL;
	const struct loam_host_topology zero = {1, 0, 4, 2};
	CHECK_INT(loam_topology_scale(&zero, 2, &t, &err), -1);
	CHECK_INT(loam_err_kind_of(err), LOAM_E_INVALID);
	CHECK_CONTAINS(loam_err_msg(err), "zero");
	loam_err_free(&err);
	CHECK_INT(loam_topology_scale(&x64_smt, 0, &t, &err), -1);
	CHECK_CONTAINS(loam_err_msg(err), "out of range");
	loam_err_free(&err);
	const struct loam_topology wrong = {1, 1, 3, 2};
	CHECK(!loam_topology_valid(&wrong, 8));
	const struct loam_topology zero_t = {1, 1, 8, 0};
	CHECK(!loam_topology_valid(&zero_t, 0));
}

int main(void)
{
	/* The thread fall-back warns once per odd count; keep the output short. */
	loam_log_init("test_topology", false, LOAM_LOG_ERROR);
	RUN(test_x64_smt_host);
	RUN(test_x64_multi_die_host);
	RUN(test_arm64_host);
	RUN(test_this_machine);
	RUN(test_odd_counts_fall_back_on_threads);
	RUN(test_every_count_multiplies_out);
	RUN(test_from_learned_totals);
	RUN(test_bad_input);
	return t_summary();
}
