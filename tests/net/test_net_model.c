/*
 * The network model with the allocator on real databases (SQLite, and
 * PostgreSQL under with_pg.sh): a host's pool is a placement constraint
 * (with a /30 pool the third VM gets "ipv4 pool: 0"), each VM's address is
 * the lowest free slot of its host, recorded once and released exactly
 * once with the VM's place (a second release gives nothing back, and the
 * freed slot is the next one handed out), the over-commit check sees the
 * address counters, and the operator's writes refuse what would move the
 * addresses of VMs in place.
 */
#include <stdlib.h>
#include <string.h>

#include "alloc/alloc.h"
#include "db/net.h"
#include "db/tdb.h"
#include "db/vm.h"
#include "alloc/fleet.h"
#include "t.h"

static int backend;

struct env {
	struct tdb t;
	struct loam_db *db;
	struct loam_allocator *a;
	char host[27];
};

/* One accepting x64 host with a /30 pool. */
static void env_open(struct env *e, const char *tag)
{
	tdb_fresh(&e->t, backend, tag);
	e->db = tdb_open_migrated(&e->t);
	loam_err err = NULL;
	die_on(loam_db_sync_sizes(e->db, &err), &err, "sizes");
	struct thost h = thost_default("h1");
	loam_db_new_id(e->host);
	fleet_add_host(e->db, &h, e->host);
	die_on(loam_host_set_ipv4_pool(e->db, e->host, "10.201.7.0/30", &err), &err, "pool");
	die_on(loam_alloc_new(e->db, &e->a, &err), &err, "alloc");
}

static void env_close(struct env *e)
{
	loam_alloc_free(e->a);
	loam_db_close(e->db);
	tdb_done(&e->t);
}

static int place(struct env *e, const char *vm, loam_err *err)
{
	struct loam_alloc_request req = {.vm_id = vm};
	struct loam_alloc_result res;
	return loam_alloc_place(e->a, e->db, &req, &res, err);
}

static int64_t overcommits(struct loam_db *db)
{
	int64_t n = -1;
	loam_err err = NULL;
	die_on(loam_alloc_count_overcommits(db, &n, &err), &err, "check");
	return n;
}

static int64_t used(struct env *e)
{
	return q_int(e->db, "SELECT ipv4_used FROM host WHERE id = ?", e->host);
}

static void test_pool_exhausts(void)
{
	struct env e;
	env_open(&e, "exhaust");
	loam_err err = NULL;
	CHECK_INT(q_int(e.db, "SELECT ipv4_total FROM host WHERE id = ?", e.host), 2);
	const char *a = fleet_add_vm(e.db, "a", "x64", "standard-2", "hel1");
	const char *b = fleet_add_vm(e.db, "b", "x64", "standard-2", "hel1");
	const char *c = fleet_add_vm(e.db, "c", "x64", "standard-2", "hel1");
	CHECK_INT(place(&e, a, &err), 0);
	CHECK_INT(place(&e, b, &err), 0);
	CHECK_INT(place(&e, c, &err), -1);
	CHECK_INT(loam_err_kind_of(err), LOAM_E_NOCAPACITY);
	CHECK_CONTAINS(loam_err_msg(err), "storage≥20GiB: 1 → ipv4 pool: 0");
	loam_err_free(&err);
	CHECK_INT(used(&e), 2);
	CHECK_INT(overcommits(e.db), 0);
	/* releasing one lets the third in; a second release gives nothing */
	CHECK_INT(loam_alloc_release(e.a, e.db, a, &err), 0);
	CHECK_INT(loam_alloc_release(e.a, e.db, a, &err), 0);
	CHECK_INT(used(&e), 1);
	CHECK_INT(place(&e, c, &err), 0);
	CHECK_INT(used(&e), 2);
	CHECK_INT(overcommits(e.db), 0);
	env_close(&e);
}

static void test_addresses(void)
{
	struct env e;
	env_open(&e, "addr");
	loam_err err = NULL;
	const char *a = fleet_add_vm(e.db, "a", "x64", "standard-2", "hel1");
	const char *b = fleet_add_vm(e.db, "b", "x64", "standard-2", "hel1");
	CHECK_INT(place(&e, a, &err), 0);
	CHECK_INT(place(&e, b, &err), 0);
	struct loam_vm_net na = {0}, nb = {0}, again = {0};
	CHECK_INT(loam_vm_net_assign(e.db, a, e.host, &na, &err), 0);
	CHECK_INT(loam_vm_net_assign(e.db, b, e.host, &nb, &err), 0);
	CHECK_INT(loam_vm_net_assign(e.db, a, e.host, &again, &err), 0); /* the same, once */
	CHECK_STR(na.ipv4, "10.201.7.1");
	CHECK_STR(nb.ipv4, "10.201.7.2");
	CHECK_STR(again.ipv4, na.ipv4);
	CHECK_STR(again.mac, na.mac);
	CHECK_INT(na.slot, 1);
	struct loam_net6 host6;
	CHECK_INT(loam_net_host_prefix(e.host, NULL, &host6, &err), 0);
	char want[LOAM_CIDR_STRLEN];
	struct loam_net6 sub;
	loam_net6_subnet(&host6, 64, 2, &sub);
	loam_net6_format(&sub, want);
	CHECK_STR(nb.ipv6_prefix, want);
	CHECK(strncmp(nb.mac, "02:", 3) == 0);
	CHECK_INT(q_int(e.db, "SELECT count(*) FROM vm_net", NULL), 2);
	/* released with its place, in the same transaction; the slot is reused */
	CHECK_INT(loam_alloc_release(e.a, e.db, a, &err), 0);
	CHECK_INT(q_int(e.db, "SELECT count(*) FROM vm_net WHERE vm_id = ?", a), 0);
	const char *c = fleet_add_vm(e.db, "c", "x64", "standard-2", "hel1");
	struct loam_vm_net nc = {0};
	CHECK_INT(place(&e, c, &err), 0);
	CHECK_INT(loam_vm_net_assign(e.db, c, e.host, &nc, &err), 0);
	CHECK_STR(nc.ipv4, "10.201.7.1");
	CHECK_INT(overcommits(e.db), 0);
	/* rows deleted with the VM */
	CHECK_INT(loam_vm_delete(e.db, c, &err), 0);
	CHECK_INT(q_int(e.db, "SELECT count(*) FROM vm_net WHERE vm_id = ?", c), 0);
	loam_vm_net_free(&na);
	loam_vm_net_free(&nb);
	loam_vm_net_free(&again);
	loam_vm_net_free(&nc);
	env_close(&e);
}

/* The check catches an address counter that drifts from the VMs placed. */
static void test_check_sees_drift(void)
{
	struct env e;
	env_open(&e, "drift");
	loam_err err = NULL;
	const char *a = fleet_add_vm(e.db, "a", "x64", "standard-2", "hel1");
	CHECK_INT(place(&e, a, &err), 0);
	CHECK_INT(overcommits(e.db), 0);
	die_on(loam_db_exec(e.db, "UPDATE host SET ipv4_used = 0", DB_NOARGS, NULL, &err), &err,
	       "drift");
	CHECK_INT(overcommits(e.db), 1);
	env_close(&e);
}

static void test_operator_writes(void)
{
	struct env e;
	env_open(&e, "oper");
	loam_err err = NULL;
	CHECK_INT(loam_host_set_ipv4_pool(e.db, e.host, "10.201.0.0/24", &err), 0);
	CHECK_INT(q_int(e.db, "SELECT ipv4_total FROM host WHERE id = ?", e.host), 254);
	CHECK_INT(loam_host_set_ipv6_prefix(e.db, e.host, "2001:db8:1::/60", &err), 0);
	CHECK_INT(q_int(e.db, "SELECT ipv4_total FROM host WHERE id = ?", e.host), 15);
	CHECK_INT(loam_host_set_ipv6_prefix(e.db, e.host, NULL, &err), 0);
	CHECK_INT(q_int(e.db, "SELECT ipv4_total FROM host WHERE id = ?", e.host), 254);
	CHECK_INT(loam_host_set_ipv4_pool(e.db, e.host, "169.254.0.0/16", &err), -1);
	CHECK_INT(loam_err_kind_of(err), LOAM_E_INVALID);
	loam_err_free(&err);
	CHECK_INT(q_int(e.db, "SELECT ipv4_total FROM host WHERE id = ?", e.host), 254);
	loam_alloc_host_changed(e.a, e.host);
	const char *a = fleet_add_vm(e.db, "a", "x64", "standard-2", "hel1");
	CHECK_INT(place(&e, a, &err), 0);
	CHECK_INT(loam_host_set_ipv4_pool(e.db, e.host, "10.202.0.0/24", &err), -1);
	CHECK_INT(loam_err_kind_of(err), LOAM_E_CONFLICT);
	CHECK_CONTAINS(loam_err_msg(err), "1 VM(s) are placed");
	loam_err_free(&err);
	CHECK_INT(loam_host_set_egress(e.db, e.host, true, &err), 0);
	CHECK_INT(q_int(e.db, "SELECT egress FROM host WHERE id = ?", e.host), 1);
	/* ports: added once, removed once */
	struct loam_vm_port p;
	bool changed = false;
	CHECK_INT(loam_vm_port_parse("80/tcp", NULL, &p, &err), 0);
	CHECK_INT(loam_vm_port_add(e.db, a, &p, &changed, &err), 0);
	CHECK(changed);
	CHECK_INT(loam_vm_port_add(e.db, a, &p, &changed, &err), 0);
	CHECK(!changed);
	CHECK_INT(loam_vm_port_rm(e.db, a, &p, &changed, &err), 0);
	CHECK(changed);
	CHECK_INT(loam_vm_port_rm(e.db, a, &p, &changed, &err), 0);
	CHECK(!changed);
	env_close(&e);
}

int main(void)
{
	for (backend = tdb_first_backend(); backend < tdb_backends(); backend++) {
		printf("backend %s\n", tdb_backend_name(backend));
		RUN(test_pool_exhausts);
		RUN(test_addresses);
		RUN(test_check_sees_drift);
		RUN(test_operator_writes);
	}
	if (tdb_backends() < 2)
		printf("note: LOAM_TEST_PG_URL unset, PostgreSQL cases skipped\n");
	return t_summary();
}
