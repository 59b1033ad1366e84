/*
 * A tiny test harness: CHECK macros that record failures with file and line,
 * and a summary line CTest and CI can read ("N passed, N failed"). A test
 * executable exits non-zero if any check failed.
 */
#ifndef LOAM_T_H
#define LOAM_T_H

#include <stdio.h>
#include <string.h>

static int t_failed_checks, t_tests_run, t_tests_failed;
static const char *t_current;

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: %s: CHECK(%s) failed\n", __FILE__, __LINE__,       \
				t_current, #cond);                                                 \
			t_failed_checks++;                                                         \
		}                                                                                  \
	} while (0)

#define CHECK_INT(a, b)                                                                            \
	do {                                                                                       \
		long long _a = (long long)(a), _b = (long long)(b);                                \
		if (_a != _b) {                                                                    \
			fprintf(stderr, "%s:%d: %s: %s == %lld, expected %lld\n", __FILE__,        \
				__LINE__, t_current, #a, _a, _b);                                  \
			t_failed_checks++;                                                         \
		}                                                                                  \
	} while (0)

#define CHECK_STR(a, b)                                                                            \
	do {                                                                                       \
		const char *_a = (a), *_b = (b);                                                   \
		if (!_a || !_b || strcmp(_a, _b) != 0) {                                           \
			fprintf(stderr, "%s:%d: %s: %s == \"%s\", expected \"%s\"\n", __FILE__,    \
				__LINE__, t_current, #a, _a ? _a : "(null)", _b ? _b : "(null)");  \
			t_failed_checks++;                                                         \
		}                                                                                  \
	} while (0)

#define CHECK_CONTAINS(hay, needle)                                                                \
	do {                                                                                       \
		const char *_h = (hay), *_n = (needle);                                            \
		if (!_h || !strstr(_h, _n)) {                                                      \
			fprintf(stderr, "%s:%d: %s: \"%s\" does not contain \"%s\"\n", __FILE__,   \
				__LINE__, t_current, _h ? _h : "(null)", _n);                      \
			t_failed_checks++;                                                         \
		}                                                                                  \
	} while (0)

#define RUN(fn)                                                                                    \
	do {                                                                                       \
		int _before = t_failed_checks;                                                     \
		t_current = #fn;                                                                   \
		fn();                                                                              \
		t_tests_run++;                                                                     \
		if (t_failed_checks != _before)                                                    \
			t_tests_failed++;                                                          \
	} while (0)

static inline int t_summary(void)
{
	printf("%d passed, %d failed\n", t_tests_run - t_tests_failed, t_tests_failed);
	return t_tests_failed ? 1 : 0;
}

#endif
