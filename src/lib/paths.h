/*
 * Default locations (docs/design.md §4): the state dir is $LOAM_STATE_DIR if set
 * (CLI), else $XDG_STATE_HOME/loam, else /var/lib/loam as root, else
 * ~/.local/state/loam.
 */
#ifndef LOAM_PATHS_H
#define LOAM_PATHS_H

/* Returns a newly allocated path; honour_env: consult $LOAM_STATE_DIR. */
char *loam_default_state_dir(int honour_env);

#endif
