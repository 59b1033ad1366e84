/*
 * Reading hosts (host.h). Every read is one query: the host's columns,
 * joined with its emulated arches (one row per arch, folded here, since
 * SQLite and PostgreSQL name their string aggregates differently) and, for
 * the API's views, with its VM count and its cloudify strand (id = host
 * id). So `host ls` costs one query however many hosts there are.
 */
#include "db/host.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/cleanup.h"
#include "lib/xalloc.h"

static const char *const state_names[] = {
    [LOAM_HOST_UNPREPARED] = "unprepared", [LOAM_HOST_ACCEPTING] = "accepting",
    [LOAM_HOST_DRAINING] = "draining",	   [LOAM_HOST_UNREACHABLE] = "unreachable",
    [LOAM_HOST_FAILED] = "failed",
};

const char *loam_host_state_name(enum loam_host_state s)
{
	return (size_t)s < sizeof(state_names) / sizeof(*state_names) ? state_names[s] : "?";
}

int loam_host_state_parse(const char *name, enum loam_host_state *out, loam_err *err)
{
	for (size_t i = 0; i < sizeof(state_names) / sizeof(*state_names); i++)
		if (strcmp(name, state_names[i]) == 0) {
			*out = (enum loam_host_state)i;
			return 0;
		}
	return loam_fail(err, LOAM_E_INVALID,
			 "unknown host state '%.40s'; one of unprepared, accepting, draining, "
			 "unreachable, failed",
			 name);
}

/* The host's columns in SELECT order: X(enum suffix, column). */
#define HOST_COLUMNS(X)                                                                            \
	X(ID, "h.id")                                                                              \
	X(NAME, "h.name")                                                                          \
	X(TRANSPORT, "h.transport")                                                                \
	X(ADDRESS, "h.address")                                                                    \
	X(SSH_PORT, "h.ssh_port")                                                                  \
	X(SSH_USER, "h.ssh_user")                                                                  \
	X(SSH_KEY_FILE, "h.ssh_key_file")                                                          \
	X(HOST_KEY, "h.host_key")                                                                  \
	X(STATE_DIR, "h.state_dir")                                                                \
	X(LOCATION, "h.location")                                                                  \
	X(ARCH, "h.arch")                                                                          \
	X(STATE, "h.allocation_state")                                                             \
	X(STATE_REASON, "h.state_reason")                                                          \
	X(STATE_BEFORE, "h.state_before_unreachable")                                              \
	X(CPUS, "h.cpus")                                                                          \
	X(TOTAL_CORES, "h.total_cores")                                                            \
	X(SOCKETS, "h.sockets")                                                                    \
	X(DIES, "h.dies")                                                                          \
	X(THREADS, "h.threads_per_core")                                                           \
	X(NUMA, "h.numa_nodes")                                                                    \
	X(MEM, "h.total_mem_gib")                                                                  \
	X(HUGEPAGES, "h.total_hugepages_1g")                                                       \
	X(STORAGE, "h.total_storage_gib")                                                          \
	X(AVAIL_STORAGE, "h.available_storage_gib")                                                \
	X(KVM, "h.kvm")                                                                            \
	X(CPU_MODEL, "h.cpu_model")                                                                \
	X(OS, "h.os")                                                                              \
	X(KERNEL, "h.kernel")                                                                      \
	X(FACTS, "h.facts")                                                                        \
	X(AGENT_PATH, "h.agent_path")                                                              \
	X(AGENT_SHA256, "h.agent_sha256")                                                          \
	X(ACCEL, "h.accel")                                                                        \
	X(ALLOW_TCG, "h.allow_tcg")                                                                \
	X(OVERCOMMIT, "h.cpu_overcommit")                                                          \
	X(USED_CORES, "h.used_cores")                                                              \
	X(USED_MEM, "h.used_memory_gib")                                                           \
	X(USED_HUGEPAGES, "h.used_hugepages_1g")                                                   \
	X(GENERATION, "h.generation")                                                              \
	X(CREATED_AT, "h.created_at")                                                              \
	X(LAST_SEEN_AT, "h.last_seen_at")                                                          \
	X(IPV4_POOL, "h.ipv4_pool")                                                                \
	X(IPV6_PREFIX, "h.ipv6_prefix")                                                            \
	X(EGRESS, "h.egress")                                                                      \
	X(IPV4_TOTAL, "h.ipv4_total")                                                              \
	X(IPV4_USED, "h.ipv4_used")                                                                \
	X(EMULATE, "e.arch")

#define AS_ENUM(e, col) COL_##e,
#define AS_SQL(e, col)	col ", "
enum { HOST_COLUMNS(AS_ENUM) COL_VMS, COL_STRAND };

static const char row_sql[] =
    "SELECT " HOST_COLUMNS(AS_SQL) "0, 0 FROM host h "
				   "LEFT JOIN host_emulation e ON e.host_id = h.id ";

static const char view_sql[] = "SELECT " HOST_COLUMNS(
    AS_SQL) "(SELECT count(*) FROM vm WHERE vm.host_id = h.id), " LOAM_STRAND_VIEW_COLS
	    " FROM host h LEFT JOIN host_emulation e ON e.host_id = h.id "
	    "LEFT JOIN strand s ON s.id = h.id ";

static void read_facts(const struct loam_db_rows *r, size_t i, struct loam_host *h)
{
	h->cpus = loam_db_rows_int(r, i, COL_CPUS);
	h->total_cores = loam_db_rows_int(r, i, COL_TOTAL_CORES);
	h->sockets = loam_db_rows_int(r, i, COL_SOCKETS);
	h->dies = loam_db_rows_int(r, i, COL_DIES);
	h->threads_per_core = loam_db_rows_int(r, i, COL_THREADS);
	h->numa_nodes = loam_db_rows_int(r, i, COL_NUMA);
	h->total_mem_gib = loam_db_rows_int(r, i, COL_MEM);
	h->total_hugepages_1g = loam_db_rows_int(r, i, COL_HUGEPAGES);
	h->total_storage_gib = loam_db_rows_int(r, i, COL_STORAGE);
	h->available_storage_gib = loam_db_rows_int(r, i, COL_AVAIL_STORAGE);
	h->kvm = loam_db_rows_int(r, i, COL_KVM) != 0;
	h->cpu_model = loam_db_rows_dup(r, i, COL_CPU_MODEL);
	h->os = loam_db_rows_dup(r, i, COL_OS);
	h->kernel = loam_db_rows_dup(r, i, COL_KERNEL);
	h->facts = loam_db_rows_dup(r, i, COL_FACTS);
}

static void read_use(const struct loam_db_rows *r, size_t i, struct loam_host *h)
{
	h->agent_path = loam_db_rows_dup(r, i, COL_AGENT_PATH);
	h->agent_sha256 = loam_db_rows_dup(r, i, COL_AGENT_SHA256);
	h->accel = loam_db_rows_dup(r, i, COL_ACCEL);
	h->allow_tcg = loam_db_rows_int(r, i, COL_ALLOW_TCG) != 0;
	h->cpu_overcommit = loam_db_rows_real(r, i, COL_OVERCOMMIT);
	h->used_cores = loam_db_rows_int(r, i, COL_USED_CORES);
	h->used_memory_gib = loam_db_rows_int(r, i, COL_USED_MEM);
	h->used_hugepages_1g = loam_db_rows_int(r, i, COL_USED_HUGEPAGES);
	h->generation = loam_db_rows_int(r, i, COL_GENERATION);
	h->created_at = loam_db_rows_int(r, i, COL_CREATED_AT);
	h->last_seen_at = loam_db_rows_int(r, i, COL_LAST_SEEN_AT);
	h->seen = !loam_db_rows_null(r, i, COL_LAST_SEEN_AT);
	h->ipv4_pool = loam_db_rows_dup(r, i, COL_IPV4_POOL);
	h->ipv6_prefix = loam_db_rows_dup(r, i, COL_IPV6_PREFIX);
	h->egress = loam_db_rows_int(r, i, COL_EGRESS) != 0;
	h->ipv4_total = loam_db_rows_int(r, i, COL_IPV4_TOTAL);
	h->ipv4_used = loam_db_rows_int(r, i, COL_IPV4_USED);
}

static void read_host(const struct loam_db_rows *r, size_t i, bool view, struct loam_host *h)
{
	*h = (struct loam_host){
	    .id = loam_db_rows_dup(r, i, COL_ID),
	    .name = loam_db_rows_dup(r, i, COL_NAME),
	    .transport = loam_db_rows_dup(r, i, COL_TRANSPORT),
	    .address = loam_db_rows_dup(r, i, COL_ADDRESS),
	    .ssh_port = loam_db_rows_int(r, i, COL_SSH_PORT),
	    .ssh_user = loam_db_rows_dup(r, i, COL_SSH_USER),
	    .ssh_key_file = loam_db_rows_dup(r, i, COL_SSH_KEY_FILE),
	    .host_key = loam_db_rows_dup(r, i, COL_HOST_KEY),
	    .state_dir = loam_db_rows_dup(r, i, COL_STATE_DIR),
	    .location = loam_db_rows_dup(r, i, COL_LOCATION),
	    .arch = loam_db_rows_dup(r, i, COL_ARCH),
	    .state_reason = loam_db_rows_dup(r, i, COL_STATE_REASON),
	    .state_before_unreachable = loam_db_rows_dup(r, i, COL_STATE_BEFORE),
	};
	/* The schema's CHECK admits only the enum's names. */
	if (loam_host_state_parse(loam_db_rows_text(r, i, COL_STATE), &h->state, NULL) < 0)
		h->state = LOAM_HOST_FAILED;
	read_facts(r, i, h);
	read_use(r, i, h);
	if (!view)
		return;
	h->vms = loam_db_rows_int(r, i, COL_VMS);
	h->has_strand = !loam_db_rows_null(r, i, COL_STRAND);
	if (h->has_strand)
		loam_strand_view_read(r, i, COL_STRAND, &h->strand);
}

/* Rows come ordered by host, then emulated arch: a host's rows are
 * consecutive, one per arch (one with a NULL arch when it emulates none). */
static int query_hosts(struct loam_db *db, bool view, const char *where,
		       const struct loam_db_val *args, size_t nargs, struct loam_hosts *out,
		       loam_err *err)
{
	*out = (struct loam_hosts){0};
	cleanup_free char *sql =
	    xasprintf("%s%s ORDER BY h.name, e.arch", view ? view_sql : row_sql, where);
	cleanup_rows struct loam_db_rows *r = NULL;
	if (loam_db_query(db, sql, args, nargs, &r, err) < 0)
		return -1;
	size_t rows = loam_db_rows_count(r);
	out->v = xcalloc(rows, sizeof(*out->v));
	for (size_t i = 0; i < rows; i++) {
		const char *id = loam_db_rows_text(r, i, COL_ID);
		if (out->n == 0 || strcmp(out->v[out->n - 1].id, id) != 0)
			read_host(r, i, view, &out->v[out->n++]);
		if (!loam_db_rows_null(r, i, COL_EMULATE))
			loam_argv_add(&out->v[out->n - 1].emulate,
				      loam_db_rows_text(r, i, COL_EMULATE));
	}
	return 0;
}

static int query_one(struct loam_db *db, bool view, const char *where, const char *key,
		     struct loam_host *out, loam_err *err)
{
	cleanup_hosts struct loam_hosts l = {0};
	if (query_hosts(db, view, where, DB_ARGS(DB_TEXT(key)), &l, err) < 0)
		return -1;
	if (l.n == 0)
		return 0;
	*out = l.v[0];
	l.v[0] = (struct loam_host){0};
	return 1;
}

int loam_host_get(struct loam_db *db, const char *id, struct loam_host *out, loam_err *err)
{
	return query_one(db, false, "WHERE h.id = ?", id, out, err);
}

int loam_host_get_by_name(struct loam_db *db, const char *name, struct loam_host *out,
			  loam_err *err)
{
	return query_one(db, false, "WHERE h.name = ?", name, out, err);
}

int loam_host_view(struct loam_db *db, const char *name, struct loam_host *out, loam_err *err)
{
	return query_one(db, true, "WHERE h.name = ?", name, out, err);
}

int loam_host_list(struct loam_db *db, struct loam_hosts *out, loam_err *err)
{
	return query_hosts(db, true, "", DB_NOARGS, out, err);
}

int loam_host_list_page(struct loam_db *db, const struct loam_db_page *page, struct loam_hosts *out,
			loam_err *err)
{
	/* A host spans one row per emulated arch: the page is taken on hosts. */
	return query_hosts(
	    db, true,
	    "WHERE h.id IN (SELECT id FROM host WHERE name > ? ORDER BY name LIMIT "
	    "?)",
	    DB_ARGS(DB_TEXT(loam_db_page_after(page)), DB_INT(loam_db_page_limit(page))), out, err);
}

void loam_host_free(struct loam_host *h)
{
	char *strings[] = {h->id,	 h->name,	  h->transport,
			   h->address,	 h->ssh_user,	  h->ssh_key_file,
			   h->host_key,	 h->state_dir,	  h->location,
			   h->arch,	 h->state_reason, h->state_before_unreachable,
			   h->cpu_model, h->os,		  h->kernel,
			   h->facts,	 h->agent_path,	  h->agent_sha256,
			   h->accel,	 h->ipv4_pool,	  h->ipv6_prefix};
	for (size_t i = 0; i < sizeof(strings) / sizeof(*strings); i++)
		free(strings[i]);
	loam_argv_free(&h->emulate);
	loam_strand_view_free(&h->strand);
	*h = (struct loam_host){0};
}

void loam_hosts_free(struct loam_hosts *l)
{
	for (size_t i = 0; i < l->n; i++)
		loam_host_free(&l->v[i]);
	free(l->v);
	*l = (struct loam_hosts){0};
}
