/*
 * The readiness line on a guest's serial log. The agent reads the log
 * while the guest may still be writing it, so a line cut short must not
 * count: it once reported an arm64 guest as "aa" (CI, test_vm_flow).
 */
#include <string.h>

#include "host/vm_status.h"
#include "t.h"

static char *machine_of(const char *log)
{
	json_t *m = vm_guest_machine(log, log ? strlen(log) : 0);
	char *out = m ? strdup(json_string_value(m)) : NULL;
	json_decref(m);
	return out;
}

static void test_complete_line_counts(void)
{
	char *m = machine_of("BdsDxe: loading\r\nLOAM-READY machine=aarch64\r\nlogin:");
	CHECK_STR(m, "aarch64");
	free(m);
	m = machine_of("LOAM-READY machine=x86_64\n");
	CHECK_STR(m, "x86_64");
	free(m);
}

static void test_cut_line_does_not_count(void)
{
	CHECK(machine_of("LOAM-READY machine=aa") == NULL);
	CHECK(machine_of("LOAM-READY machine=") == NULL);
	CHECK(machine_of("LOAM-READY machi") == NULL);
	CHECK(machine_of("LOAM-READY machine=\r\n") == NULL);
}

static void test_no_log(void)
{
	CHECK(machine_of(NULL) == NULL);
	CHECK(machine_of("") == NULL);
	CHECK(machine_of("booting\r\n") == NULL);
}

static void test_odd_machine_is_refused(void)
{
	/* A hostile guest prints what it likes; only a plain word is taken. */
	CHECK(machine_of("LOAM-READY machine=x86;rm -rf /\n") == NULL);
}

int main(void)
{
	RUN(test_complete_line_counts);
	RUN(test_cut_line_does_not_count);
	RUN(test_no_log);
	RUN(test_odd_machine_is_refused);
	return t_summary();
}
