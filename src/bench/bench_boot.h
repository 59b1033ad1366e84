/*
 * `loam bench boot`: loam's boot overhead against the same VMM argv run
 * directly (bench_boot.c); dispatched from cmd_bench.c.
 */
#ifndef LOAM_CLI_BENCH_BOOT_H
#define LOAM_CLI_BENCH_BOOT_H

/* argv starts at "boot". */
int loam_bench_boot(int argc, char **argv);

#endif
