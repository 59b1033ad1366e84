/*
 * `loam-host learn`: placeholder until the fact-learning parsers land.
 */
#include <stdio.h>

#include "verbs.h"

int loam_host_verb_learn(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "loam-host: learn: not implemented yet\n");
	return 1;
}
