/*
 * Arch registry and name normalization. The registry is generated from the
 * folders under src/arch/ (see src/lib/CMakeLists.txt); this file knows no
 * arch by name. Normalization is a whitelist: an input is accepted only when
 * some arch claims its CPU part, and refused with a reason otherwise.
 */
#include "arch/arch.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>

#define LOAM_ARCH_ENTRY(n) extern const struct loam_arch loam_arch_##n;
#include "arch_list.h"
#undef LOAM_ARCH_ENTRY

#define LOAM_ARCH_ENTRY(n) &loam_arch_##n,
const struct loam_arch *const loam_arches[] = {
#include "arch_list.h"
    NULL,
};
#undef LOAM_ARCH_ENTRY

#define NAME_MAX_LEN 64

/* Operating systems that may lead an OCI platform ("linux/arm64/v8"). */
static const char *const oci_oses[] = {"linux",	  "windows", "darwin",	"freebsd",
				       "netbsd",  "openbsd", "illumos", "solaris",
				       "android", "ios",     NULL};

const char *loam_arch_supported_list(void)
{
	static char list[128];
	if (list[0])
		return list;
	size_t n = 0;
	for (size_t i = 0; loam_arches[i]; i++) {
		const char *sep = i == 0 ? "" : ", ";
		n +=
		    (size_t)snprintf(list + n, sizeof(list) - n, "%s%s", sep, loam_arches[i]->name);
	}
	return list;
}

const struct loam_arch *loam_arch_by_name(const char *canonical)
{
	for (size_t i = 0; canonical && loam_arches[i]; i++)
		if (strcmp(loam_arches[i]->name, canonical) == 0)
			return loam_arches[i];
	return NULL;
}

static bool in_list(const char *const *list, const char *s)
{
	for (; list && *list; list++)
		if (strcmp(*list, s) == 0)
			return true;
	return false;
}

/* "v1".."v4", after an optional '-' or '_'. */
static bool is_level_suffix(const char *s)
{
	if (*s == '-' || *s == '_')
		s++;
	return s[0] == 'v' && s[1] >= '1' && s[1] <= '4' && s[2] == '\0';
}

static bool matches_level_name(const struct loam_arch *a, const char *s)
{
	for (const char *const *p = a->level_prefixes; p && *p; p++) {
		size_t n = strlen(*p);
		if (strncmp(s, *p, n) == 0 && is_level_suffix(s + n))
			return true;
	}
	return false;
}

enum match { MATCH_NONE, MATCH_OK, MATCH_REFUSED };

/* Matches a bare CPU name (already lower case, spaces removed). */
static enum match match_cpu(const char *cpu, const struct loam_arch **out, const char **reason)
{
	for (size_t i = 0; loam_arches[i]; i++) {
		const struct loam_arch *a = loam_arches[i];
		if (in_list(a->aliases, cpu) || matches_level_name(a, cpu)) {
			*out = a;
			return MATCH_OK;
		}
	}
	for (size_t i = 0; loam_arches[i]; i++)
		for (const struct loam_arch_refusal *r = loam_arches[i]->refusals; r && r->name;
		     r++)
			if (strcmp(r->name, cpu) == 0) {
				*reason = r->reason;
				return MATCH_REFUSED;
			}
	return MATCH_NONE;
}

static int refuse(loam_err *err, const char *input, const char *reason)
{
	return loam_fail(err, LOAM_E_INVALID, "'%s': %s; supported: %s", input, reason,
			 loam_arch_supported_list());
}

static int unknown(loam_err *err, const char *input)
{
	return loam_fail(err, LOAM_E_INVALID, "'%s' is not a supported architecture; supported: %s",
			 input, loam_arch_supported_list());
}

/* "linux/arm64/v8", "linux/amd64", "arm64/v8": splits off the CPU part and
 * the variant (NULL when absent). */
static int oci_split(char *s, char **cpu, char **variant, const char *input, loam_err *err)
{
	char *parts[4] = {0};
	int n = 0;
	for (char *save = NULL, *tok = strtok_r(s, "/", &save); tok;
	     tok = strtok_r(NULL, "/", &save)) {
		if (n == 3)
			return loam_fail(
			    err, LOAM_E_INVALID,
			    "'%s': too many parts for an OCI platform (os/arch/variant); "
			    "supported: %s",
			    input, loam_arch_supported_list());
		parts[n++] = tok;
	}
	int first = n > 0 && in_list(oci_oses, parts[0]) ? 1 : 0;
	if (first >= n || (first == 0 && n == 3))
		return unknown(err, input);
	*cpu = parts[first];
	*variant = first + 1 < n ? parts[first + 1] : NULL;
	return 0;
}

/* "v8" in the arch's list admits "v8" and "v8.2". */
static bool variant_fits(const struct loam_arch *a, const char *variant)
{
	for (const char *const *v = a->oci_variants; v && *v; v++) {
		size_t n = strlen(*v);
		if (strncmp(variant, *v, n) == 0 && (variant[n] == '\0' || variant[n] == '.'))
			return true;
	}
	return false;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* A GNU triple's ABI part may make an otherwise fine CPU unusable. */
static const char *triple_abi_refusal(const char *rest)
{
	if (ends_with(rest, "ilp32") || ends_with(rest, "x32"))
		return "ILP32 ABI with 32-bit pointers; loam runs only LP64 hosts";
	return NULL;
}

static int check_charset(const char *input, loam_err *err)
{
	size_t n = strlen(input);
	if (n == 0)
		return loam_fail(err, LOAM_E_INVALID, "empty architecture name; supported: %s",
				 loam_arch_supported_list());
	if (n > NAME_MAX_LEN)
		return loam_fail(err, LOAM_E_INVALID,
				 "architecture name of %zu characters is too "
				 "long; supported: %s",
				 n, loam_arch_supported_list());
	for (const char *p = input; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if (!isalnum(c) && !strchr(" _./-", c))
			return loam_fail(err, LOAM_E_INVALID,
					 "architecture name contains a control character or shell "
					 "metacharacter (byte 0x%02x at offset %td); supported: %s",
					 c, p - input, loam_arch_supported_list());
	}
	return 0;
}

/* The arch of a finished match, or NULL with *err saying why not. */
static const struct loam_arch *matched(enum match m, const struct loam_arch *a, const char *reason,
				       const char *input, loam_err *err)
{
	if (m == MATCH_OK)
		return a;
	if (m == MATCH_REFUSED)
		refuse(err, input, reason);
	else
		unknown(err, input);
	return NULL;
}

static const struct loam_arch *resolve(const char *input, char *s, loam_err *err)
{
	const struct loam_arch *a = NULL;
	const char *reason = NULL;
	enum match m = match_cpu(s, &a, &reason);
	if (m != MATCH_NONE)
		return matched(m, a, reason, input, err);
	char *cpu = s, *variant = NULL;
	if (strchr(s, '/')) {
		if (oci_split(s, &cpu, &variant, input, err) < 0)
			return NULL;
	} else if (strchr(s, '-')) {
		char *dash = strchr(s, '-');
		*dash = '\0';
		if ((reason = triple_abi_refusal(dash + 1)))
			return matched(MATCH_REFUSED, NULL, reason, input, err);
	} else {
		return matched(MATCH_NONE, NULL, NULL, input, err);
	}
	m = match_cpu(cpu, &a, &reason);
	if (m == MATCH_OK && variant && !variant_fits(a, variant))
		return matched(MATCH_REFUSED, NULL, "unknown OCI variant for this architecture",
			       input, err);
	return matched(m, a, reason, input, err);
}

const struct loam_arch *loam_arch_normalize(const char *input, loam_err *err)
{
	if (!input || check_charset(input, err) < 0) {
		if (!input)
			loam_fail(err, LOAM_E_INVALID, "missing architecture name");
		return NULL;
	}
	/* Lower case, and spaces dropped: "Intel 64" and "intel64" are one name. */
	char s[NAME_MAX_LEN + 1];
	size_t n = 0;
	for (const char *p = input; *p; p++)
		if (*p != ' ')
			s[n++] = (char)tolower((unsigned char)*p);
	s[n] = '\0';
	if (n == 0)
		return unknown(err, input), NULL;
	return resolve(input, s, err);
}

const struct loam_arch *loam_arch_of_this_machine(loam_err *err)
{
	struct utsname u;
	if (uname(&u) < 0) {
		loam_fail_errno(err, "uname");
		return NULL;
	}
	const struct loam_arch *a = loam_arch_normalize(u.machine, err);
	if (!a)
		loam_err_wrap(err, "this machine");
	return a;
}

int loam_size_find(const struct loam_arch *arch, const char *name, const struct loam_size **out,
		   loam_err *err)
{
	for (const struct loam_size *s = arch->sizes; s->name; s++)
		if (name && strcmp(s->name, name) == 0) {
			*out = s;
			return 0;
		}
	char list[256];
	size_t n = 0;
	for (const struct loam_size *s = arch->sizes; s->name && n < sizeof(list); s++)
		n += (size_t)snprintf(list + n, sizeof(list) - n, "%s%s", n ? ", " : "", s->name);
	return loam_fail(err, LOAM_E_INVALID, "unknown size '%.64s' for %s; valid sizes: %s",
			 name ? name : "", arch->name, list);
}
