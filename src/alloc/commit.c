/*
 * The SQL of placing: reading the VMs to place, and committing a group of
 * placements (one VM or many) in one write transaction of two statements.
 *
 * The first is a guarded UPDATE ... FROM (VALUES ...) over the group's
 * hosts, each with the sum of what its VMs take: it re-checks state and
 * capacity against the row itself, bumps `generation` and RETURNs the new
 * counters. The guard is what makes over-commit impossible with any number
 * of allocators in any number of processes: SQLite runs one writer at a
 * time, PostgreSQL re-evaluates the WHERE on the locked row (and the
 * transaction is SERIALIZABLE). A host whose guard matched no row was
 * stale in the index; its VMs come back STALE and are placed again after
 * a re-read. The second sets host_id, cores, hugepages, allocated_at and
 * state='allocated' on the VMs WHERE host_id IS NULL; a VM found placed
 * already (ALREADY) gives its take back in the same transaction.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc/internal.h"
#include "lib/cleanup.h"
#include "lib/xalloc.h"

/* VALUES columns are column1.. on both SQLite and PostgreSQL; the casts
 * give PostgreSQL the parameter types. */
#define INT_P "CAST(? AS BIGINT)"

static void want_from_row(struct item *it, const struct loam_db_rows *r, size_t row,
			  loam_err *vm_err)
{
	struct want *w = &it->w;
	snprintf(w->id, sizeof(w->id), "%s", it->req->vm_id);
	w->arch = alloc_arch_index(loam_db_rows_text(r, row, 1));
	snprintf(w->location, sizeof(w->location), "%s", loam_db_rows_text(r, row, 2));
	w->vcpus = loam_db_rows_int(r, row, 3);
	w->mem = loam_db_rows_int(r, row, 4);
	w->storage = loam_db_rows_int(r, row, 5);
	w->has_image = !loam_db_rows_null(r, row, 6);
	snprintf(w->boot_image, sizeof(w->boot_image), "%s", loam_db_rows_text(r, row, 6));
	snprintf(it->placed_on, sizeof(it->placed_on), "%s", loam_db_rows_text(r, row, 7));
	if (w->arch < 0)
		loam_fail(vm_err, LOAM_E_INTERNAL, "VM %s has unknown arch", it->req->vm_id);
}

int alloc_load_wants(struct loam_db *db, struct item *items, size_t n, loam_err *errs,
		     loam_err *err)
{
	size_t len = 200 + 2 * n;
	cleanup_free char *sql = xmalloc(len);
	cleanup_free struct loam_db_val *args = xcalloc(n, sizeof(*args));
	size_t o = (size_t)snprintf(sql, len,
				    "SELECT id, arch, location, vcpus, memory_gib, storage_gib, "
				    "boot_image, host_id FROM vm WHERE id IN (");
	for (size_t i = 0; i < n; i++) {
		sql[o++] = i ? ',' : ' ';
		sql[o++] = '?';
		args[i] = DB_TEXT(items[i].req->vm_id);
	}
	snprintf(sql + o, len - o, ")");
	cleanup_rows struct loam_db_rows *r = NULL;
	if (loam_db_query(db, sql, args, n, &r, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		size_t row = 0;
		while (row < loam_db_rows_count(r) &&
		       strcmp(loam_db_rows_text(r, row, 0), items[i].req->vm_id) != 0)
			row++;
		items[i].w.arch = -1;
		if (row == loam_db_rows_count(r))
			loam_fail(&errs[i], LOAM_E_NOTFOUND, "no VM with id '%.40s'",
				  items[i].req->vm_id);
		else
			want_from_row(&items[i], r, row, &errs[i]);
	}
	return 0;
}

int alloc_existing_result(struct loam_db *db, const char *vm_id, struct loam_alloc_result *res,
			  loam_err *err)
{
	cleanup_rows struct loam_db_rows *r = NULL;
	if (loam_db_query(db,
			  "SELECT h.id, h.name, v.cores, v.hugepages FROM vm v JOIN host h ON "
			  "h.id = v.host_id WHERE v.id = ?",
			  DB_ARGS(DB_TEXT(vm_id)), &r, err) < 0)
		return -1;
	if (loam_db_rows_count(r) == 0)
		return loam_fail(err, LOAM_E_CONFLICT, "VM %s was released while being placed",
				 vm_id);
	snprintf(res->host_id, sizeof(res->host_id), "%s", loam_db_rows_text(r, 0, 0));
	snprintf(res->host_name, sizeof(res->host_name), "%s", loam_db_rows_text(r, 0, 1));
	res->cores = (unsigned)loam_db_rows_int(r, 0, 2);
	res->hugepages = loam_db_rows_int(r, 0, 3) != 0;
	return 0;
}

/* used_cores, used_memory_gib, used_hugepages_1g, available_storage_gib,
 * generation, ipv4_used from column col on. */
static void committed_from_row(struct committed *c, const struct loam_db_rows *r, size_t row,
			       size_t col)
{
	c->used = (struct counters){.cores = loam_db_rows_int(r, row, col),
				    .mem = loam_db_rows_int(r, row, col + 1),
				    .huge = loam_db_rows_int(r, row, col + 2),
				    .addrs = loam_db_rows_int(r, row, col + 5)};
	c->avail_storage = loam_db_rows_int(r, row, col + 3);
	c->generation = loam_db_rows_int(r, row, col + 4);
}

int alloc_give_back(struct loam_db *db, const char *host_id, const struct counters *give,
		    struct committed *after, loam_err *err)
{
	cleanup_rows struct loam_db_rows *r = NULL;
	if (loam_db_query(db,
			  "UPDATE host SET used_cores = used_cores - ?, "
			  "used_memory_gib = used_memory_gib - ?, "
			  "used_hugepages_1g = used_hugepages_1g - ?, "
			  "available_storage_gib = available_storage_gib + ?, "
			  "ipv4_used = ipv4_used - ?, "
			  "generation = generation + 1 WHERE id = ? "
			  "RETURNING used_cores, used_memory_gib, used_hugepages_1g, "
			  "available_storage_gib, generation, ipv4_used",
			  DB_ARGS(DB_INT(give->cores), DB_INT(give->mem), DB_INT(give->huge),
				  DB_INT(give->storage), DB_INT(give->addrs), DB_TEXT(host_id)),
			  &r, err) < 0)
		return -1;
	*after = (struct committed){0};
	if (loam_db_rows_count(r) == 1)
		committed_from_row(after, r, 0, 0);
	return 0;
}

/* One row per host of the group with the sum of what its VMs take. */
struct host_take {
	const struct ahost *h;
	struct counters take;
	bool passed;
	struct committed after; /* the RETURNING values */
};

struct group {
	struct item *items;
	size_t n;
	struct host_take *t;
	size_t nt;
};

static void host_takes(struct group *g)
{
	g->nt = 0;
	for (size_t i = 0; i < g->n; i++) {
		const struct item *it = &g->items[i];
		if (!it->h)
			continue;
		size_t k = 0;
		while (k < g->nt && g->t[k].h != it->h)
			k++;
		if (k == g->nt)
			g->t[g->nt++] = (struct host_take){.h = it->h};
		add_counters(&g->t[k].take, &it->take, 1);
	}
}

static struct host_take *take_of(const struct group *g, const struct ahost *h)
{
	for (size_t k = 0; k < g->nt; k++)
		if (g->t[k].h == h)
			return &g->t[k];
	return NULL;
}

static char *values_sql(const char *head, const char *row, size_t n, const char *tail)
{
	size_t len = strlen(head) + n * (strlen(row) + 1) + strlen(tail) + 1;
	char *sql = xmalloc(len);
	size_t o = (size_t)snprintf(sql, len, "%s", head);
	for (size_t i = 0; i < n; i++)
		o += (size_t)snprintf(sql + o, len - o, "%s%s", i ? "," : "", row);
	snprintf(sql + o, len - o, "%s", tail);
	return sql;
}

/*
 * A host's take and the guard that re-checks it on the row, written once
 * for one host (parameters, the cheaper plan) and for a group (the columns
 * of the VALUES row d). The memory guard compares what the host gives
 * (hugepages or plain) with the memory asked.
 */
#define TAKE(c, m, h, s, a)                                                                        \
	"UPDATE host SET used_cores = used_cores + " c ", used_memory_gib = used_memory_gib + " m  \
	", used_hugepages_1g = used_hugepages_1g + " h                                             \
	", available_storage_gib = available_storage_gib - " s ", ipv4_used = ipv4_used + " a      \
	", generation = generation + 1 "
#define GUARD(c, m, s, a)                                                                          \
	" AND allocation_state = 'accepting' AND accel <> 'none' "                                 \
	"AND used_cores + " c " <= total_cores * cpu_overcommit "                                  \
	"AND (CASE WHEN total_hugepages_1g > 0 THEN total_hugepages_1g - used_hugepages_1g "       \
	"ELSE total_mem_gib - used_memory_gib END) >= " m " AND available_storage_gib >= " s       \
	" AND ipv4_used + " a " <= ipv4_total"                                                     \
	" RETURNING host.id, used_cores, used_memory_gib, used_hugepages_1g, "                     \
	"available_storage_gib, generation, ipv4_used"

static const char take_one_sql[] =
    TAKE("?", "?", "?", "?", "?") "WHERE id = ?" GUARD("?", "?", "?", "?");

static char *take_group_sql(size_t n)
{
	return values_sql(
	    TAKE("d.column2", "d.column3", "d.column4", "d.column5", "d.column6") "FROM (VALUES ",
	    "(?, " INT_P ", " INT_P ", " INT_P ", " INT_P ", " INT_P ")", n,
	    ") AS d WHERE host.id = d.column1" GUARD("d.column2", "d.column3", "d.column5",
						     "d.column6"));
}

/* The guarded update for every host of the group in one statement. */
static int take_from_hosts(struct loam_db *db, struct group *g, loam_err *err)
{
	bool one = g->nt == 1;
	size_t per = one ? 10 : 6;
	cleanup_free char *group_sql = one ? NULL : take_group_sql(g->nt);
	cleanup_free struct loam_db_val *args = xcalloc(g->nt * per, sizeof(*args));
	for (size_t i = 0; i < g->nt; i++) {
		const struct counters *t = &g->t[i].take;
		struct loam_db_val *v = args + per * i;
		if (one)
			memcpy(v,
			       (struct loam_db_val[]){DB_INT(t->cores), DB_INT(t->mem),
						      DB_INT(t->huge), DB_INT(t->storage),
						      DB_INT(t->addrs), DB_TEXT(g->t[i].h->id),
						      DB_INT(t->cores), DB_INT(t->mem),
						      DB_INT(t->storage), DB_INT(t->addrs)},
			       10 * sizeof(*v));
		else
			memcpy(v,
			       (struct loam_db_val[]){DB_TEXT(g->t[i].h->id), DB_INT(t->cores),
						      DB_INT(t->mem), DB_INT(t->huge),
						      DB_INT(t->storage), DB_INT(t->addrs)},
			       6 * sizeof(*v));
	}
	cleanup_rows struct loam_db_rows *r = NULL;
	if (loam_db_query(db, one ? take_one_sql : group_sql, args, g->nt * per, &r, err) < 0)
		return -1;
	for (size_t row = 0; row < loam_db_rows_count(r); row++)
		for (size_t i = 0; i < g->nt; i++)
			if (strcmp(g->t[i].h->id, loam_db_rows_text(r, row, 0)) == 0) {
				g->t[i].passed = true;
				committed_from_row(&g->t[i].after, r, row, 1);
			}
	return 0;
}

#define SET_VM(hid, c, hp)                                                                         \
	"UPDATE vm SET host_id = " hid ", cores = " c ", hugepages = " hp                          \
	", allocated_at = ?, state = 'allocated' "

static const char set_one_sql[] =
    SET_VM("?", "?", "?") "WHERE id = ? AND host_id IS NULL RETURNING vm.id";

/* The VM update's arguments: one VM's in the order of set_one_sql, a
 * group's as allocated_at and then a VALUES row per VM. */
static size_t set_args(struct group *g, struct loam_db_val *args)
{
	size_t n = 0;
	args[0] = DB_INT(loam_db_now_ms());
	for (size_t i = 0; i < g->n; i++) {
		struct item *it = &g->items[i];
		if (!it->h)
			continue;
		bool passed = take_of(g, it->h)->passed;
		it->outcome = passed ? ALREADY : STALE; /* ALREADY until the row is set */
		if (!passed)
			continue;
		struct loam_db_val *v = args + 1 + 4 * n++;
		v[0] = DB_TEXT(it->req->vm_id);
		v[1] = DB_TEXT(it->h->id);
		v[2] = DB_INT(it->take.cores);
		v[3] = DB_INT(it->hugepages);
	}
	if (n == 1) /* host_id, cores, hugepages, allocated_at, id */
		memcpy(args, (struct loam_db_val[]){args[2], args[3], args[4], args[0], args[1]},
		       5 * sizeof(*args));
	return n;
}

/* Sets host_id on every VM whose host passed (PLACED); the others are
 * STALE (their host did not pass) or ALREADY (the VM had a host). */
static int set_vms(struct loam_db *db, struct group *g, loam_err *err)
{
	cleanup_free struct loam_db_val *args = xcalloc(g->n * 4 + 1, sizeof(*args));
	size_t n = set_args(g, args);
	if (n == 0)
		return 0;
	cleanup_free char *group_sql =
	    n == 1 ? NULL
		   : values_sql(SET_VM("d.column2", "d.column3", "d.column4") "FROM (VALUES ",
				"(?, ?, " INT_P ", " INT_P ")", n,
				") AS d WHERE vm.id = d.column1 AND vm.host_id IS NULL "
				"RETURNING vm.id");
	cleanup_rows struct loam_db_rows *r = NULL;
	if (loam_db_query(db, n == 1 ? set_one_sql : group_sql, args, 4 * n + 1, &r, err) < 0)
		return -1;
	for (size_t row = 0; row < loam_db_rows_count(r); row++)
		for (size_t i = 0; i < g->n; i++)
			if (g->items[i].h &&
			    strcmp(g->items[i].req->vm_id, loam_db_rows_text(r, row, 0)) == 0)
				g->items[i].outcome = PLACED;
	return 0;
}

static int commit_fn(struct loam_db *db, void *ctx, loam_err *err)
{
	struct group *g = ctx;
	host_takes(g);
	for (size_t i = 0; i < g->n; i++)
		g->items[i].committed = false, g->items[i].outcome = FAILED;
	if (g->nt == 0)
		return 0;
	if (take_from_hosts(db, g, err) < 0 || set_vms(db, g, err) < 0)
		return -1;
	for (size_t i = 0; i < g->n; i++) {
		struct item *it = &g->items[i];
		if (!it->h || it->outcome == STALE)
			continue;
		/* the newest counters of the host: after the give-back, if any */
		if (it->outcome == ALREADY) {
			if (alloc_give_back(db, it->h->id, &it->take, &it->after, err) < 0)
				return -1;
		} else {
			it->after = take_of(g, it->h)->after;
		}
		it->committed = true;
	}
	return 0;
}

int alloc_commit(struct loam_allocator *a, struct loam_db *db, struct item *items, size_t n,
		 loam_err *err)
{
	cleanup_free struct host_take *t = xcalloc(n, sizeof(*t));
	struct group g = {.items = items, .n = n, .t = t};
	int rc = alloc_write_tx(a, db, commit_fn, &g, err);
	for (size_t i = 0; i < n; i++) {
		if (rc < 0) /* rolled back: nothing of it holds */
			items[i].committed = false, items[i].outcome = FAILED;
		if (items[i].h)
			alloc_finish(a, &items[i]);
	}
	return rc;
}
