/*
 * A bundle's system packages (depends.h). dpkg-query answers for all the
 * names in one call, reporting each installed package with its arch, so a
 * library installed only for a foreign arch (multiarch) counts as missing.
 * apt-get then runs once for the missing ones, as an argv with a fixed
 * environment: no shell, no prompt, never an upgrade of what is installed
 * (--no-upgrade), and it waits for a dpkg lock another apt run holds
 * instead of failing at once.
 */
#include "host/depends.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/argv.h"
#include "lib/cleanup.h"
#include "lib/spawn.h"
#include "lib/xalloc.h"

#define QUERY_TIMEOUT_MS 60000
#define APT_TIMEOUT_MS	 (30 * 60 * 1000)

/* Full path of a program in PATH (the usual dirs when PATH is unset), or
 * "" when absent: a PATH without dpkg is how a test plays a host without. */
static void find_program(const char *name, char out[512])
{
	const char *path = getenv("PATH");
	cleanup_free char *dirs = xstrdup(path && *path ? path : "/usr/sbin:/usr/bin:/sbin:/bin");
	char *save = NULL;
	out[0] = '\0';
	for (char *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		if (*d != '/')
			continue;
		snprintf(out, 512, "%s/%s", d, name);
		if (access(out, X_OK) == 0)
			return;
	}
	out[0] = '\0';
}

/* This machine's Debian arch ("amd64"), from dpkg; "" when unknown. */
static void native_arch(char out[32])
{
	const char *argv[] = {"dpkg", "--print-architecture", NULL};
	struct loam_spawn_opts o = {.argv = argv, .timeout_ms = QUERY_TIMEOUT_MS};
	struct loam_spawn_result r = {0};
	out[0] = '\0';
	if (loam_spawn(&o, &r, NULL) == 0 && r.exit_status == 0 && !r.signaled)
		snprintf(out, 32, "%.*s", (int)strcspn(r.out, "\r\n"), r.out);
	loam_spawn_result_free(&r);
}

/* Whether dpkg-query's lines ("name[:arch]\tarch\tstatus") hold `name`
 * installed for arch or all. */
static bool listed_installed(const char *lines, const char *name, const char *arch)
{
	size_t n = strlen(name);
	for (const char *l = lines; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		if (strncmp(l, name, n) != 0 || (l[n] != '\t' && l[n] != ':'))
			continue;
		char pkg_arch[32] = "", status[32] = "";
		const char *tab = strchr(l, '\t');
		if (tab && sscanf(tab + 1, "%31[^\t]\t%31[^\n]", pkg_arch, status) == 2 &&
		    strcmp(status, "installed") == 0 &&
		    (strcmp(pkg_arch, "all") == 0 || !*arch || strcmp(pkg_arch, arch) == 0))
			return true;
	}
	return false;
}

/* The names dpkg does not have installed, into missing. */
static int find_missing(const char *dpkg_query, const char *const *names, size_t n,
			struct loam_argv *missing)
{
	char arch[32];
	native_arch(arch);
	cleanup_argv struct loam_argv argv = {0};
	loam_argv_add(&argv, dpkg_query);
	loam_argv_add(&argv, "-W");
	loam_argv_add(&argv, "-f");
	loam_argv_add(&argv, "${binary:Package}\t${Architecture}\t${db:Status-Status}\n");
	loam_argv_add(&argv, "--");
	for (size_t i = 0; i < n; i++)
		loam_argv_add(&argv, names[i]);
	struct loam_spawn_opts o = {.argv = loam_argv_view(&argv), .timeout_ms = QUERY_TIMEOUT_MS};
	struct loam_spawn_result r = {0};
	if (loam_spawn(&o, &r, NULL) < 0)
		return -1;
	/* exit 1 only says that some name is not known to dpkg */
	int rc = r.signaled || r.timed_out || r.exit_status > 1 ? -1 : 0;
	for (size_t i = 0; rc == 0 && i < n; i++)
		if (!listed_installed(r.out, names[i], arch))
			loam_argv_add(missing, names[i]);
	loam_spawn_result_free(&r);
	return rc;
}

static json_t *verdict(const char *state, const struct loam_argv *missing, const char *error)
{
	json_t *list = json_array();
	for (size_t i = 0; i < missing->n; i++)
		json_array_append_new(list, json_string(missing->v[i]));
	json_t *j = json_pack("{s:s, s:o}", "state", state, "missing", list);
	if (error)
		json_object_set_new(j, "error", json_string(error));
	return j;
}

/* "a, b, c" of the names, for messages. */
static char *joined(const struct loam_argv *names)
{
	char *s = xstrdup("");
	for (size_t i = 0; i < names->n; i++) {
		char *next = xasprintf("%s%s%s", s, i ? " " : "", names->v[i]);
		free(s);
		s = next;
	}
	return s;
}

static json_t *apt_install(const char *apt_get, const struct loam_argv *missing, const char *what)
{
	cleanup_argv struct loam_argv argv = {0};
	/* --no-upgrade: a missing package is installed, an installed one (which
	 * dpkg-query may not see, e.g. under another admin dir) left alone */
	const char *words[] = {apt_get,
			       "install",
			       "-y",
			       "-q",
			       "--no-install-recommends",
			       "--no-upgrade",
			       "-o",
			       "DPkg::Lock::Timeout=300",
			       "--"};
	for (size_t i = 0; i < sizeof(words) / sizeof(*words); i++)
		loam_argv_add(&argv, words[i]);
	for (size_t i = 0; i < missing->n; i++)
		loam_argv_add(&argv, missing->v[i]);
	const char *envp[] = {"DEBIAN_FRONTEND=noninteractive",
			      "PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL};
	struct loam_spawn_opts o = {
	    .argv = loam_argv_view(&argv), .envp = envp, .timeout_ms = APT_TIMEOUT_MS};
	struct loam_spawn_result r = {0};
	cleanup_err loam_err err = NULL;
	int rc = loam_spawn_ok(&o, &r, &err);
	loam_spawn_result_free(&r);
	if (rc == 0)
		return verdict("installed", missing, NULL);
	cleanup_free char *names = joined(missing);
	cleanup_free char *msg =
	    xasprintf("%s: apt-get install %s failed: %s", what, names, loam_err_msg(err));
	return verdict("failed", missing, msg);
}

/* The packages (missing) must come another way; why says what the host
 * lacks. */
static json_t *unavailable(const struct loam_argv *missing, const char *what, const char *why)
{
	cleanup_free char *list = joined(missing);
	cleanup_free char *msg =
	    xasprintf("%s: this host %s (%s); install them another way", what, why, list);
	return verdict("unavailable", missing, msg);
}

json_t *host_depends_ensure(const char *const *names, size_t n, const char *what)
{
	cleanup_argv struct loam_argv missing = {0};
	char dpkg_query[512], apt_get[512];
	find_program("dpkg-query", dpkg_query);
	if (!*dpkg_query) {
		for (size_t i = 0; i < n; i++)
			loam_argv_add(&missing, names[i]);
		return unavailable(&missing, what,
				   "has no dpkg-query to check the packages it needs");
	}
	if (find_missing(dpkg_query, names, n, &missing) < 0)
		return verdict("failed", &missing, "dpkg-query failed");
	if (missing.n == 0)
		return verdict("present", &missing, NULL);
	find_program("apt-get", apt_get);
	if (*apt_get)
		return apt_install(apt_get, &missing, what);
	return unavailable(&missing, what, "misses packages and has no apt-get to install them");
}
