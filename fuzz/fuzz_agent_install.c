/*
 * Fuzzes the agent's stdin protocol for `loam-host install`: any bytes as
 * the request are parsed and every entry checked (loam_host_install_check,
 * the verb's own parsing, without downloading or installing), and are
 * either accepted or refused with an LOAM_E_INVALID message.
 */
#include <stdint.h>
#include <stdlib.h>

#include "lib/cleanup.h"
#include "host/verbs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cleanup_err loam_err err = NULL;
	if (loam_host_install_check((const char *)data, size, &err) < 0) {
		if (!err || !loam_err_msg(err) || loam_err_kind_of(err) != LOAM_E_INVALID)
			abort();
	} else if (err) {
		abort();
	}
	return 0;
}
