/*
 * The agent's host verbs from the control plane (see client.h): `arch`,
 * the heartbeat's cheap question, and `learn`, whose facts the control
 * plane stores.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/cleanup.h"
#include "lib/json.h"
#include "lib/xalloc.h"
#include "proto/agent.h"
#include "proto/internal.h"

int loam_agent_arch(const struct loam_agent *a, char out[16], loam_err *err)
{
	const char *argv[] = {a->path, LOAM_VERB_ARCH, NULL};
	struct loam_spawn_result res = {0};
	int rc = loam_transport_run_ok(a->t, argv, NULL, 0, loam_agent_timeout(a), &res, err);
	if (rc == 0) {
		res.out[strcspn(res.out, "\r\n")] = '\0';
		snprintf(out, 16, "%s", res.out);
	}
	loam_spawn_result_free(&res);
	return rc;
}

static int64_t fact_int(const json_t *facts, const char *key)
{
	json_t *v = json_object_get(facts, key);
	return json_is_integer(v) ? json_integer_value(v) : 0;
}

static char *fact_str(const json_t *facts, const char *key)
{
	return xstrdup(json_string_value(json_object_get(facts, key)));
}

static void facts_read(const json_t *j, struct loam_agent_facts *f)
{
	*f = (struct loam_agent_facts){
	    .cpus = fact_int(j, LOAM_FACT_CPUS),
	    .cores = fact_int(j, LOAM_FACT_CORES),
	    .sockets = fact_int(j, LOAM_FACT_SOCKETS),
	    .dies = fact_int(j, LOAM_FACT_DIES),
	    .threads_per_core = fact_int(j, LOAM_FACT_THREADS_PER_CORE),
	    .numa_nodes = fact_int(j, LOAM_FACT_NUMA_NODES),
	    .memory_gib = fact_int(j, LOAM_FACT_MEMORY_GIB),
	    .hugepages_1g_total = fact_int(j, LOAM_FACT_HUGEPAGES_TOTAL),
	    .storage_total_gib = fact_int(j, LOAM_FACT_STORAGE_TOTAL),
	    .storage_available_gib = fact_int(j, LOAM_FACT_STORAGE_AVAILABLE),
	    .kvm = loam_json_true(j, LOAM_FACT_KVM),
	    .cpu_model = fact_str(j, LOAM_FACT_CPU_MODEL),
	    .os = fact_str(j, LOAM_FACT_OS),
	    .kernel = fact_str(j, LOAM_FACT_KERNEL),
	    .raw = loam_json_dump(j),
	};
	snprintf(f->arch, sizeof(f->arch), "%s",
		 json_string_value(json_object_get(j, LOAM_KEY_ARCH)) ?: "");
}

void loam_agent_facts_free(struct loam_agent_facts *f)
{
	free(f->cpu_model);
	free(f->os);
	free(f->kernel);
	free(f->raw);
	*f = (struct loam_agent_facts){0};
}

int loam_agent_learn(const struct loam_agent *a, const char *storage_dir,
		     struct loam_agent_facts *out, loam_err *err)
{
	const char *argv[] = {a->path, LOAM_VERB_LEARN, LOAM_OPT_STORAGE_DIR,
			      storage_dir ? storage_dir : a->state_dir, NULL};
	cleanup_json json_t *j = loam_agent_call(a, argv, NULL, loam_agent_timeout(a), err);
	if (!j)
		return -1;
	facts_read(j, out);
	return 0;
}
