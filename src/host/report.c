/*
 * Error reporting shared by the agent's verbs.
 */
#include <stdio.h>

#include "host/verbs.h"

int loam_host_report(const char *verb, loam_err *err)
{
	int status = loam_err_exit_status(*err);
	fprintf(stderr, "loam-host: %s: %s\n", verb, loam_err_msg(*err));
	loam_err_free(err);
	return status;
}
