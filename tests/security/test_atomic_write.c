/*
 * loam_write_file_atomic in a directory someone else can write (issue 15
 * item 4): it used PATH.tmp.<pid>, so a symlink planted at that name sent
 * the write elsewhere. Now the temp name is random and created O_EXCL|
 * O_NOFOLLOW under the directory's fd: the planted links stay untouched,
 * the canary they point at is unchanged, and no temp file is left.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/fs.h"
#include "t.h"

static char dir[] = "/tmp/loam-atomic.XXXXXX";

static char *at(const char *name)
{
	static char path[4][256];
	static int next;
	char *p = path[next++ % 4];
	snprintf(p, 256, "%s/%s", dir, name);
	return p;
}

static void test_planted_links_are_not_followed(void)
{
	CHECK(mkdtemp(dir) != NULL);
	loam_err err = NULL;
	CHECK(loam_write_file_atomic(at("canary"), "keep\n", 5, 0600, &err) == 0);
	/* The old temp names of this process and a few neighbours'. */
	for (int pid = (int)getpid() - 2; pid <= (int)getpid() + 2; pid++) {
		char name[64];
		snprintf(name, sizeof(name), "state.json.tmp.%d", pid);
		CHECK(symlink(at("canary"), at(name)) == 0);
	}
	CHECK(loam_write_file_atomic(at("state.json"), "{}\n", 3, 0600, &err) == 0);
	char *canary = NULL, *state = NULL;
	CHECK(loam_read_file(at("canary"), 0, &canary, NULL, &err) == 0);
	CHECK_STR(canary, "keep\n");
	CHECK(loam_read_file(at("state.json"), 0, &state, NULL, &err) == 0);
	CHECK_STR(state, "{}\n");
	free(canary);
	free(state);
	DIR *d = opendir(dir);
	int entries = 0;
	for (struct dirent *e; d && (e = readdir(d));)
		if (e->d_name[0] != '.' || strlen(e->d_name) > 2) {
			CHECK(strncmp(e->d_name, ".state.json.tmp", 15) != 0);
			entries++;
		}
	if (d)
		closedir(d);
	CHECK_INT(entries, 2 + 5); /* canary, state.json, the five links */
	loam_err_free(&err);
}

int main(void)
{
	RUN(test_planted_links_are_not_followed);
	for (int pid = (int)getpid() - 2; pid <= (int)getpid() + 2; pid++) {
		char name[64];
		snprintf(name, sizeof(name), "state.json.tmp.%d", pid);
		unlink(at(name));
	}
	unlink(at("canary"));
	unlink(at("state.json"));
	rmdir(dir);
	return t_summary();
}
