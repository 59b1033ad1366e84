/*
 * The artifact store's own listener (issue 16): hosts download the VMM,
 * firmware and images from here while cloudifying or upgrading, so they
 * never compete with API clients for the API's connections. Read-only,
 * unauthenticated and plain HTTP: every file is checked by sha256 on the
 * host. Only GET and HEAD of /artifacts/... are answered.
 */
#include "api/internal.h"

#include <microhttpd.h>
#include <string.h>

#include "api/http_common.h"
#include "artifact/serve.h"

#define ARTIFACT_CONNECTIONS  256
#define ARTIFACT_PER_IP	      16
#define ARTIFACT_IDLE_TIMEOUT 30

/* route: GET /artifacts/{path} (its own listener) */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *data,
				  size_t *data_size, void **con_cls)
{
	(void)version;
	(void)data;
	struct loam_api *api = cls;
	if (!*con_cls) {
		*con_cls = conn;
		return MHD_YES;
	}
	if (*data_size)
		return MHD_NO; /* nobody uploads to the store */
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return http_send_json(conn, 405,
				      http_error_body("invalid", "the artifact store is read-only"),
				      NULL, 0);
	if (strncmp(url, "/artifacts/", 11) != 0)
		return http_send_json(conn, 404,
				      http_error_body("not_found",
						      "this listener serves only "
						      "/artifacts/; the API has its own"),
				      NULL, 0);
	if (!api->artifact_store)
		return http_send_json(conn, 404,
				      http_error_body("not_found",
						      "no artifact store in this loamd (start it "
						      "with --artifact-store DIR)"),
				      NULL, 0);
	return loam_artifact_serve(conn, api->artifact_store, url + 11) == MHD_YES ? MHD_YES
										   : MHD_NO;
}

int loam_api_listen_artifacts(struct loam_api *api, const char *listen, uint16_t *bound_port,
			      loam_err *err)
{
	union http_sockaddr sa;
	bool v6 = false;
	if (http_listen_addr(listen, &sa, &v6, err) < 0)
		return -1;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
			 MHD_USE_ERROR_LOG | (v6 ? MHD_USE_IPv6 : 0);
	api->artifacts_mhd = MHD_start_daemon(
	    flags, 0, NULL, NULL, on_request, api, MHD_OPTION_SOCK_ADDR, &sa.sa,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)ARTIFACT_IDLE_TIMEOUT,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)ARTIFACT_CONNECTIONS,
	    MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)ARTIFACT_PER_IP, MHD_OPTION_END);
	if (!api->artifacts_mhd)
		return loam_fail(err, LOAM_E_IO,
				 "cannot serve the artifact store on %s (in use? pick another with "
				 "--artifact-listen)",
				 listen);
	*bound_port = http_bound_port(api->artifacts_mhd);
	return 0;
}
