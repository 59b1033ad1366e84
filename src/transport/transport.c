/*
 * The transport front door: one set of calls for every kind of host, so
 * that progs never branch on how a host is reached.
 */
#include <stdlib.h>
#include <string.h>

#include "lib/fault.h"
#include "lib/valid.h"
#include "lib/xalloc.h"
#include "transport/internal.h"

struct loam_transport *loam_transport_alloc(enum loam_transport_kind kind, const char *name)
{
	struct loam_transport *t = xcalloc(1, sizeof(*t));
	t->kind = kind;
	t->name = xstrdup(name ? name : kind == LOAM_TRANSPORT_SSH ? "(unnamed)" : "local");
	return t;
}

int loam_transport_open(const struct loam_host_target *target, struct loam_transport **out,
			char **seen_host_key, loam_err *err)
{
	*out = NULL;
	if (seen_host_key)
		*seen_host_key = NULL;
	struct loam_transport *t =
	    loam_transport_alloc(target->kind, target->name ? target->name : target->address);
	if (target->kind == LOAM_TRANSPORT_SSH &&
	    loam_ssh_open(target, t, seen_host_key, err) < 0) {
		loam_transport_close(t);
		return -1;
	}
	*out = t;
	return 0;
}

void loam_transport_close(struct loam_transport *t)
{
	if (!t)
		return;
	if (t->kind == LOAM_TRANSPORT_SSH)
		loam_ssh_close(t);
	free(t->pool_key);
	free(t->name);
	free(t);
}

int loam_transport_run(struct loam_transport *t, const char *const *argv, const char *stdin_data,
		       size_t stdin_len, int timeout_ms, struct loam_spawn_result *res,
		       loam_err *err)
{
	memset(res, 0, sizeof(*res));
	if (!argv || !argv[0])
		return loam_fail(err, LOAM_E_INVALID, "run on %s: empty command", t->name);
	int rc = t->kind == LOAM_TRANSPORT_SSH
		     ? loam_ssh_run(t, argv, stdin_data, stdin_len, timeout_ms, res, err)
		     : loam_local_run(t, argv, stdin_data, stdin_len, timeout_ms, res, err);
	if (rc == 0) /* the command ran on the host; nothing has recorded it yet */
		loam_fault_point("host-command-done");
	return rc;
}

int loam_transport_run_ok(struct loam_transport *t, const char *const *argv, const char *stdin_data,
			  size_t stdin_len, int timeout_ms, struct loam_spawn_result *res,
			  loam_err *err)
{
	if (loam_transport_run(t, argv, stdin_data, stdin_len, timeout_ms, res, err) < 0)
		return -1;
	char line[512];
	if (res->timed_out)
		return loam_fail(err, LOAM_E_TIMEOUT, "%s on %s timed out after %d ms", argv[0],
				 t->name, timeout_ms);
	if (res->signaled)
		return loam_fail(err, LOAM_E_IO, "%s on %s killed by signal %d", argv[0], t->name,
				 res->term_signal);
	if (res->exit_status != 0)
		return loam_fail(err, LOAM_E_IO, "%s on %s exited with status %d%s%s", argv[0],
				 t->name, res->exit_status, res->err_len ? ": " : "",
				 loam_output_last_line(res->err, line, sizeof(line)));
	return 0;
}

int loam_transport_upload(struct loam_transport *t, const char *local_path, const char *remote_path,
			  mode_t mode, loam_err *err)
{
	if (loam_valid_abs_path("upload destination", remote_path, err) < 0)
		return -1;
	if (t->kind == LOAM_TRANSPORT_SSH)
		return loam_ssh_upload(t, local_path, remote_path, mode, err);
	return loam_local_upload(local_path, remote_path, mode, err);
}

bool loam_transport_is_broken(const struct loam_transport *t)
{
	return t->broken;
}

const char *loam_transport_name(const struct loam_transport *t)
{
	return t->name;
}
