/*
 * The readiness line and the SSH host keys on a guest's serial log. The
 * agent reads the log while the guest may still be writing it, so a line
 * cut short must not count: it once reported an arm64 guest as "aa" (CI,
 * test_vm_flow). The guest writes the log, so what it prints is hostile.
 */
#include <stdio.h>
#include <stdlib.h>
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

#define ED25519 "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEokYMmkxG8DkJ6ogFyrxb/JsaU8/UqqdcjqHZ1xXSH8"
#define ECDSA                                                                                      \
	"ecdsa-sha2-nistp256 "                                                                     \
	"AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBB2fbx3epwJ4QzQsVYJ6DItENLM3OGeJDbzx" \
	"wTZ"                                                                                      \
	"p/i/YEv8tdhvprzDvWZwOVpebbU70VsvX6I0Ju0L9pSHi2Z0="
#define BEGIN "-----BEGIN SSH HOST KEY KEYS-----\r\n"
#define END   "-----END SSH HOST KEY KEYS-----\r\n"

/* The keys found, joined by '|'. */
static char *keys_of(const char *log)
{
	json_t *keys = vm_console_host_keys(log, log ? strlen(log) : 0);
	size_t cap = 1, i;
	json_t *k;
	json_array_foreach(keys, i, k) cap += strlen(json_string_value(k)) + 1;
	char *out = calloc(1, cap);
	json_array_foreach(keys, i, k)
	{
		if (i)
			strcat(out, "|");
		strcat(out, json_string_value(k));
	}
	json_decref(keys);
	return out;
}

static void test_host_keys_block(void)
{
	char *k = keys_of("ci-info: ...\r\n" BEGIN ECDSA " root@deb\r\n" ED25519 " root@deb\r\n" END
			  "\r\nLOAM-READY machine=x86_64\r\n");
	CHECK_STR(k, ECDSA "|" ED25519); /* comments dropped: known_hosts lines */
	free(k);
}

static void test_host_keys_unfinished_block_does_not_count(void)
{
	char *k = keys_of(BEGIN ED25519 "\r\n");
	CHECK_STR(k, "");
	free(k);
	k = keys_of(BEGIN ED25519 "\r\n" END BEGIN ECDSA "\r\n");
	CHECK_STR(k, ED25519); /* the last whole block */
	free(k);
	k = keys_of(BEGIN ED25519 "\r\n"
				  "-----END SSH HOST KEY KEYS"); /* END cut short */
	CHECK_STR(k, "");
	free(k);
}

static void test_host_keys_hostile_lines_are_dropped(void)
{
	char *k = keys_of(
	    BEGIN "ssh-ed25519 AAAAnotbase64!!\n"
		  "ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIEokYMmkxG8DkJ6ogFyrxb/JsaU8/UqqdcjqHZ1xXSH8\n"
		  "@cert-authority * " ED25519 "\n"
		  "\n" ED25519 "\n" END);
	CHECK_STR(k, ED25519); /* bad base64, a blob of another type, markers: dropped */
	free(k);
	/* A line longer than any key is dropped without being parsed. */
	size_t n = 3 * 8192;
	char *huge = malloc(n + 256);
	snprintf(huge, 256, "%sssh-ed25519 ", BEGIN);
	size_t at = strlen(huge);
	memset(huge + at, 'A', n);
	snprintf(huge + at + n, 256, "\n%s", END);
	k = keys_of(huge);
	CHECK_STR(k, "");
	free(k);
	free(huge);
}

static void test_host_keys_count_is_bounded(void)
{
	size_t n = 40, one = strlen(ED25519 "\n");
	char *log = calloc(1, strlen(BEGIN END) + n * one + 1);
	strcpy(log, BEGIN);
	for (size_t i = 0; i < n; i++)
		strcat(log, ED25519 "\n");
	strcat(log, END);
	json_t *keys = vm_console_host_keys(log, strlen(log));
	CHECK_INT(json_array_size(keys), 8);
	json_decref(keys);
	free(log);
}

int main(void)
{
	RUN(test_host_keys_block);
	RUN(test_host_keys_unfinished_block_does_not_count);
	RUN(test_host_keys_hostile_lines_are_dropped);
	RUN(test_host_keys_count_is_bounded);
	RUN(test_complete_line_counts);
	RUN(test_cut_line_does_not_count);
	RUN(test_no_log);
	RUN(test_odd_machine_is_refused);
	return t_summary();
}
