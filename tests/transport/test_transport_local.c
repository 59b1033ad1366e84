/*
 * The local transport: commands run from their argv with stdin, stdout,
 * stderr, exit status and a timeout that kills; uploads land atomically
 * with the requested mode and leave no temp file behind.
 */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/fs.h"
#include "t.h"
#include "transport/transport.h"

static char tmpdir[] = "/tmp/loam-test-local-XXXXXX";

static struct loam_transport *open_local(void)
{
	struct loam_host_target tg = {.kind = LOAM_TRANSPORT_LOCAL, .name = "this-machine"};
	struct loam_transport *t = NULL;
	cleanup_err loam_err err = NULL;
	char *seen = NULL;
	CHECK_INT(loam_transport_open(&tg, &t, &seen, &err), 0);
	CHECK(seen == NULL);
	return t;
}

static void test_run_streams_and_status(void)
{
	struct loam_transport *t = open_local();
	struct loam_spawn_result res;
	cleanup_err loam_err err = NULL;
	const char *cat[] = {"cat", NULL};
	CHECK_INT(loam_transport_run(t, cat, "from stdin", 10, 0, &res, &err), 0);
	CHECK_STR(res.out, "from stdin");
	CHECK_INT(res.err_len, 0);
	CHECK_INT(res.exit_status, 0);
	CHECK(!res.timed_out && !res.signaled);
	loam_spawn_result_free(&res);

	const char *ls[] = {"ls", "/nonexistent-loam-path", NULL};
	CHECK_INT(loam_transport_run(t, ls, NULL, 0, 0, &res, &err), 0);
	CHECK_STR(res.out, "");
	CHECK_CONTAINS(res.err, "nonexistent-loam-path");
	CHECK_INT(res.exit_status, 2);
	loam_spawn_result_free(&res);

	CHECK_INT(loam_transport_run_ok(t, ls, NULL, 0, 0, &res, &err), -1);
	CHECK_INT(loam_err_kind_of(err), LOAM_E_IO);
	CHECK_CONTAINS(loam_err_msg(err), "exited with status 2");
	CHECK_CONTAINS(loam_err_msg(err), "nonexistent-loam-path");
	loam_spawn_result_free(&res);
	loam_transport_close(t);
}

static void test_run_timeout_kills(void)
{
	struct loam_transport *t = open_local();
	const char *argv[] = {"sleep", "30", NULL};
	struct loam_spawn_result res;
	cleanup_err loam_err err = NULL;
	CHECK_INT(loam_transport_run(t, argv, NULL, 0, 200, &res, &err), 0);
	CHECK(res.timed_out);
	loam_spawn_result_free(&res);
	CHECK_INT(loam_transport_run_ok(t, argv, NULL, 0, 200, &res, &err), -1);
	CHECK_INT(loam_err_kind_of(err), LOAM_E_TIMEOUT);
	loam_spawn_result_free(&res);
	loam_transport_close(t);
}

static void test_run_words_are_not_parsed(void)
{
	struct loam_transport *t = open_local();
	/* Locally nothing goes through a shell, so any word is passed as is. */
	const char *argv[] = {"printf", "%s|", "a b", "$(id)", ";", NULL};
	struct loam_spawn_result res;
	cleanup_err loam_err err = NULL;
	CHECK_INT(loam_transport_run(t, argv, NULL, 0, 0, &res, &err), 0);
	CHECK_STR(res.out, "a b|$(id)|;|");
	loam_spawn_result_free(&res);
	loam_transport_close(t);
}

static int count_entries(const char *dir)
{
	cleanup_dir DIR *d = opendir(dir);
	int n = 0;
	for (struct dirent *e; d && (e = readdir(d));)
		if (e->d_name[0] != '.')
			n++;
	return n;
}

static void test_upload(void)
{
	struct loam_transport *t = open_local();
	cleanup_err loam_err err = NULL;
	char src[256], dst[256];
	snprintf(src, sizeof(src), "%s/src", tmpdir);
	snprintf(dst, sizeof(dst), "%s/out/agent", tmpdir);
	CHECK_INT(loam_write_file_atomic(src, "first", 5, 0600, &err), 0);
	CHECK_INT(loam_mkdir_p(tmpdir, 0755, &err), 0);
	char out[256];
	snprintf(out, sizeof(out), "%s/out", tmpdir);
	CHECK_INT(loam_mkdir_p(out, 0755, &err), 0);

	CHECK_INT(loam_transport_upload(t, src, dst, 0750, &err), 0);
	cleanup_free char *got = NULL;
	size_t len = 0;
	CHECK_INT(loam_read_file(dst, 0, &got, &len, &err), 0);
	CHECK_STR(got, "first");
	struct stat st;
	CHECK_INT(stat(dst, &st), 0);
	CHECK_INT(st.st_mode & 07777, 0750);

	/* Replacing an existing file. */
	CHECK_INT(loam_write_file_atomic(src, "second!", 7, 0600, &err), 0);
	CHECK_INT(loam_transport_upload(t, src, dst, 0644, &err), 0);
	free(got);
	got = NULL;
	CHECK_INT(loam_read_file(dst, 0, &got, &len, &err), 0);
	CHECK_STR(got, "second!");
	CHECK_INT(stat(dst, &st), 0);
	CHECK_INT(st.st_mode & 07777, 0644);
	CHECK_INT(count_entries(out), 1); /* no temp file left */
	loam_transport_close(t);
}

static void test_upload_failures_change_nothing(void)
{
	struct loam_transport *t = open_local();
	cleanup_err loam_err err = NULL;
	char src[256], dst[256];
	snprintf(src, sizeof(src), "%s/src", tmpdir);
	snprintf(dst, sizeof(dst), "%s/missing-dir/agent", tmpdir);
	CHECK_INT(loam_transport_upload(t, src, dst, 0755, &err), -1);
	CHECK_INT(loam_err_kind_of(err), LOAM_E_NOTFOUND);
	CHECK_CONTAINS(loam_err_msg(err), "missing-dir");

	CHECK_INT(loam_transport_upload(t, src, "relative/path", 0755, &err), -1);
	CHECK_INT(loam_err_kind_of(err), LOAM_E_INVALID);

	snprintf(dst, sizeof(dst), "%s/out/agent", tmpdir);
	char nosrc[256];
	snprintf(nosrc, sizeof(nosrc), "%s/no-such-file", tmpdir);
	CHECK_INT(loam_transport_upload(t, nosrc, dst, 0755, &err), -1);
	cleanup_free char *got = NULL;
	size_t len = 0;
	CHECK_INT(loam_read_file(dst, 0, &got, &len, &err), 0);
	CHECK_STR(got, "second!"); /* the earlier upload is intact */
	char out[256];
	snprintf(out, sizeof(out), "%s/out", tmpdir);
	CHECK_INT(count_entries(out), 1);
	loam_transport_close(t);
}

static void remove_tmpdir(void)
{
	const char *argv[] = {"rm", "-rf", tmpdir, NULL};
	struct loam_spawn_opts o = {.argv = argv};
	struct loam_spawn_result res;
	cleanup_err loam_err err = NULL;
	if (loam_spawn(&o, &res, &err) == 0)
		loam_spawn_result_free(&res);
}

int main(void)
{
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	RUN(test_run_streams_and_status);
	RUN(test_run_timeout_kills);
	RUN(test_run_words_are_not_parsed);
	RUN(test_upload);
	RUN(test_upload_failures_change_nothing);
	remove_tmpdir();
	return t_summary();
}
