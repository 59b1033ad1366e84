/*
 * Every hop target of every prog loamd runs names a label that exists:
 *  - each registered prog declares, for every label, the labels it may go
 *    to next, and each of those is a label of the prog (the engine refuses
 *    an outcome to an undeclared one at run time);
 *  - in the progs' sources (src/progs), every loam_hop(...) target and
 *    every resume label a parked VM keeps is a label of the file's prog,
 *    whether written as a string or as one of the label macros;
 *  - the check itself fails on a prog that names a missing label.
 */
#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "lib/cleanup.h"
#include "lib/fs.h"
#include "lib/log.h"
#include "progs/progs.h"
#include "t.h"

static const char *source_dir(void)
{
	const char *s = getenv("LOAM_SOURCE_DIR");
	return s && *s ? s : ".";
}

static void test_registered_progs_declare_real_labels(void)
{
	int n = 0;
	for (const struct loam_prog *p; (p = loam_engine_prog_at(n)); n++) {
		cleanup_err loam_err err = NULL;
		if (loam_engine_check_prog(p, &err) < 0)
			fprintf(stderr, "%s\n", loam_err_msg(err));
		CHECK(err == NULL);
	}
	CHECK(n >= 2); /* cloudify and vm at least */
}

static int broken_label(struct loam_strand_ctx *c, struct loam_outcome *o, loam_err *e)
{
	(void)c;
	(void)e;
	*o = loam_hop("nowhere");
	return 0;
}

static const struct loam_label broken_labels[] = {{"start", broken_label, 0, LOAM_NEXT("nowhere")},
						  {0, 0, 0, 0}};
static const struct loam_prog broken = {"t_broken", broken_labels, NULL, NULL};
static const struct loam_label undeclared[] = {{"start", broken_label, 0, NULL}, {0, 0, 0, 0}};
static const struct loam_prog silent = {"t_silent", undeclared, NULL, NULL};

static void test_check_refuses_a_missing_label(void)
{
	cleanup_err loam_err e1 = NULL, e2 = NULL;
	CHECK(loam_engine_check_prog(&broken, &e1) < 0);
	CHECK_CONTAINS(loam_err_msg(e1), "nowhere");
	CHECK(loam_engine_check_prog(&silent, &e2) < 0);
	CHECK_CONTAINS(loam_err_msg(e2), "declares no next labels");
}

/* ---- the sources ---- */

/* The string a label macro stands for, from `#define NAME "value"` lines
 * of text; NULL when text defines no such macro. */
static char *macro_value(const char *text, const char *name)
{
	size_t n = strlen(name);
	for (const char *p = strstr(text, "#define "); p; p = strstr(p + 1, "#define ")) {
		const char *q = p + 8;
		if (strncmp(q, name, n) != 0 || !isspace((unsigned char)q[n]))
			continue;
		const char *open = strchr(q + n, '"'), *eol = strchr(q, '\n');
		const char *close = open ? strchr(open + 1, '"') : NULL;
		if (open && close && (!eol || open < eol))
			return strndup(open + 1, (size_t)(close - open - 1));
	}
	return NULL;
}

/* Checks every macro and string literal in [from, to) as a label of prog. */
static void check_targets(const struct loam_prog *prog, const char *defs, const char *file,
			  const char *from, const char *to, int *seen)
{
	for (const char *p = from; p < to; p++) {
		char *label = NULL;
		if (*p == '"') {
			const char *end = strchr(p + 1, '"');
			label = strndup(p + 1, (size_t)(end - p - 1));
			p = end;
		} else if (isupper((unsigned char)*p) &&
			   (p == from || !isalnum((unsigned char)p[-1]))) {
			const char *end = p;
			while (isupper((unsigned char)*end) || *end == '_' ||
			       isdigit((unsigned char)*end))
				end++;
			cleanup_free char *name = strndup(p, (size_t)(end - p));
			label = macro_value(defs, name);
			p = end - 1;
		}
		if (!label)
			continue;
		(*seen)++;
		if (!loam_engine_find_label(prog, label))
			fprintf(stderr, "%s: '%s' is no label of prog %s\n", file, label,
				prog->name);
		CHECK(loam_engine_find_label(prog, label) != NULL);
		free(label);
	}
}

/* The arguments of every call of fn( in text, from after "fn(" to its ')'. */
static void check_calls(const struct loam_prog *prog, const char *defs, const char *file,
			const char *text, const char *fn, int skip_args, int *seen)
{
	for (const char *p = strstr(text, fn); p; p = strstr(p + 1, fn)) {
		const char *a = p + strlen(fn);
		int depth = 1, commas = 0;
		const char *start = a;
		for (; *a && depth; a++) {
			depth += *a == '(' ? 1 : *a == ')' ? -1 : 0;
			if (depth == 1 && *a == ',' && ++commas == skip_args)
				start = a + 1;
		}
		if (commas >= skip_args) {
			const char *end = a - 1;
			if (skip_args) /* one argument: up to the next comma */
				for (const char *c = start; c < end; c++)
					if (*c == ',') {
						end = c;
						break;
					}
			check_targets(prog, defs, file, start, end, seen);
		}
	}
}

static void check_file(const char *dir, const char *name, const char *prog_name, const char *defs,
		       int *seen)
{
	const struct loam_prog *prog = loam_engine_find_prog(prog_name);
	cleanup_free char *path = NULL, *text = NULL;
	if (asprintf(&path, "%s/%s", dir, name) < 0)
		abort();
	cleanup_err loam_err err = NULL;
	CHECK_INT(loam_read_file(path, 0, &text, NULL, &err), 0);
	if (!text || !prog)
		return;
	cleanup_free char *all = NULL;
	if (asprintf(&all, "%s\n%s", defs, text) < 0)
		abort();
	check_calls(prog, all, name, text, "loam_hop(", 0, seen);
	check_calls(prog, all, name, text, "vm_fail(", 2, seen);
	check_calls(prog, all, name, text, "VM_FRAME_RESUME, json_string(", 0, seen);
}

static void test_sources_hop_to_real_labels(void)
{
	cleanup_free char *dir = NULL, *defs = NULL;
	if (asprintf(&dir, "%s/src/progs", source_dir()) < 0)
		abort();
	cleanup_free char *hdr = NULL;
	if (asprintf(&hdr, "%s/vm_prog.h", dir) < 0)
		abort();
	cleanup_err loam_err err = NULL;
	CHECK_INT(loam_read_file(hdr, 0, &defs, NULL, &err), 0); /* a missing tree fails */
	cleanup_dir DIR *d = opendir(dir);
	CHECK(d != NULL);
	int files = 0, seen = 0;
	for (struct dirent *e; d && (e = readdir(d));) {
		size_t n = strlen(e->d_name);
		if (n < 3 || strcmp(e->d_name + n - 2, ".c") != 0)
			continue;
		const char *prog = strncmp(e->d_name, "vm", 2) == 0	    ? LOAM_PROG_VM
				   : strncmp(e->d_name, "cloudify", 8) == 0 ? LOAM_PROG_CLOUDIFY
									    : NULL;
		if (!prog)
			continue;
		check_file(dir, e->d_name, prog, defs ? defs : "", &seen);
		files++;
	}
	CHECK(files >= 6); /* vm.c, vm_*.c, cloudify.c */
	fprintf(stderr, "%d files, %d hop targets checked\n", files, seen);
	CHECK(seen >= 25); /* the scan found the hops it is about */
}

int main(void)
{
	loam_log_init("test_prog_labels", false, LOAM_LOG_WARN);
	loam_progs_register_all();
	RUN(test_registered_progs_declare_real_labels);
	RUN(test_check_refuses_a_missing_label);
	RUN(test_sources_hop_to_real_labels);
	return t_summary();
}
