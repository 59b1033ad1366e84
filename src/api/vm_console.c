/*
 * GET /v1/vms/NAME/console: the last lines of a VM's serial console, for
 * `loam vm console` and the web console's VM page. The log lives on the
 * VM's host, so the request asks that host's agent (vm-wait-ready with no
 * wait: it reads the log and never touches QMP, so a booting guest loses
 * nothing), over a transport opened with the host's pinned key. Also the
 * one way the API opens a transport to a host (api_host_transport).
 */
#include "api/internal.h"

#include <string.h>

#include "db/vm.h"
#include "lib/cleanup.h"
#include "lib/json.h"
#include "proto/client.h"
#include "transport/transport.h"

/* Each console request is one short agent call. */
#define CONSOLE_AGENT_TIMEOUT_MS 10000

int api_host_transport(const struct loam_host *row, struct loam_transport **t, loam_err *err)
{
	bool ssh = strcmp(row->transport, "ssh") == 0;
	struct loam_host_target target = {
	    .kind = ssh ? LOAM_TRANSPORT_SSH : LOAM_TRANSPORT_LOCAL,
	    .name = row->name,
	    .address = row->address,
	    .port = (int)row->ssh_port,
	    .user = row->ssh_user,
	    .key_file = row->ssh_key_file,
	    .pinned_host_key = row->host_key,
	};
	cleanup_free char *seen = NULL;
	if (loam_transport_open(&target, t, &seen, err) < 0)
		return loam_err_wrap(err, "connect to host %s", target.name);
	return 0;
}

/* The tail as an array of lines, without the last empty one. */
static json_t *lines_of(const char *tail)
{
	json_t *lines = json_array();
	const char *p = tail ? tail : "";
	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		json_array_append_new(lines, json_stringn(p, n));
		p += n + (nl ? 1 : 0);
	}
	return lines;
}

static int ask_host(const struct loam_vm *vm, const struct loam_host *h, struct loam_vm_status *st,
		    loam_err *err)
{
	if (!h->agent_path || (strcmp(h->transport, "ssh") == 0 && !h->host_key))
		return loam_fail(err, LOAM_E_CONFLICT,
				 "host %s is not prepared yet (no agent); VM '%s' has no console "
				 "until it boots there",
				 h->name, vm->name);
	struct loam_transport *t = NULL;
	if (api_host_transport(h, &t, err) < 0)
		return -1;
	struct loam_agent a = {.t = t,
			       .path = h->agent_path,
			       .state_dir = h->state_dir,
			       .timeout_ms = CONSOLE_AGENT_TIMEOUT_MS};
	int rc = loam_agent_vm_wait_ready(&a, vm->id, 0, st, err);
	loam_transport_close(t);
	return rc < 0 ? loam_err_wrap(err, "read the console of VM %s on %s", vm->name, h->name)
		      : 0;
}

int api_vms_console(struct api_req *r, loam_err *err)
{
	cleanup_vm struct loam_vm vm = {0};
	if (api_vm_lookup(r, r->seg[1], &vm, err) < 0)
		return -1;
	if (!vm.host_id)
		return loam_fail(err, LOAM_E_CONFLICT,
				 "VM '%s' has no host yet (%s); its console starts once it is "
				 "placed and boots",
				 vm.name, loam_vm_state_name(vm.state));
	cleanup_host struct loam_host h = {0};
	int found = loam_host_get(r->db, vm.host_id, &h, err);
	if (found <= 0)
		return found < 0 ? -1 : api_host_not_found(vm.host_name ? vm.host_name : "?", err);
	cleanup_vm_status struct loam_vm_status st = {0};
	if (ask_host(&vm, &h, &st, err) < 0)
		return -1;
	r->out = json_pack("{s:s, s:s, s:s, s:b, s:b, s:o}", "name", vm.name, "state",
			   loam_vm_state_name(vm.state), "host", h.name, "running", st.running,
			   "ready", st.ready, "lines", lines_of(st.serial_tail));
	return 0;
}
