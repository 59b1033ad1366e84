/*
 * Property test against the seed's allocator (baseline.c) on thousands of
 * random small fleets and request streams. Each fleet is loaded into three
 * databases and the stream is run on each:
 *   A: loam, default (least-loaded) order
 *   B: loam with loam_alloc_set_order(BASELINE_ORDER)
 *   C: the baseline SQL allocator
 * B and C must make identical choices, failure for failure. Every choice
 * of A must satisfy the baseline's constraints (arch, location, accepting,
 * capacity: the over-commit check stays 0), and whenever A finds no host
 * the baseline must find none in A's state either.
 * Fleets: $LOAM_ORACLE_FLEETS (default 1500 on SQLite, 150 on PostgreSQL).
 */
#include <stdlib.h>
#include <string.h>

#include "alloc/alloc.h"
#include "arch/arch.h"
#include "db/tdb.h"
#include "fleet.h"
#include "t.h"

static int backend;
static uint64_t seed = 12345;

static unsigned rnd(unsigned n)
{
	seed ^= seed << 13;
	seed ^= seed >> 7;
	seed ^= seed << 17;
	return (unsigned)(seed % n);
}

static const char *const locs[] = {"hel1", "fsn1"};
static const char *const arches[] = {"x64", "arm64"};

struct fleet {
	int nh, nv;
	struct thost hosts[8];
	char host_ids[8][27], names[8][8];
	char vm_ids[12][27];
	const char *vm_arch[12], *vm_loc[12];
	const struct loam_size *vm_size[12];
};

static void random_fleet(struct fleet *f)
{
	f->nh = 1 + (int)rnd(8);
	f->nv = 1 + (int)rnd(12);
	for (int i = 0; i < f->nh; i++) {
		struct thost *h = &f->hosts[i];
		snprintf(f->names[i], sizeof(f->names[i]), "h%d", i);
		*h = thost_default(f->names[i]);
		h->location = locs[rnd(2)];
		h->arch = arches[rnd(2)];
		h->state = rnd(100) < 85 ? "accepting" : "draining";
		h->tpc = h->arch[0] == 'x' ? 1 + (int)rnd(2) : 1;
		h->cores = 1 + (int)rnd(16);
		h->mem = 4 + (int)rnd(125);
		h->huge = rnd(2) ? (int)rnd((unsigned)h->mem + 1) : 0;
		h->storage = 20 + (int)rnd(800);
		h->overcommit = rnd(4) ? 1.0 : 1.5;
		loam_db_new_id(f->host_ids[i]);
	}
	for (int i = 0; i < f->nv; i++) {
		f->vm_arch[i] = arches[rnd(2)];
		f->vm_loc[i] = locs[rnd(2)];
		f->vm_size[i] = &loam_arch_by_name(f->vm_arch[i])->sizes[rnd(4)];
		loam_db_new_id(f->vm_ids[i]);
	}
}

static void load(struct loam_db *db, const struct fleet *f)
{
	loam_err err = NULL;
	die_on(loam_db_script(db, "DELETE FROM vm; DELETE FROM host_emulation; DELETE FROM host",
			      &err),
	       &err, "reset");
	for (int i = 0; i < f->nh; i++)
		fleet_add_host(db, &f->hosts[i], f->host_ids[i]);
	for (int i = 0; i < f->nv; i++) {
		char name[8];
		snprintf(name, sizeof(name), "v%d", i);
		const struct loam_size *s = f->vm_size[i];
		die_on(loam_db_exec(
			   db,
			   "INSERT INTO vm (id, name, arch, size, vcpus, memory_gib, "
			   "storage_gib, location, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0)",
			   DB_ARGS(DB_TEXT(f->vm_ids[i]), DB_TEXT(name), DB_TEXT(f->vm_arch[i]),
				   DB_TEXT(s->name), DB_INT(s->vcpus), DB_INT(s->memory_gib),
				   DB_INT(loam_size_storage_gib(s)), DB_TEXT(f->vm_loc[i])),
			   NULL, &err),
		       &err, "vm");
	}
}

static int64_t overcommits(struct loam_db *db)
{
	int64_t n = -1;
	loam_err err = NULL;
	die_on(loam_alloc_count_overcommits(db, &n, &err), &err, "check");
	return n;
}

/* The chosen host has the VM's arch (no emulation here), location and is
 * accepting. */
static bool choice_valid(struct loam_db *db, const char *vm_id)
{
	return q_int(db,
		     "SELECT count(*) FROM vm v JOIN host h ON h.id = v.host_id WHERE v.id = ? "
		     "AND h.arch = v.arch AND h.location = v.location "
		     "AND h.allocation_state = 'accepting'",
		     vm_id) == 1;
}

static int mismatches;

static void run_fleet(struct loam_db *dbs[3], const struct fleet *f)
{
	struct loam_allocator *a = NULL, *b = NULL;
	loam_err err = NULL;
	for (int k = 0; k < 3; k++)
		load(dbs[k], f);
	die_on(loam_alloc_new(dbs[0], &a, &err), &err, "alloc a");
	die_on(loam_alloc_new(dbs[1], &b, &err), &err, "alloc b");
	loam_alloc_set_order(b, LOAM_ALLOC_BASELINE_ORDER);
	for (int i = 0; i < f->nv; i++) {
		struct loam_alloc_request req = {.vm_id = f->vm_ids[i]};
		struct loam_alloc_result ra, rb, rc;
		loam_err ea = NULL, eb = NULL, ec = NULL;
		int xa = loam_alloc_place(a, dbs[0], &req, &ra, &ea);
		int xb = loam_alloc_place(b, dbs[1], &req, &rb, &eb);
		int xc = loam_alloc_baseline_place(dbs[2], req.vm_id, &rc, &ec);
		bool same = xb == xc && (xb < 0 || strcmp(rb.host_name, rc.host_name) == 0);
		if (!same && mismatches++ < 5)
			fprintf(stderr,
				"fleet seed %llu vm %d: baseline-order loam %s, baseline %s\n",
				(unsigned long long)seed, i, xb ? loam_err_msg(eb) : rb.host_name,
				xc ? loam_err_msg(ec) : rc.host_name);
		CHECK(same);
		CHECK(xb == 0 || loam_err_kind_of(eb) == LOAM_E_NOCAPACITY);
		if (xa == 0) {
			CHECK(choice_valid(dbs[0], req.vm_id));
		} else {
			CHECK_INT(loam_err_kind_of(ea), LOAM_E_NOCAPACITY);
			/* The baseline, asked in A's state, must not find room either. */
			struct loam_alloc_result rx;
			loam_err ex = NULL;
			CHECK(loam_alloc_baseline_place(dbs[0], req.vm_id, &rx, &ex) < 0);
			loam_err_free(&ex);
		}
		loam_err_free(&ea);
		loam_err_free(&eb);
		loam_err_free(&ec);
	}
	for (int k = 0; k < 3; k++)
		CHECK_INT(overcommits(dbs[k]), 0);
	loam_alloc_free(a);
	loam_alloc_free(b);
}

static void test_oracle(void)
{
	const char *env = getenv("LOAM_ORACLE_FLEETS");
	int fleets = env ? atoi(env) : backend == 0 ? 1500 : 150;
	struct tdb t[3];
	struct loam_db *dbs[3];
	const char *tags[] = {"oa", "ob", "oc"};
	for (int k = 0; k < 3; k++) {
		tdb_fresh(&t[k], backend, tags[k]);
		dbs[k] = tdb_open_migrated(&t[k]);
		loam_err err = NULL;
		die_on(loam_db_sync_sizes(dbs[k], &err), &err, "sizes");
	}
	int placed_before = 0;
	for (int n = 0; n < fleets; n++) {
		struct fleet f;
		random_fleet(&f);
		run_fleet(dbs, &f);
		placed_before +=
		    (int)q_int(dbs[2], "SELECT count(*) FROM vm WHERE host_id IS NOT NULL", NULL);
	}
	printf("%d fleets, %d baseline placements\n", fleets, placed_before);
	CHECK(placed_before > fleets); /* the fleets are not all hopeless */
	for (int k = 0; k < 3; k++) {
		loam_db_close(dbs[k]);
		tdb_done(&t[k]);
	}
}

int main(void)
{
	for (backend = tdb_first_backend(); backend < tdb_backends(); backend++) {
		printf("backend %s\n", tdb_backend_name(backend));
		RUN(test_oracle);
	}
	return t_summary();
}
