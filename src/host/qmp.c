/*
 * QMP over a unix socket; see qmp.h. QMP messages are JSON objects, one per
 * line, so the reader splits on '\n' and hands each line to jansson.
 */
#include "host/qmp.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/json.h"

#define QMP_LINE_MAX (1 << 20)

struct loam_qmp {
	int fd;
	int timeout_ms;
	char *buf;
	size_t len, cap;
};

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for fd to be ready for events until deadline. */
static int wait_fd(int fd, short events, long long deadline, loam_err *err)
{
	for (;;) {
		long long left = deadline - now_ms();
		if (left <= 0)
			return loam_fail(err, LOAM_E_TIMEOUT, "QMP: no answer in time");
		struct pollfd p = {.fd = fd, .events = events};
		int r = poll(&p, 1, (int)left);
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return loam_fail_errno(err, "QMP: poll");
	}
}

static int send_all(struct loam_qmp *q, const char *data, size_t n, loam_err *err)
{
	long long deadline = now_ms() + q->timeout_ms;
	while (n) {
		if (wait_fd(q->fd, POLLOUT, deadline, err) < 0)
			return -1;
		ssize_t w = send(q->fd, data, n, MSG_NOSIGNAL);
		if (w < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (w < 0)
			return loam_fail_errno(err, "QMP: send");
		data += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Takes one complete line out of the buffer, or returns NULL. */
static json_t *take_line(struct loam_qmp *q, loam_err *err, int *got)
{
	char *nl = q->len ? memchr(q->buf, '\n', q->len) : NULL;
	*got = nl != NULL;
	if (!nl)
		return NULL;
	size_t n = (size_t)(nl - q->buf) + 1;
	json_t *msg = loam_json_parse(q->buf, n - 1, "QMP message", err);
	memmove(q->buf, q->buf + n, q->len - n);
	q->len -= n;
	return msg;
}

static int fill(struct loam_qmp *q, long long deadline, loam_err *err)
{
	if (q->len + 4096 > q->cap) {
		if (q->cap >= QMP_LINE_MAX)
			return loam_fail(err, LOAM_E_IO, "QMP: message longer than %d bytes",
					 QMP_LINE_MAX);
		size_t cap = q->cap ? q->cap * 2 : 8192;
		char *nb = realloc(q->buf, cap);
		if (!nb)
			return loam_fail(err, LOAM_E_INTERNAL, "out of memory");
		q->buf = nb;
		q->cap = cap;
	}
	if (wait_fd(q->fd, POLLIN, deadline, err) < 0)
		return -1;
	ssize_t r = recv(q->fd, q->buf + q->len, q->cap - q->len, 0);
	if (r < 0 && (errno == EINTR || errno == EAGAIN))
		return 0;
	if (r < 0)
		return loam_fail_errno(err, "QMP: recv");
	if (r == 0)
		return loam_fail(err, LOAM_E_IO, "QMP: QEMU closed the connection");
	q->len += (size_t)r;
	return 0;
}

/* Reads messages until one that is not an event. */
static json_t *read_reply(struct loam_qmp *q, loam_err *err)
{
	long long deadline = now_ms() + q->timeout_ms;
	for (;;) {
		int got = 0;
		json_t *msg = take_line(q, err, &got);
		if (got && !msg)
			return NULL;
		if (msg && !json_object_get(msg, "event"))
			return msg;
		json_decref(msg);
		if (!got && fill(q, deadline, err) < 0)
			return NULL;
	}
}

int loam_qmp_execute(struct loam_qmp *q, const char *command, json_t *args, json_t **ret,
		     loam_err *err)
{
	if (!q)
		return loam_fail(err, LOAM_E_INTERNAL, "QMP %s: not connected", command);
	cleanup_json json_t *req = json_pack("{s:s}", "execute", command);
	if (args)
		json_object_set(req, "arguments", args);
	cleanup_free char *line = loam_json_dump(req);
	if (send_all(q, line, strlen(line), err) < 0 || send_all(q, "\n", 1, err) < 0)
		return loam_err_wrap(err, "QMP %s", command);
	cleanup_json json_t *reply = read_reply(q, err);
	if (!reply)
		return loam_err_wrap(err, "QMP %s", command);
	json_t *error = json_object_get(reply, "error");
	if (error) {
		const char *desc = json_string_value(json_object_get(error, "desc"));
		return loam_fail(err, LOAM_E_IO, "QMP %s: %s", command, desc ? desc : "error");
	}
	json_t *value = json_object_get(reply, "return");
	if (!value)
		return loam_fail(err, LOAM_E_IO, "QMP %s: reply has no 'return'", command);
	if (ret)
		*ret = json_incref(value);
	return 0;
}

static int connect_unix(const char *path, loam_err *err)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sa.sun_path))
		return loam_fail(err, LOAM_E_INVALID, "QMP socket path %s is longer than %zu bytes",
				 path, sizeof(sa.sun_path) - 1);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return loam_fail_errno(err, "QMP: socket");
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		loam_fail_errno(err, "QMP: connect %s", path);
		close(fd);
		return -1;
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	return fd;
}

int loam_qmp_connect(const char *socket_path, int timeout_ms, struct loam_qmp **out, loam_err *err)
{
	int fd = connect_unix(socket_path, err);
	if (fd < 0)
		return -1;
	struct loam_qmp *q = calloc(1, sizeof(*q));
	if (!q) {
		close(fd);
		return loam_fail(err, LOAM_E_INTERNAL, "out of memory");
	}
	q->fd = fd;
	q->timeout_ms = timeout_ms > 0 ? timeout_ms : 5000;
	cleanup_json json_t *greeting = read_reply(q, err);
	if (!greeting || !json_object_get(greeting, "QMP")) {
		if (greeting)
			loam_fail(err, LOAM_E_IO, "QMP: %s did not greet with QMP", socket_path);
		loam_qmp_close(q);
		return -1;
	}
	if (loam_qmp_execute(q, "qmp_capabilities", NULL, NULL, err) < 0) {
		loam_qmp_close(q);
		return -1;
	}
	*out = q;
	return 0;
}

void loam_qmp_close(struct loam_qmp *q)
{
	if (!q)
		return;
	close(q->fd);
	free(q->buf);
	free(q);
}

int loam_qmp_query_status(const char *socket_path, int timeout_ms, char **status, loam_err *err)
{
	struct loam_qmp *q = NULL;
	if (loam_qmp_connect(socket_path, timeout_ms, &q, err) < 0)
		return -1;
	cleanup_json json_t *ret = NULL;
	int rc = loam_qmp_execute(q, "query-status", NULL, &ret, err);
	loam_qmp_close(q);
	if (rc < 0)
		return -1;
	const char *s = json_string_value(json_object_get(ret, "status"));
	if (!s)
		return loam_fail(err, LOAM_E_IO, "QMP query-status: reply has no status");
	*status = strdup(s);
	return 0;
}
