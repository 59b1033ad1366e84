/*
 * `loam-host arch [NAME...]`: with no names, print this machine's canonical
 * arch. With names, print one canonical name per line, in order. A refused
 * name prints nothing on stdout and a reason on stderr; the exit status is
 * then 2, after every name has been tried.
 */
#include <stdio.h>

#include "arch/arch.h"
#include "lib/cleanup.h"
#include "host/verbs.h"

int loam_host_verb_arch(int argc, char **argv)
{
	if (argc < 2) {
		cleanup_err loam_err err = NULL;
		const struct loam_arch *a = loam_arch_of_this_machine(&err);
		if (!a)
			return loam_host_report("arch", &err);
		printf("%s\n", a->name);
		return 0;
	}
	int status = 0;
	for (int i = 1; i < argc; i++) {
		loam_err err = NULL;
		const struct loam_arch *a = loam_arch_normalize(argv[i], &err);
		if (a) {
			printf("%s\n", a->name);
		} else {
			loam_host_report("arch", &err);
			status = 2;
		}
	}
	return status;
}
