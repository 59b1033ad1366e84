/*
 * Fuzzes the /proc/cpuinfo parser and each arch's CPU model decoding on its
 * blocks: any bytes parse without crashing or leaking, every key and value
 * is a string, and lookups by processor number always return a block of
 * the parse (or NULL when there is none).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "host/learn.h"
#include "lib/cleanup.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct learn_cpuinfo ci;
	cleanup_err loam_err err = NULL;
	if (learn_cpuinfo_parse((const char *)data, size, &ci, &err) < 0)
		return 0;
	for (size_t i = 0; i < ci.n; i++)
		for (size_t j = 0; j < ci.blocks[i].n; j++)
			if (!ci.blocks[i].kv[j].key || !ci.blocks[i].kv[j].value ||
			    memchr(ci.blocks[i].kv[j].key, '\n', strlen(ci.blocks[i].kv[j].key)))
				abort();
	for (unsigned cpu = 0; cpu < 4; cpu++) {
		const struct learn_cpuinfo_block *b = learn_cpuinfo_for_cpu(&ci, cpu);
		if ((b == NULL) != (ci.n == 0))
			abort();
		for (size_t a = 0; loam_arches[a]; a++) {
			char model[128];
			loam_arches[a]->cpu_model(learn_cpuinfo_get, b, model, sizeof(model));
			if (strlen(model) >= sizeof(model))
				abort();
			learn_cpuinfo_get(b, loam_arches[a]->cpuinfo_flags_key);
		}
	}
	learn_cpuinfo_free(&ci);
	return 0;
}
