/*
 * The guest's SSH host keys, as cloud-init prints them on the serial
 * console on first boot (between LOAM_HOST_KEYS_BEGIN and _END), for
 * vm-status to report and the control plane to pin. The console is the
 * guest's to write, so only its tail is read (a guest can fill the log),
 * at most LOAM_HOST_KEYS_MAX keys are taken, and a line counts only when it
 * parses as an OpenSSH public key (lib/ssh_key.h).
 */
#include "host/vm_status.h"

#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/ssh_key.h"
#include "lib/xalloc.h"
#include "proto/agent.h"

/* cloud-init prints the keys near the end of its last stage; little but
 * the readiness line and a login prompt follows them. */
#define HOST_KEYS_TAIL_BYTES (64u << 10)

/* The line at *at (up to '\n', without a trailing '\r'); advances *at. */
static const char *next_line(const char **at, const char *end, size_t *len)
{
	const char *line = *at;
	const char *nl = memchr(line, '\n', (size_t)(end - line));
	if (!nl)
		return NULL; /* the last line is unfinished: the guest is writing it */
	*at = nl + 1;
	*len = (size_t)(nl - line);
	if (*len > 0 && line[*len - 1] == '\r')
		(*len)--;
	return line;
}

static bool line_is(const char *line, size_t len, const char *want)
{
	return len == strlen(want) && memcmp(line, want, len) == 0;
}

/* Adds "TYPE BASE64" of a line that parses as a public key. */
static void add_key(json_t *keys, const char *line, size_t len)
{
	if (len == 0 || len > LOAM_SSH_KEY_MAX || json_array_size(keys) >= LOAM_HOST_KEYS_MAX)
		return;
	cleanup_free char *copy = xstrndup(line, len);
	cleanup_err loam_err err = NULL;
	cleanup_ssh_key struct loam_ssh_key k = {0};
	if (loam_ssh_key_parse("host key", copy, &k, &err) < 0)
		return;
	json_array_append_new(keys, json_sprintf("%s %s", k.type, k.blob64));
}

json_t *vm_console_host_keys(const char *log, size_t len)
{
	json_t *found = json_array();
	if (!log)
		return found;
	const char *at = log, *end = log + len, *line;
	size_t n;
	json_t *block = NULL; /* the block being read; the last whole one wins */
	while ((line = next_line(&at, end, &n))) {
		if (line_is(line, n, LOAM_HOST_KEYS_BEGIN)) {
			json_decref(block);
			block = json_array();
		} else if (block && line_is(line, n, LOAM_HOST_KEYS_END)) {
			json_decref(found);
			found = block;
			block = NULL;
		} else if (block) {
			add_key(block, line, n);
		}
	}
	json_decref(block);
	return found;
}

json_t *vm_host_keys_json(const struct vm_paths *p)
{
	cleanup_close int fd = vm_open_serial(p);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0)
		return json_array();
	off_t from =
	    st.st_size > (off_t)HOST_KEYS_TAIL_BYTES ? st.st_size - HOST_KEYS_TAIL_BYTES : 0;
	cleanup_free char *buf = xmalloc(HOST_KEYS_TAIL_BYTES);
	size_t got = 0;
	while (got < HOST_KEYS_TAIL_BYTES) {
		ssize_t r = pread(fd, buf + got, HOST_KEYS_TAIL_BYTES - got, from + (off_t)got);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	/* A tail that starts inside a line starts at the next one. */
	const char *start = buf;
	if (from > 0) {
		const char *nl = memchr(buf, '\n', got);
		start = nl ? nl + 1 : buf + got;
	}
	return vm_console_host_keys(start, got - (size_t)(start - buf));
}
