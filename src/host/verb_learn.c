/*
 * `loam-host learn [--root DIR] [--storage-dir DIR]`: prints this host's
 * facts as one JSON object (docs/design.md §4). --root reads DIR/proc and DIR/sys
 * instead (copies of other machines, test fixtures); --storage-dir names the
 * VM storage directory whose size is reported, created when missing.
 */
#include <stdio.h>
#include <string.h>

#include "host/learn.h"
#include "lib/cleanup.h"
#include "lib/json.h"
#include "host/verbs.h"

#define DEFAULT_STORAGE_DIR "/var/lib/loam"

struct learn_args {
	const char *root, *storage_dir;
};

static int parse_args(int argc, char **argv, struct learn_args *a, loam_err *err)
{
	*a = (struct learn_args){NULL, DEFAULT_STORAGE_DIR};
	for (int i = 1; i < argc; i++) {
		const char **slot = strcmp(argv[i], "--root") == 0	    ? &a->root
				    : strcmp(argv[i], "--storage-dir") == 0 ? &a->storage_dir
									    : NULL;
		if (!slot)
			return loam_fail(err, LOAM_E_INVALID,
					 "unknown argument '%.64s'; usage: learn [--root DIR] "
					 "[--storage-dir DIR]",
					 argv[i]);
		if (i + 1 >= argc || argv[i + 1][0] == '\0')
			return loam_fail(err, LOAM_E_INVALID, "%s needs a directory", argv[i]);
		*slot = argv[++i];
	}
	return 0;
}

int loam_host_verb_learn(int argc, char **argv)
{
	cleanup_err loam_err err = NULL;
	struct learn_args a;
	struct learn_root root = {.fd = -1};
	cleanup_json json_t *facts = NULL;
	if (parse_args(argc, argv, &a, &err) < 0 || learn_root_open(&root, a.root, &err) < 0)
		return loam_host_report("learn", &err);
	int rc = learn_facts(&root, a.storage_dir, &facts, &err);
	learn_root_close(&root);
	if (rc < 0)
		return loam_host_report("learn", &err);
	cleanup_free char *text = loam_json_dump_pretty(facts);
	printf("%s\n", text);
	return 0;
}
