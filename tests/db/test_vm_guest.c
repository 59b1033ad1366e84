/*
 * A VM's login and its guest's host keys (db/vm_guest.h) on SQLite and
 * PostgreSQL, and the OpenSSH key lines behind both (lib/ssh_key.h):
 * fingerprints equal ssh-keygen -l's, and every malformed or hostile line
 * (wrong type, bad base64, a blob of another type, a second line smuggled
 * in, control characters) is refused with nothing written.
 */
#include <stdlib.h>
#include <string.h>

#include "db/host.h"
#include "db/records.h"
#include "db/vm.h"
#include "db/vm_guest.h"
#include "lib/cleanup.h"
#include "lib/ssh_key.h"
#include "lib/xalloc.h"
#include "t.h"
#include "tdb.h"

/* Made with ssh-keygen; fingerprints from ssh-keygen -lf. */
#define ED25519	   "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBcqKu/Q5LPhNjeShfBWOuexKIf/XG9YW2rVPvcKLWec"
#define ED25519_FP "SHA256:V2la911bjHaC7mpD0tfHZvO50Sc2G0are7IQQrJf0+Y"
#define ECDSA                                                                                      \
	"ecdsa-sha2-nistp256 "                                                                     \
	"AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBG5bVptcm0W73EcdNIwtmijdZWnbDU7w"     \
	"2kNc3Q2SXSR8t53iRjk2biNVTbfU1mxrFJtlMLv17G92y9A3lV3oOmE="
#define ECDSA_FP "SHA256:u4Y9+uRfgVRkn/ZoB0EJCMEv1UERdKm3/E2AAhdyMjA"

static int backend;

static void test_parse_good(void)
{
	cleanup_err loam_err err = NULL;
	cleanup_ssh_key struct loam_ssh_key k = {0};
	CHECK_INT(loam_ssh_key_parse("key", "  " ED25519 " ada@laptop\n", &k, &err), 0);
	CHECK_STR(k.type, "ssh-ed25519");
	CHECK_STR(k.comment, "ada@laptop");
	CHECK_STR(k.fingerprint, ED25519_FP);
	cleanup_free char *line = loam_ssh_key_line(&k);
	CHECK_STR(line, ED25519 " ada@laptop");
	cleanup_ssh_key struct loam_ssh_key e = {0};
	CHECK_INT(loam_ssh_key_parse("key", ECDSA, &e, &err), 0);
	CHECK_STR(e.fingerprint, ECDSA_FP);
	CHECK_STR(e.comment, "");
}

static void refused(const char *line, const char *needle)
{
	cleanup_err loam_err err = NULL;
	cleanup_ssh_key struct loam_ssh_key k = {0};
	CHECK_INT(loam_ssh_key_parse("key", line, &k, &err), -1);
	CHECK(err && loam_err_kind_of(err) == LOAM_E_INVALID);
	CHECK(err && strstr(loam_err_msg(err), needle) != NULL);
	CHECK(k.type == NULL);
}

static void test_parse_refused(void)
{
	refused("", "empty");
	refused("ssh-dss AAAAB3NzaC1kc3MAAACBAP", "not an SSH public key type");
	refused("ssh-ed25519 not*base64", "not a valid ssh-ed25519");
	/* an ed25519 blob presented as RSA */
	refused("ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIBcqKu/Q5LPhNjeShfBWOuexKIf/XG9YW2rVPvcKLWec",
		"not a valid ssh-rsa");
	refused(ED25519 " a\n" ECDSA, "more than one line");
	refused(ED25519 " bell\a", "control");
	refused(ED25519 " caf\xc3\xa9", "non-ASCII");
	char *huge = xmalloc(LOAM_SSH_KEY_MAX + 64);
	memset(huge, 'A', LOAM_SSH_KEY_MAX + 63);
	huge[LOAM_SSH_KEY_MAX + 63] = '\0';
	refused(huge, "longer than");
	free(huge);
}

static struct loam_db *fresh_with_vm(struct tdb *t, const char *tag, char id[27])
{
	tdb_fresh(t, backend, tag);
	struct loam_db *db = tdb_open_migrated(t);
	cleanup_err loam_err err = NULL;
	struct loam_host_new h = {.id = "h",
				  .name = "h",
				  .local = true,
				  .ssh_user = "root",
				  .ssh_port = 22,
				  .state_dir = "/var/lib/loam",
				  .location = "default"};
	CHECK_INT(loam_host_insert(db, &h, &err), 0);
	struct loam_vm_spec spec = {.name = "web", .arch = "x64", .size = "standard-2"};
	CHECK_INT(loam_vm_insert(db, &spec, id, &err), 0);
	return db;
}

static int64_t count(struct loam_db *db, const char *sql)
{
	cleanup_rows struct loam_db_rows *r = NULL;
	CHECK_INT(loam_db_query(db, sql, DB_NOARGS, &r, NULL), 0);
	return r ? loam_db_rows_int(r, 0, 0) : -1;
}

static void test_login(void)
{
	struct tdb t;
	char id[27];
	struct loam_db *db = fresh_with_vm(&t, "login", id);
	cleanup_err loam_err err = NULL;
	const char *bad_keys[] = {ED25519, "ssh-ed25519 AAAA"};
	CHECK_INT(loam_vm_login_insert(db, id, "loam", bad_keys, 2, &err), -1);
	CHECK(err && strstr(loam_err_msg(err), "SSH key 2") != NULL);
	loam_err_free(&err);
	const char *keys[] = {ECDSA " second", ED25519 "  ada@laptop "};
	CHECK_INT(loam_vm_login_insert(db, id, "root", keys, 2, &err), -1);
	loam_err_free(&err);
	CHECK_INT(loam_vm_login_insert(db, id, "Bad;user", keys, 2, &err), -1);
	loam_err_free(&err);
	CHECK_INT(loam_vm_login_insert(db, id, "ada", keys, 0, &err), -1);
	loam_err_free(&err);
	CHECK_INT(count(db, "SELECT count(*) FROM vm_login"), 0);
	CHECK_INT(count(db, "SELECT count(*) FROM vm_ssh_key"), 0);
	CHECK_INT(loam_vm_login_insert(db, id, "ada", keys, 2, &err), 0);
	cleanup_vm_login struct loam_vm_login l = {0};
	CHECK_INT(loam_vm_login_load(db, id, &l, &err), 0);
	CHECK_STR(l.user, "ada");
	CHECK_INT(l.nkeys, 2);
	CHECK_STR(l.nkeys == 2 ? l.keys[0] : NULL, ECDSA " second");
	CHECK_STR(l.nkeys == 2 ? l.keys[1] : NULL, ED25519 " ada@laptop");
	cleanup_vm_login struct loam_vm_login none = {0};
	CHECK_INT(loam_vm_login_load(db, "nope", &none, &err), 0);
	CHECK(none.user == NULL && none.nkeys == 0);
	loam_db_close(db);
	tdb_done(&t);
}

static void test_host_keys(void)
{
	struct tdb t;
	char id[27];
	struct loam_db *db = fresh_with_vm(&t, "hostkeys", id);
	cleanup_err loam_err err = NULL;
	const char *first[] = {ED25519 " root@web", ECDSA " root@web"};
	CHECK_INT(loam_vm_host_keys_set(db, id, first, 2, &err), 0);
	struct loam_vm_host_key *k = NULL;
	size_t n = 0;
	CHECK_INT(loam_vm_host_keys(db, id, &k, &n, &err), 0);
	CHECK_INT(n, 2);
	if (n == 2) {
		CHECK_STR(k[0].type, "ecdsa-sha2-nistp256");
		CHECK_STR(k[0].fingerprint, ECDSA_FP);
		CHECK_STR(k[1].line, ED25519);
		CHECK_STR(k[1].fingerprint, ED25519_FP);
	}
	loam_vm_host_keys_free(k, n);
	/* a bad line replaces nothing */
	const char *bad[] = {ED25519, "ssh-ed25519 AAAA"};
	CHECK_INT(loam_vm_host_keys_set(db, id, bad, 2, &err), -1);
	loam_err_free(&err);
	CHECK_INT(count(db, "SELECT count(*) FROM vm_host_key"), 2);
	const char *again[] = {ED25519};
	CHECK_INT(loam_vm_host_keys_set(db, id, again, 1, &err), 0);
	CHECK_INT(count(db, "SELECT count(*) FROM vm_host_key"), 1);
	CHECK_INT(loam_vm_delete(db, id, &err), 0);
	CHECK_INT(count(db, "SELECT count(*) FROM vm_host_key"), 0);
	loam_db_close(db);
	tdb_done(&t);
}

int main(void)
{
	RUN(test_parse_good);
	RUN(test_parse_refused);
	for (backend = tdb_first_backend(); backend < tdb_backends(); backend++) {
		printf("backend %s\n", tdb_backend_name(backend));
		RUN(test_login);
		RUN(test_host_keys);
	}
	if (tdb_backends() < 2)
		printf("note: LOAM_TEST_PG_URL unset, PostgreSQL cases skipped\n");
	return t_summary();
}
