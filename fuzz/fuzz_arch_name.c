/*
 * Fuzzes the arch name normalizer: any byte string is either refused with a
 * message or mapped to an arch whose canonical name maps to itself, and an
 * accepted name never holds a control or shell metacharacter.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arch/arch.h"
#include "lib/cleanup.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char name[160];
	if (size >= sizeof(name))
		size = sizeof(name) - 1;
	memcpy(name, data, size);
	name[size] = '\0';
	cleanup_err loam_err err = NULL;
	const struct loam_arch *a = loam_arch_normalize(name, &err);
	if (!a) {
		if (!err || !loam_err_msg(err) || loam_err_kind_of(err) != LOAM_E_INVALID)
			abort();
		return 0;
	}
	if (err || name[strcspn(name, ";|&$`<>()'\"\\\n\t\r*?!{}[]~#")] != '\0')
		abort();
	if (loam_arch_normalize(a->name, &err) != a || loam_arch_by_name(a->name) != a)
		abort();
	return 0;
}
