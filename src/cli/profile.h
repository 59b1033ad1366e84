/*
 * The CLI's profile file (profile.c): url, token and cacert, by default
 * and per [profile], read from $LOAM_CONFIG or ~/.config/loam/config.
 */
#ifndef LOAM_CLI_PROFILE_H
#define LOAM_CLI_PROFILE_H

#include "lib/err.h"

struct loam_profile {
	char *path; /* the file read, or NULL when there is none */
	char *url, *token, *cacert;
};

/* Fills p from the file (all NULL when there is none); fails on a
 * malformed file, a missing $LOAM_PROFILE section, or a token that others
 * can read. */
int loam_profile_load(struct loam_profile *p, loam_err *err);
void loam_profile_free(struct loam_profile *p);

#endif
