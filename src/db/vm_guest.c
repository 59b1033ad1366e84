/*
 * A VM's login (user and keys) and its guest's SSH host keys
 * (db/vm_guest.h). Every key line is parsed before it is stored, so what
 * reaches a seed or a known_hosts file is always one well-formed key.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/vm_guest.h"
#include "lib/cleanup.h"
#include "lib/ssh_key.h"
#include "lib/valid.h"
#include "lib/xalloc.h"

void loam_vm_login_free(struct loam_vm_login *l)
{
	free(l->user);
	for (size_t i = 0; i < l->nkeys; i++)
		free(l->keys[i]);
	free(l->keys);
	*l = (struct loam_vm_login){0};
}

static int check_user(const char *user, size_t nkeys, loam_err *err)
{
	if (loam_valid_unix_user(user, err) < 0)
		return loam_err_wrap(err, "login user");
	if (strcmp(user, "root") == 0)
		return loam_fail(err, LOAM_E_INVALID,
				 "the login user cannot be root: pick another name (the user gets "
				 "passwordless sudo)");
	if (nkeys == 0)
		return loam_fail(err, LOAM_E_INVALID, "a VM needs at least one SSH public key");
	if (nkeys > LOAM_VM_MAX_SSH_KEYS)
		return loam_fail(err, LOAM_E_INVALID, "at most %d SSH keys per VM, not %zu",
				 LOAM_VM_MAX_SSH_KEYS, nkeys);
	return 0;
}

/* The keys as canonical lines, or NULL (err set) at the first bad one. */
static char **canonical_lines(const char *const *keys, size_t nkeys, loam_err *err)
{
	char **lines = xcalloc(nkeys, sizeof(*lines));
	for (size_t i = 0; i < nkeys; i++) {
		char what[32];
		snprintf(what, sizeof(what), "SSH key %zu", i + 1);
		cleanup_ssh_key struct loam_ssh_key k = {0};
		if (loam_ssh_key_parse(what, keys[i], &k, err) < 0) {
			for (size_t j = 0; j < i; j++)
				free(lines[j]);
			free(lines);
			return NULL;
		}
		lines[i] = loam_ssh_key_line(&k);
	}
	return lines;
}

struct login_tx {
	const char *vm_id, *user;
	char **lines;
	size_t n;
};

static int login_insert_tx(struct loam_db *db, void *ctx, loam_err *err)
{
	const struct login_tx *t = ctx;
	if (loam_db_exec(db, "INSERT INTO vm_login (vm_id, login_user) VALUES (?, ?)",
			 DB_ARGS(DB_TEXT(t->vm_id), DB_TEXT(t->user)), NULL, err) < 0)
		return -1;
	for (size_t i = 0; i < t->n; i++)
		if (loam_db_exec(
			db, "INSERT INTO vm_ssh_key (vm_id, position, key_line) VALUES (?, ?, ?)",
			DB_ARGS(DB_TEXT(t->vm_id), DB_INT((int64_t)i), DB_TEXT(t->lines[i])), NULL,
			err) < 0)
			return -1;
	return 0;
}

int loam_vm_login_insert(struct loam_db *db, const char *vm_id, const char *user,
			 const char *const *keys, size_t nkeys, loam_err *err)
{
	if (check_user(user, nkeys, err) < 0)
		return -1;
	char **lines = canonical_lines(keys, nkeys, err);
	if (!lines)
		return -1;
	struct login_tx t = {.vm_id = vm_id, .user = user, .lines = lines, .n = nkeys};
	int rc = loam_db_tx(db, login_insert_tx, &t, err);
	for (size_t i = 0; i < nkeys; i++)
		free(lines[i]);
	free(lines);
	return rc < 0 ? loam_err_wrap(err, "store the VM's login") : 0;
}

int loam_vm_login_load(struct loam_db *db, const char *vm_id, struct loam_vm_login *out,
		       loam_err *err)
{
	*out = (struct loam_vm_login){0};
	cleanup_rows struct loam_db_rows *u = NULL, *k = NULL;
	if (loam_db_query(db, "SELECT login_user FROM vm_login WHERE vm_id = ?",
			  DB_ARGS(DB_TEXT(vm_id)), &u, err) < 0 ||
	    loam_db_query(db, "SELECT key_line FROM vm_ssh_key WHERE vm_id = ? ORDER BY position",
			  DB_ARGS(DB_TEXT(vm_id)), &k, err) < 0)
		return -1;
	if (loam_db_rows_count(u) == 0)
		return 0;
	out->user = loam_db_rows_dup(u, 0, 0);
	out->nkeys = loam_db_rows_count(k);
	out->keys = xcalloc(out->nkeys ? out->nkeys : 1, sizeof(*out->keys));
	for (size_t i = 0; i < out->nkeys; i++)
		out->keys[i] = loam_db_rows_dup(k, i, 0);
	return 0;
}

void loam_vm_host_keys_free(struct loam_vm_host_key *keys, size_t n)
{
	for (size_t i = 0; keys && i < n; i++) {
		free(keys[i].type);
		free(keys[i].line);
		free(keys[i].fingerprint);
	}
	free(keys);
}

struct host_keys_tx {
	const char *vm_id;
	struct loam_ssh_key *keys;
	size_t n;
};

static int host_keys_tx(struct loam_db *db, void *ctx, loam_err *err)
{
	const struct host_keys_tx *t = ctx;
	if (loam_db_exec(db, "DELETE FROM vm_host_key WHERE vm_id = ?", DB_ARGS(DB_TEXT(t->vm_id)),
			 NULL, err) < 0)
		return -1;
	for (size_t i = 0; i < t->n; i++) {
		const struct loam_ssh_key *k = &t->keys[i];
		cleanup_free char *line = xasprintf("%s %s", k->type, k->blob64);
		if (loam_db_exec(db, "DELETE FROM vm_host_key WHERE vm_id = ? AND key_type = ?",
				 DB_ARGS(DB_TEXT(t->vm_id), DB_TEXT(k->type)), NULL, err) < 0 ||
		    loam_db_exec(db,
				 "INSERT INTO vm_host_key (vm_id, key_type, key_line, fingerprint) "
				 "VALUES (?, ?, ?, ?)",
				 DB_ARGS(DB_TEXT(t->vm_id), DB_TEXT(k->type), DB_TEXT(line),
					 DB_TEXT(k->fingerprint)),
				 NULL, err) < 0)
			return -1;
	}
	return 0;
}

int loam_vm_host_keys_set(struct loam_db *db, const char *vm_id, const char *const *lines, size_t n,
			  loam_err *err)
{
	struct loam_ssh_key *keys = xcalloc(n ? n : 1, sizeof(*keys));
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = loam_ssh_key_parse("guest host key", lines[i], &keys[i], err);
	struct host_keys_tx t = {.vm_id = vm_id, .keys = keys, .n = n};
	if (rc == 0)
		rc = loam_db_tx(db, host_keys_tx, &t, err);
	for (size_t i = 0; i < n; i++)
		loam_ssh_key_free(&keys[i]);
	free(keys);
	return rc;
}

int loam_vm_host_keys(struct loam_db *db, const char *vm_id, struct loam_vm_host_key **out,
		      size_t *n, loam_err *err)
{
	*out = NULL;
	*n = 0;
	cleanup_rows struct loam_db_rows *r = NULL;
	if (loam_db_query(db,
			  "SELECT key_type, key_line, fingerprint FROM vm_host_key WHERE vm_id = ? "
			  "ORDER BY key_type",
			  DB_ARGS(DB_TEXT(vm_id)), &r, err) < 0)
		return -1;
	*n = loam_db_rows_count(r);
	*out = xcalloc(*n ? *n : 1, sizeof(**out));
	for (size_t i = 0; i < *n; i++)
		(*out)[i] = (struct loam_vm_host_key){.type = loam_db_rows_dup(r, i, 0),
						      .line = loam_db_rows_dup(r, i, 1),
						      .fingerprint = loam_db_rows_dup(r, i, 2)};
	return 0;
}
