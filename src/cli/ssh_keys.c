/*
 * The public keys `loam vm create` gives the VM's login user: each
 * --ssh-key FILE, or else the first of ~/.ssh/id_ed25519.pub, id_ecdsa.pub
 * and id_rsa.pub of the user running loam. Each key line is parsed here
 * (lib/ssh_key.h) so that a bad file is named before anything is sent;
 * the API checks the lines again. A VM without a key cannot be logged in
 * to, so no key at all is refused with how to make one.
 */
#include "cli/verbs.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/fs.h"
#include "lib/ssh_key.h"
#include "lib/xalloc.h"

/* A public key file is a few lines; anything larger is not one. */
#define KEY_FILE_MAX ((size_t)64 * 1024)

static const char *const default_keys[] = {"id_ed25519.pub", "id_ecdsa.pub", "id_rsa.pub"};

/* Opens path for reading, a regular file of at most KEY_FILE_MAX bytes
 * (O_NONBLOCK: a FIFO named by mistake must not hang the open). */
static int open_key_file(const char *path, int *fd_out, loam_err *err)
{
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return loam_fail(err, LOAM_E_INVALID, "cannot open SSH key file %s: %s", path,
				 strerror(errno));
	struct stat st;
	if (fstat(fd, &st) < 0)
		return loam_fail_errno(err, "stat %s", path);
	if (!S_ISREG(st.st_mode))
		return loam_fail(err, LOAM_E_INVALID,
				 "SSH key file %s is not a regular file; give a public key file "
				 "such as ~/.ssh/id_ed25519.pub",
				 path);
	if ((size_t)st.st_size > KEY_FILE_MAX)
		return loam_fail(err, LOAM_E_INVALID,
				 "SSH key file %s is larger than %zu KiB: not a public key file",
				 path, KEY_FILE_MAX / 1024);
	*fd_out = loam_steal_fd(&fd);
	return 0;
}

/* One line of the file: a key appended to keys, or a refusal naming it. */
static int add_line(const char *path, size_t lineno, const char *line, json_t *keys, loam_err *err)
{
	if (strncmp(line, "-----BEGIN", 10) == 0)
		return loam_fail(err, LOAM_E_INVALID,
				 "%s is a private key; give the public one (%s.pub) to --ssh-key",
				 path, path);
	cleanup_free char *what = xasprintf("SSH key in %s line %zu", path, lineno);
	cleanup_ssh_key struct loam_ssh_key k = {0};
	if (loam_ssh_key_parse(what, line, &k, err) < 0)
		return -1;
	cleanup_free char *canonical = loam_ssh_key_line(&k);
	json_array_append_new(keys, json_string(canonical));
	return 0;
}

/* Appends the keys of one file: every line but blank ones and comments. */
static int read_key_file(const char *path, json_t *keys, loam_err *err)
{
	cleanup_close int fd = -1;
	cleanup_free char *text = NULL;
	size_t len = 0, before = json_array_size(keys);
	if (open_key_file(path, &fd, err) < 0 ||
	    loam_read_fd(fd, path, KEY_FILE_MAX, &text, &len, err) < 0)
		return -1;
	if (strlen(text) != len)
		return loam_fail(err, LOAM_E_INVALID, "SSH key file %s holds a NUL byte", path);
	size_t lineno = 0;
	for (char *save = NULL, *line = strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		lineno++;
		line += strspn(line, " \t\r");
		if (*line == '\0' || *line == '#')
			continue;
		if (add_line(path, lineno, line, keys, err) < 0)
			return -1;
	}
	if (json_array_size(keys) == before)
		return loam_fail(err, LOAM_E_INVALID, "SSH key file %s holds no public key", path);
	return 0;
}

/* $HOME, or the passwd entry's home when HOME is unset or relative. */
static const char *home_dir(void)
{
	const char *home = getenv("HOME");
	if (home && *home == '/')
		return home;
	const struct passwd *pw = getpwuid(getuid());
	return pw && pw->pw_dir ? pw->pw_dir : NULL;
}

/* The first of the default key files that exists, read into keys. */
static int read_default_key(json_t *keys, loam_err *err)
{
	const char *home = home_dir();
	for (size_t i = 0; home && i < sizeof(default_keys) / sizeof(*default_keys); i++) {
		cleanup_free char *path = xasprintf("%s/.ssh/%s", home, default_keys[i]);
		if (access(path, F_OK) != 0 && errno == ENOENT)
			continue;
		return read_key_file(path, keys, err);
	}
	return loam_fail(
	    err, LOAM_E_INVALID,
	    "no SSH public key to log in to the VM with: found none of "
	    "~/.ssh/id_ed25519.pub, id_ecdsa.pub, id_rsa.pub (HOME=%s); make one with: "
	    "ssh-keygen -t ed25519, or give one with --ssh-key FILE",
	    home ? home : "unset");
}

int loam_cli_ssh_keys(const char *const *files, size_t n, json_t **keys, loam_err *err)
{
	json_t *list = json_array();
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = read_key_file(files[i], list, err);
	if (rc == 0 && n == 0)
		rc = read_default_key(list, err);
	if (rc < 0) {
		json_decref(list);
		return -1;
	}
	*keys = list;
	return 0;
}
