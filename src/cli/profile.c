/*
 * The CLI's profile file (issue 16): where loamd is, which token to send
 * and which CA to trust, so that a user with a project token need not set
 * environment variables. $LOAM_CONFIG, else $XDG_CONFIG_HOME/loam/config,
 * else ~/.config/loam/config:
 *
 *     # lines "key = value"; keys url, token, cacert
 *     url = https://loam.example:7070
 *     token = loam_0123...
 *     cacert = /etc/loam/ca.pem
 *     [staging]            # a profile, chosen by $LOAM_PROFILE
 *     url = https://staging.example:7070
 *
 * Keys before any [section] are the defaults a profile overrides. A file
 * that holds a token and that others may read is refused, as ssh refuses
 * such a key: the message says how to fix it.
 */
#include "cli/profile.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lib/cleanup.h"
#include "lib/fs.h"
#include "lib/xalloc.h"

#define PROFILE_MAX ((size_t)64 * 1024)

static char *config_path(void)
{
	const char *env = getenv("LOAM_CONFIG");
	if (env && *env)
		return xstrdup(env);
	const char *xdg = getenv("XDG_CONFIG_HOME");
	if (xdg && *xdg)
		return xasprintf("%s/loam/config", xdg);
	const char *home = getenv("HOME");
	return home && *home ? xasprintf("%s/.config/loam/config", home) : NULL;
}

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
		s[--n] = '\0';
	return s;
}

static void set(char **field, const char *value)
{
	free(*field);
	*field = xstrdup(value);
}

/* One "key = value" line; unknown keys are refused (a typo must not pass
 * silently). */
static int take_line(char *line, struct loam_profile *p, const char *path, int lineno,
		     loam_err *err)
{
	char *eq = strchr(line, '=');
	if (!eq)
		return loam_fail(err, LOAM_E_INVALID, "%s:%d: expected 'key = value'", path,
				 lineno);
	*eq = '\0';
	const char *key = trim(line), *value = trim(eq + 1);
	const struct {
		const char *name;
		char **field;
	} keys[] = {{"url", &p->url}, {"token", &p->token}, {"cacert", &p->cacert}};
	for (size_t i = 0; i < sizeof(keys) / sizeof(*keys); i++)
		if (strcmp(key, keys[i].name) == 0) {
			set(keys[i].field, value);
			return 0;
		}
	return loam_fail(err, LOAM_E_INVALID,
			 "%s:%d: unknown key '%.32s'; known: url, token, cacert", path, lineno,
			 key);
}

static int parse(char *text, const char *path, const char *want, struct loam_profile *p,
		 loam_err *err)
{
	bool in_section = false, active = true, found = !want;
	int lineno = 0;
	char *save = NULL;
	for (char *raw = strtok_r(text, "\n", &save); raw; raw = strtok_r(NULL, "\n", &save)) {
		lineno++;
		char *line = trim(raw);
		if (!*line || *line == '#')
			continue;
		size_t n = strlen(line);
		if (*line == '[' && line[n - 1] == ']') {
			line[n - 1] = '\0';
			in_section = true;
			active = want && strcmp(trim(line + 1), want) == 0;
			found |= active;
			continue;
		}
		if ((active || !in_section) && take_line(line, p, path, lineno, err) < 0)
			return -1;
	}
	if (!found)
		return loam_fail(err, LOAM_E_INVALID, "%s has no profile [%s] ($LOAM_PROFILE)",
				 path, want);
	return 0;
}

static int check_private(const char *path, const struct loam_profile *p, loam_err *err)
{
	struct stat st;
	if (!p->token || stat(path, &st) < 0 || !(st.st_mode & 077))
		return 0;
	return loam_fail(err, LOAM_E_INVALID,
			 "%s holds a token and others can read it (mode %03o); fix it with: "
			 "chmod 600 %s",
			 path, (unsigned)(st.st_mode & 0777), path);
}

int loam_profile_load(struct loam_profile *p, loam_err *err)
{
	*p = (struct loam_profile){0};
	cleanup_free char *path = config_path();
	if (!path)
		return 0;
	cleanup_free char *text = NULL;
	size_t len = 0;
	if (loam_read_file(path, PROFILE_MAX, &text, &len, err) < 0) {
		if (loam_err_kind_of(*err) == LOAM_E_NOTFOUND && !getenv("LOAM_PROFILE")) {
			loam_err_free(err);
			return 0;
		}
		return -1;
	}
	p->path = xstrdup(path);
	const char *want = getenv("LOAM_PROFILE");
	if (parse(text, path, want && *want ? want : NULL, p, err) < 0 ||
	    check_private(path, p, err) < 0) {
		loam_profile_free(p);
		return -1;
	}
	return 0;
}

void loam_profile_free(struct loam_profile *p)
{
	free(p->path);
	free(p->url);
	free(p->token);
	free(p->cacert);
	*p = (struct loam_profile){0};
}
