/*
 * The loam CLI: one file per verb (cmd_<verb>.c), as crun does; main.c only
 * dispatches. Each command gets argv starting at its own name and returns
 * the exit status.
 */
#ifndef LOAM_CLI_H
#define LOAM_CLI_H

struct loam_cli_cmd {
	const char *name;
	const char *summary;
	int (*run)(int argc, char **argv);
};

int loam_cmd_bench(int argc, char **argv);
int loam_cmd_host(int argc, char **argv);
int loam_cmd_vm(int argc, char **argv);
int loam_cmd_sizes(int argc, char **argv);
int loam_cmd_artifact(int argc, char **argv);
int loam_cmd_image(int argc, char **argv);
int loam_cmd_project(int argc, char **argv);
int loam_cmd_token(int argc, char **argv);

#endif
