/*
 * A main of its own for the 200-VM benchmark (src/bench/bench_vms.c) until
 * this branch has loam-bench (wave/alloc makes it; then `loam-bench vms`).
 */
int loam_bench_vms_main(int argc, char **argv);

int main(int argc, char **argv)
{
	return loam_bench_vms_main(argc, argv);
}
