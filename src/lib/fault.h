/*
 * Named fault points for the crash harness (tests/crash/). In a test build
 * (LOAM_TEST_BUILD, the sanitizer tree) LOAM_FAULT=name[:count] makes the
 * process SIGKILL itself the count-th time (default 1) it passes the point
 * called name, so a test can crash loamd at the worst moments: inside a DB
 * transaction before COMMIT, right after a host command returned and before
 * the DB records it, right after a prog label ran. Release builds compile
 * every point to nothing. The points are listed in docs/crash.md.
 */
#ifndef LOAM_FAULT_H
#define LOAM_FAULT_H

#ifdef LOAM_TEST_BUILD
void loam_fault_point(const char *name);
#else
static inline void loam_fault_point(const char *name)
{
	(void)name;
}
#endif

#endif
