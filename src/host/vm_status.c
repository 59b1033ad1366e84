/*
 * One VM's status, read from its pid file, its QMP socket and its serial
 * log (see vm_status.h). The serial log lives in a directory the VM's user
 * owns, so it is read only as a root-owned regular file opened without
 * following links.
 */
#include "host/vm_status.h"

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host/qmp.h"
#include "host/vm_storage.h"
#include "lib/cleanup.h"
#include "lib/xalloc.h"
#include "proto/agent.h"

#define QMP_TIMEOUT_MS	  5000
#define SERIAL_SCAN_MAX	  (32u << 20)
#define SERIAL_TAIL_LINES 20

int vm_open_serial(const struct vm_paths *p)
{
	int fd = open(p->serial, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	struct stat st;
	if (fd >= 0 && (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != 0)) {
		close(fd);
		return -1;
	}
	return fd;
}

static char *read_serial(const struct vm_paths *p, size_t *len)
{
	*len = 0;
	cleanup_close int fd = vm_open_serial(p);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0)
		return NULL;
	size_t want = (size_t)st.st_size < SERIAL_SCAN_MAX ? (size_t)st.st_size : SERIAL_SCAN_MAX;
	char *buf = xmalloc(want + 1);
	size_t n = 0;
	while (n < want) {
		ssize_t r = read(fd, buf + n, want - n);
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	buf[n] = '\0';
	*len = n;
	return buf;
}

json_t *vm_guest_machine(const char *log, size_t len)
{
	const char *mark = log ? memmem(log, len, LOAM_READY_MARK, strlen(LOAM_READY_MARK)) : NULL;
	if (!mark)
		return NULL;
	const char *v = mark + strlen(LOAM_READY_MARK);
	size_t n = 0;
	while (n < 32 && v + n < log + len &&
	       ((v[n] >= 'a' && v[n] <= 'z') || (v[n] >= '0' && v[n] <= '9') || v[n] == '_'))
		n++;
	if (n == 0 || v + n >= log + len || (v[n] != '\r' && v[n] != '\n'))
		return NULL;
	return json_stringn(v, n);
}

/* The last lines as printable ASCII: firmware writes escape sequences. */
static json_t *serial_tail(const char *log, size_t len)
{
	if (!log)
		return json_string("");
	size_t start = len, lines = 0;
	while (start > 0 && lines <= SERIAL_TAIL_LINES && len - start < 8192)
		if (log[--start] == '\n' && start + 1 < len)
			lines++;
	if (lines > SERIAL_TAIL_LINES)
		start++;
	cleanup_free char *out = xmalloc(len - start + 1);
	size_t n = 0;
	for (size_t i = start; i < len; i++) {
		unsigned char c = (unsigned char)log[i];
		if (c == 0x1b) { /* CSI: ESC [ params letter */
			while (i + 1 < len && !((log[i + 1] >= 'A' && log[i + 1] <= 'Z') ||
						(log[i + 1] >= 'a' && log[i + 1] <= 'z')))
				i++;
			i++;
			continue;
		}
		if (c == '\n' || c == '\t' || (c >= 0x20 && c < 0x7f))
			out[n++] = (char)c;
	}
	return json_stringn(out, n);
}

static json_t *qmp_status(const struct vm_paths *p, pid_t pid)
{
	cleanup_free char *status = NULL;
	cleanup_err loam_err err = NULL;
	if (!pid || loam_qmp_query_status(p->qmp, QMP_TIMEOUT_MS, &status, &err) < 0)
		return json_null();
	return json_string(status);
}

static bool vm_dir_exists(const struct vm_paths *p)
{
	struct stat st;
	return lstat(p->dir, &st) == 0 && S_ISDIR(st.st_mode);
}

json_t *vm_status_json(const struct vm_paths *p, bool with_qmp)
{
	bool exists = vm_dir_exists(p);
	pid_t pid = exists ? vm_running_pid(p) : 0;
	size_t len = 0;
	cleanup_free char *log = exists ? read_serial(p, &len) : NULL;
	json_t *machine = vm_guest_machine(log, len);
	/* the keys come before the readiness line: only then are they whole */
	json_t *keys = machine ? vm_host_keys_json(p) : json_array();
	return json_pack("{s:s,s:b,s:b,s:o,s:o,s:b,s:o,s:o,s:o,s:o}", LOAM_KEY_ID, p->id,
			 LOAM_KEY_EXISTS, exists, LOAM_KEY_RUNNING, pid != 0, LOAM_KEY_PID,
			 pid ? json_integer(pid) : json_null(), LOAM_KEY_QMP,
			 with_qmp ? qmp_status(p, pid) : json_null(), LOAM_KEY_READY,
			 machine != NULL, LOAM_KEY_GUEST_MACHINE, machine ? machine : json_null(),
			 LOAM_KEY_SERIAL_TAIL, serial_tail(log, len), LOAM_KEY_STORAGE,
			 exists ? vm_storage_status(p) : json_null(), LOAM_KEY_HOST_KEYS, keys);
}

static bool serial_has_mark(const struct vm_paths *p)
{
	size_t len = 0;
	cleanup_free char *log = read_serial(p, &len);
	json_t *machine = vm_guest_machine(log, len);
	json_decref(machine);
	return machine != NULL;
}

bool vm_boot_settled(const struct vm_paths *p, off_t *seen_size)
{
	struct stat st;
	if (lstat(p->serial, &st) == 0 && st.st_size != *seen_size) {
		*seen_size = st.st_size;
		if (serial_has_mark(p))
			return true;
	}
	return !vm_running_pid(p);
}
