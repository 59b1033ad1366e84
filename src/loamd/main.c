/*
 * loamd: the control plane. Starts, in order: the state dir and API token,
 * the database (migrated, arches and sizes synced; from then on no SQLite
 * file is ever created again, and a watch stops loamd if the file is
 * deleted or replaced), the allocator, the HTTP API and the artifact
 * store's own listener (the artifact URL handed to the progs needs its
 * port), and the prog engine's dispatcher threads; then waits for SIGTERM
 * or SIGINT and stops them (the API first). Everything durable lives in
 * the database, so a kill -9 at any point loses nothing.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc/alloc.h"
#include "api/api.h"
#include "db/db.h"
#include "db/records.h"
#include "engine/engine.h"
#include "lib/cleanup.h"
#include "lib/fs.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "loamd/loamd.h"
#include "artifact/manifest.h"
#include "progs/images.h"
#include "progs/progs.h"
#include "progs/watch.h"
#include "transport/transport.h"

struct loamd {
	struct loamd_opts opts;
	char *token;
	char *metrics_token;
	struct loam_db *db;
	struct loam_allocator *alloc;
	struct loam_engine *engine;
	struct loam_api *api;
	char owner[128];
	struct loamd_app app;
	struct loam_artifact_manifest manifest;
	bool have_manifest;
	char *artifact_base_url;
	uint16_t artifact_port;
	struct loamd_dbwatch *dbwatch;
};

/* The database file was deleted or replaced: nothing loamd could still
 * write would be kept, so it stops serving and exits at once. */
static void storage_lost(const char *why)
{
	log_error("stopping: %s", why);
	_exit(LOAMD_EXIT_STORAGE);
}

static void storage_lost_api(void *arg, const char *why)
{
	(void)arg;
	storage_lost(why);
}

static int prepare_state_dir(const char *dir, loam_err *err)
{
	if (loam_mkdir_p(dir, 0700, err) < 0)
		return loam_err_wrap(err, "state dir");
	struct stat st;
	if (stat(dir, &st) < 0)
		return loam_fail_errno(err, "stat %s", dir);
	if (!S_ISDIR(st.st_mode))
		return loam_fail(err, LOAM_E_INVALID, "state dir %s is not a directory", dir);
	return 0;
}

static int open_database(struct loamd *d, loam_err *err)
{
	if (loam_db_open(d->opts.db_url, &d->db, err) < 0)
		return loam_err_wrap(err, "open database");
	if (loam_db_migrate(d->db, err) < 0)
		return loam_err_wrap(err, "migrate database");
	if (loam_db_sync_sizes(d->db, err) < 0)
		return loam_err_wrap(err, "sync arches and sizes");
	loam_db_forbid_create();
	return loamd_dbwatch_start(d->db, 500, storage_lost, &d->dbwatch, err);
}

/* The store's manifest: what hosts install, and so the images a VM may
 * name (the API gets it too). */
static int load_manifest(struct loamd *d, loam_err *err)
{
	cleanup_free char *path = xasprintf("%s/manifest.json", d->opts.artifact_store);
	if (access(path, R_OK) != 0) {
		log_warn("no manifest.json in the artifact store %s (build it with: make "
			 "artifacts); hosts get no VMM, firmware or images",
			 d->opts.artifact_store);
		return 0;
	}
	if (loam_artifact_manifest_load(path, &d->manifest, err) < 0)
		return loam_err_wrap(err, "artifact store %s", d->opts.artifact_store);
	d->have_manifest = true;
	return 0;
}

/*
 * The URL hosts fetch the store from: loamd's own listen address, with a
 * wildcard address replaced by the loopback one (the local host; remote
 * hosts need a routable --listen).
 */
static int artifact_url(struct loamd *d, loam_err *err)
{
	if (!d->have_manifest)
		return 0;
	char addr[128];
	uint16_t ignored;
	if (loam_api_parse_listen(d->opts.artifact_listen, addr, sizeof(addr), &ignored, err) < 0)
		return -1;
	const char *host = strcmp(addr, "0.0.0.0") == 0 ? "127.0.0.1"
			   : strcmp(addr, "::") == 0	? "::1"
							: addr;
	bool v6 = strchr(host, ':') != NULL;
	d->artifact_base_url = xasprintf("http://%s%s%s:%u/artifacts", v6 ? "[" : "", host,
					 v6 ? "]" : "", d->artifact_port);
	log_info("artifact store %s served at %s", d->opts.artifact_store, d->artifact_base_url);
	return 0;
}

static void wake_engine(void *engine)
{
	loam_engine_wake(engine);
}

static int start_engine(struct loamd *d, loam_err *err)
{
	char host[64] = "loamd";
	gethostname(host, sizeof(host) - 1);
	snprintf(d->owner, sizeof(d->owner), "%s:%d", host, (int)getpid());
	void *app = NULL;
	if (artifact_url(d, err) < 0)
		return -1;
	d->app = (struct loamd_app){.pool = loam_transport_pool_new(),
				    .alloc = d->alloc,
				    .dist_dir = d->opts.dist_dir,
				    .state_dir = d->opts.state_dir,
				    .heartbeat_ms = d->opts.heartbeat_s * 1000,
				    .artifact_base_url = d->artifact_base_url,
				    .manifest = d->have_manifest ? &d->manifest : NULL,
				    .artifact_store = d->opts.artifact_store,
				    .images = loam_image_index_new()};
	if (loam_image_index_reload(d->app.images, d->db, err) < 0)
		return loam_err_wrap(err, "read installed images");
	if (loam_watch_new(&d->app, d->opts.db_url, &d->app.watch, err) < 0)
		return -1;
	/* Without a store no host has images: placement then ignores them and
	 * prep says what is missing. */
	if (d->have_manifest)
		loam_alloc_set_image_arch_check(d->alloc, loam_image_index_present, d->app.images);
	app = &d->app;
	loam_progs_register_all();
	struct loam_engine_opts eo = {.db_url = d->opts.db_url,
				      .owner = d->owner,
				      .workers = d->opts.workers,
				      .lease_ms = d->opts.lease_s * 1000,
				      .app = app};
	if (loam_engine_start(&eo, &d->engine, err) < 0)
		return loam_err_wrap(err, "start the engine");
	loam_api_on_change(d->api, wake_engine, d->engine);
	return 0;
}

static int start_api(struct loamd *d, loam_err *err)
{
	struct loam_api_config cfg = {.state_dir = d->opts.state_dir,
				      .db_url = d->opts.db_url,
				      .token = d->token,
				      .alloc = d->alloc,
				      .artifact_store = d->opts.artifact_store,
				      .manifest = d->have_manifest ? &d->manifest : NULL,
				      .host_state_roots = loam_argv_view(&d->opts.host_state_roots),
				      .ssh_key_roots = loam_argv_view(&d->opts.ssh_key_roots),
				      .create_per_s = d->opts.create_per_s,
				      .create_burst = (unsigned)d->opts.create_burst,
				      .metrics_token = d->metrics_token};
	if (loam_api_new(&cfg, &d->api, err) < 0)
		return -1;
	loam_api_on_fatal(d->api, storage_lost_api, NULL);
	struct loam_api_listen_opts lo = {.listen = d->opts.listen,
					  .tls_cert_file = d->opts.tls_cert,
					  .tls_key_file = d->opts.tls_key,
					  .per_ip_connections =
					      (unsigned)d->opts.per_ip_connections};
	uint16_t port = 0;
	if (loam_api_listen(d->api, &lo, &port, err) < 0 ||
	    loam_api_listen_artifacts(d->api, d->opts.artifact_listen, &d->artifact_port, err) < 0)
		return -1;
	char addr[128];
	uint16_t ignored;
	loam_api_parse_listen(d->opts.listen, addr, sizeof(addr), &ignored, err);
	bool v6 = strchr(addr, ':') != NULL;
	log_info("listening on %s://%s%s%s:%u (state dir %s, token in %s/token), artifacts on "
		 "port %u",
		 d->opts.tls_cert ? "https" : "http", v6 ? "[" : "", addr, v6 ? "]" : "", port,
		 d->opts.state_dir, d->opts.state_dir, d->artifact_port);
	return 0;
}

static int start(struct loamd *d, loam_err *err)
{
	if (prepare_state_dir(d->opts.state_dir, err) < 0 ||
	    loamd_token_load_or_create(d->opts.state_dir, &d->token, err) < 0 ||
	    loamd_token_file_load_or_create(d->opts.state_dir, "metrics-token", &d->metrics_token,
					    err) < 0 ||
	    open_database(d, err) < 0)
		return -1;
	if (loam_alloc_new(d->db, &d->alloc, err) < 0)
		return loam_err_wrap(err, "start the allocator");
	/* The API first: the artifact URL handed to the progs needs its port. */
	return load_manifest(d, err) < 0 || start_api(d, err) < 0 || start_engine(d, err) < 0 ? -1
											      : 0;
}

static void stop(struct loamd *d)
{
	loamd_dbwatch_stop(d->dbwatch);
	loam_api_free(d->api);
	if (d->engine)
		loam_engine_stop(d->engine);
	loam_watch_free(d->app.watch);
	if (d->app.pool)
		loam_transport_pool_free(d->app.pool);
	loam_image_index_free(d->app.images);
	if (d->have_manifest)
		loam_artifact_manifest_free(&d->manifest);
	free(d->artifact_base_url);
	if (d->alloc)
		loam_alloc_free(d->alloc);
	if (d->db)
		loam_db_close(d->db);
	free(d->token);
	free(d->metrics_token);
	loamd_free_opts(&d->opts);
}

static int wait_for_signal(const sigset_t *set)
{
	int sig = 0;
	sigwait(set, &sig);
	return sig;
}

int main(int argc, char **argv)
{
	struct loamd d = {0};
	cleanup_err loam_err err = NULL;
	loam_log_init("loamd", false, LOAM_LOG_INFO);
	char addr[128];
	uint16_t port;
	if (loamd_parse_opts(argc, argv, &d.opts, &err) < 0 ||
	    (d.opts.listen &&
	     loam_api_parse_listen(d.opts.listen, addr, sizeof(addr), &port, &err) < 0) ||
	    loamd_default_opts(&d.opts, &err) < 0 || loamd_check_listen(&d.opts, &err) < 0) {
		fprintf(stderr, "loamd: %s\n", loam_err_msg(err));
		loamd_free_opts(&d.opts);
		return 2;
	}
	loam_log_init("loamd", d.opts.log_json, (enum loam_log_level)d.opts.log_level);
	/* Blocked before any thread starts, so that every thread inherits the
	 * mask and only sigwait() below sees them. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	int rc = 0;
	if (start(&d, &err) < 0) {
		log_error("%s", loam_err_msg(err));
		rc = loam_err_exit_status(err);
	} else {
		int sig = wait_for_signal(&set);
		log_info("%s: stopping", strsignal(sig));
	}
	stop(&d);
	return rc;
}
