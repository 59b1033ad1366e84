/*
 * The SQLite database file under a running loamd (issue 16): new files are
 * made 0600 before SQLite opens them (SQLite gives its WAL and shm files
 * the database file's mode, so all three stay private); once loamd has made
 * its database, no connection of the process may create one again, so a
 * deleted file is never silently replaced by an empty database; and each
 * connection remembers which file (device, inode) it opened, so that a
 * file deleted or replaced under it is told apart from the one it uses.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <unistd.h>

#include "db/db_internal.h"

static atomic_bool create_forbidden;

void loam_db_forbid_create(void)
{
	atomic_store(&create_forbidden, true);
}

/* A database that exists is made private if it is not (a file an older
 * loam made with the umask's mode). */
static void tighten(const char *path, const struct stat *st)
{
	if ((st->st_mode & 077) && st->st_uid == geteuid())
		chmod(path, st->st_mode & 0700);
}

int loam_db_file_prepare(const char *path, loam_err *err)
{
	struct stat st;
	if (stat(path, &st) == 0) {
		tighten(path, &st);
		return 0;
	}
	if (errno != ENOENT)
		return loam_fail_errno(err, "stat database %s", path);
	if (atomic_load(&create_forbidden))
		return loam_fail(err, LOAM_E_UNAVAILABLE,
				 "the database file %s is gone (deleted while loamd ran); loamd "
				 "never makes a new empty one in its place: restore the file and "
				 "restart loamd",
				 path);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 && errno != EEXIST)
		return loam_fail_errno(err, "create database %s", path);
	if (fd >= 0)
		close(fd);
	return 0;
}

bool loam_db_file_may_create(void)
{
	return !atomic_load(&create_forbidden);
}

int loam_db_file_identify(const char *path, struct loam_db_file_id *id, loam_err *err)
{
	struct stat st;
	if (stat(path, &st) < 0)
		return loam_fail_errno(err, "stat database %s", path);
	*id = (struct loam_db_file_id){.dev = (uint64_t)st.st_dev, .ino = (uint64_t)st.st_ino};
	return 0;
}

int loam_db_file_verify(const char *path, const struct loam_db_file_id *id, loam_err *err)
{
	struct stat st;
	if (stat(path, &st) < 0) {
		if (errno == ENOENT)
			return loam_fail(err, LOAM_E_UNAVAILABLE,
					 "the database file %s was deleted while loamd used it "
					 "(inode %llu); restore it and restart loamd",
					 path, (unsigned long long)id->ino);
		return loam_fail_errno(err, "stat database %s", path);
	}
	if ((uint64_t)st.st_dev != id->dev || (uint64_t)st.st_ino != id->ino)
		return loam_fail(err, LOAM_E_UNAVAILABLE,
				 "the database file %s was replaced while loamd used it (inode "
				 "%llu, now %llu); loamd keeps the state of neither: restart it "
				 "on the file you mean to use",
				 path, (unsigned long long)id->ino, (unsigned long long)st.st_ino);
	return 0;
}
