/*
 * The jail's logger (host/jail_log.c) against a guest that floods its
 * console: a child writes far more than the cap into the pipe, as QEMU
 * would, and the log that the init keeps stays within the cap, with the
 * boot's head and the latest output intact and a note where it cut.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "host/jail.h"
#include "t.h"

#define FLOOD (5 * JAIL_LOG_CAP / 2)

/* The byte at offset i of the flood: lines that say where they are. */
static char flood_byte(size_t i)
{
	return i % 64 == 63 ? '\n' : (char)('a' + (i / 64) % 26);
}

static void flood(int fd)
{
	static char buf[1 << 16];
	for (size_t off = 0; off < FLOOD; off += sizeof(buf)) {
		for (size_t i = 0; i < sizeof(buf); i++)
			buf[i] = flood_byte(off + i);
		if (write(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf))
			_exit(1);
	}
	_exit(0);
}

static void test_flood_is_capped(void)
{
	char path[] = "/tmp/loam-jail-log.XXXXXX";
	int file = mkstemp(path), pipefd[2];
	CHECK(file >= 0 && pipe(pipefd) == 0);
	unlink(path);
	pid_t child = fork();
	if (child == 0) {
		close(pipefd[0]);
		flood(pipefd[1]);
	}
	close(pipefd[1]);
	int report[2];
	CHECK(pipe(report) == 0);
	struct jail_log log = {.pipe_r = pipefd[0], .file = file};
	jail_init_loop(child, report[1], &log, 1);
	int status = -1;
	CHECK(read(report[0], &status, sizeof(status)) == (ssize_t)sizeof(status));
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	struct stat st;
	CHECK(fstat(file, &st) == 0);
	CHECK(st.st_size <= JAIL_LOG_CAP);
	CHECK(st.st_size > JAIL_LOG_HEAD);
	char *buf = malloc((size_t)st.st_size);
	CHECK(pread(file, buf, (size_t)st.st_size, 0) == st.st_size);
	size_t head_ok = 0;
	while (head_ok < JAIL_LOG_HEAD && buf[head_ok] == flood_byte(head_ok))
		head_ok++;
	CHECK_INT((long)head_ok, (long)JAIL_LOG_HEAD);
	CHECK(memmem(buf, (size_t)st.st_size, "older output dropped", 20) != NULL);
	/* The last 4 KiB are the flood's last 4 KiB. */
	bool tail_ok = true;
	for (size_t i = 0; i < 4096; i++)
		tail_ok =
		    tail_ok && buf[st.st_size - 4096 + (off_t)i] == flood_byte(FLOOD - 4096 + i);
	CHECK(tail_ok);
	free(buf);
	close(file);
	close(pipefd[0]);
	close(report[0]);
}

int main(void)
{
	RUN(test_flood_is_capped);
	return t_summary();
}
