/*
 * loam-bench's benchmarks, one entry each; main.c dispatches on argv[1].
 * Each gets argv starting at its own name ("alloc", "boot", "vms"), prints
 * one JSON object with its figures and their ratio against its baseline,
 * and returns the exit status (2 for bad arguments).
 */
#ifndef LOAM_BENCH_H
#define LOAM_BENCH_H

#include <stddef.h>

#include "lib/err.h"

/* The allocator against the seed's SQL allocator (bench_alloc.c). */
int loam_bench_alloc_main(int argc, char **argv);
/* One VM's boot through loam against the same QEMU argv run directly
 * (bench_boot.c). */
int loam_bench_boot_main(int argc, char **argv);
/* Many VMs at once on simulated hosts (bench_vms.c). */
int loam_bench_vms_main(int argc, char **argv);

/* Makes $TMPDIR/loam-bench-NAME.XXXXXX (else under /tmp) into dir. */
int loam_bench_mkdtemp(const char *name, char *dir, size_t len, loam_err *err);

#endif
