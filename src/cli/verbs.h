/*
 * The sub-verbs of `loam host`, `loam vm`, `loam project`, `loam token` and
 * `loam sizes`, one file each (host_add.c, vm_create.c, ...), and the
 * helpers they share (common.c).
 * Each gets argv starting at its own name and returns the exit status.
 */
#ifndef LOAM_CLI_VERBS_H
#define LOAM_CLI_VERBS_H

#include <jansson.h>
#include <stdbool.h>

#include "cli/client.h"

struct loam_cli_verb {
	const char *name;
	const char *usage;
	int (*run)(int argc, char **argv);
};

/* Runs the verb named argv[1] from the table, or prints the group's usage. */
int loam_cli_dispatch(const char *group, const struct loam_cli_verb *verbs, size_t n, int argc,
		      char **argv);

/* `VERB [--project P] [--json]`: GET path, every page; JSON with --json,
 * else a table. --project narrows to one project (the operator's). */
int loam_cli_list(int argc, char **argv, const char *usage, const char *path,
		  const struct loam_col *cols, size_t ncols);
/* `VERB NAME [--project P] [--json]`: GET prefix/NAME; JSON with --json,
 * else fields. */
int loam_cli_show(int argc, char **argv, const char *usage, const char *prefix);
/* The same, the fields printed by print. */
int loam_cli_show_with(int argc, char **argv, const char *usage, const char *prefix,
		       void (*print)(const json_t *doc));
/* `VERB NAME [--project P]`: METHOD prefix/NAME[/suffix]; prints what
 * `done` says. */
int loam_cli_name_call(int argc, char **argv, const char *usage, const char *method,
		       const char *prefix, const char *suffix, const char *done);
/* Calls the API once, opening a client; reports errors itself. */
int loam_cli_call_once(const char *method, const char *path, const json_t *body, json_t **out,
		       loam_err *err);
/* Validates a resource name given on the command line. */
int loam_cli_check_name(const char *what, const char *name, loam_err *err);
/* "/v1/vms/NAME[/suffix][?project=P]" in *out (the caller frees), the VM
 * and project names checked: the path of a VM verb with --project. */
int loam_cli_vm_path(const char *name, const char *project, const char *suffix, char **out,
		     loam_err *err);
/* "/v1/hosts/NAME[/suffix]" in *out (the caller frees), the name checked. */
int loam_cli_host_path(const char *name, const char *suffix, char **out, loam_err *err);
/* The string at key, or "" when absent or not a string. */
const char *loam_cli_str(const json_t *o, const char *key);
/* ssh_keys.c: the public key lines (a JSON array) of the n files, or of
 * the first default key file (~/.ssh/id_ed25519.pub, id_ecdsa.pub,
 * id_rsa.pub) when n is 0; LOAM_E_INVALID naming the file for a bad one,
 * and saying how to make one when there is none. */
#define LOAM_CLI_MAX_KEY_FILES 32
int loam_cli_ssh_keys(const char *const *files, size_t n, json_t **keys, loam_err *err);
/* Sleeps ms milliseconds (the pace of the verbs that follow a state). */
void loam_cli_sleep_ms(long ms);

int loam_host_add(int argc, char **argv);
int loam_host_ls(int argc, char **argv);
int loam_host_show(int argc, char **argv);
int loam_host_set(int argc, char **argv);
int loam_host_rm(int argc, char **argv);
int loam_vm_create(int argc, char **argv);
int loam_vm_ls(int argc, char **argv);
int loam_vm_show(int argc, char **argv);
int loam_vm_stop(int argc, char **argv);
int loam_vm_start(int argc, char **argv);
int loam_vm_reboot(int argc, char **argv);
int loam_vm_rm(int argc, char **argv);
int loam_vm_firewall(int argc, char **argv);
int loam_vm_ssh(int argc, char **argv);
int loam_vm_console(int argc, char **argv);
int loam_host_upgrade(int argc, char **argv);
int loam_artifact_ls(int argc, char **argv);
int loam_image_ls(int argc, char **argv);
int loam_artifact_gc(int argc, char **argv);
int loam_project_create(int argc, char **argv);
int loam_project_ls(int argc, char **argv);
int loam_project_show(int argc, char **argv);
int loam_project_set(int argc, char **argv);
int loam_project_rm(int argc, char **argv);
int loam_token_create(int argc, char **argv);
int loam_token_ls(int argc, char **argv);
int loam_token_revoke(int argc, char **argv);
/* A project's JSON (GET /v1/projects/NAME) as a usage table. */
void loam_cli_print_project(const json_t *p);
/* METHOD /v1/projects/NAME with body, then the project as JSON or as a
 * usage table; returns the exit status. */
int loam_cli_project_call(const char *method, const char *name, const json_t *body, bool json);
int loam_artifact_drain(int argc, char **argv);
int loam_artifact_undrain(int argc, char **argv);
/* drain and undrain: POST /v1/artifacts/weight with `weight` (undrain's
 * default; --weight W replaces it when it is above 0). */
int loam_cli_artifact_weight(int argc, char **argv, const char *usage, long weight);
int loam_vm_upgrade(int argc, char **argv);

#endif
