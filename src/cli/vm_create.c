/*
 * `loam vm create NAME --arch A --size S [--location L] [--image I]`:
 * records the VM; its "vm" strand then places it on a host of that arch
 * and boots it (the API refuses unknown arches and sizes, naming the valid
 * ones). Progress: loam vm show NAME.
 */
#include "cli/verbs.h"

#include <getopt.h>
#include <stdio.h>

#include "lib/cleanup.h"
#include "lib/json.h"

static const char usage[] =
    "loam vm create NAME --arch A --size S [--location L] [--image I] [--boot firmware|kernel] "
    "[--json]";

int loam_vm_create(int argc, char **argv)
{
	static const struct option opts[] = {{"arch", required_argument, NULL, 'a'},
					     {"size", required_argument, NULL, 's'},
					     {"location", required_argument, NULL, 'l'},
					     {"image", required_argument, NULL, 'i'},
					     {"json", no_argument, NULL, 'j'},
					     {"boot", required_argument, NULL, 'b'},
					     {NULL, 0, NULL, 0}};
	const char *arch = NULL, *size = NULL, *location = NULL, *image = NULL, *boot = NULL;
	bool json = false;
	optind = 0;
	int c;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'a':
			arch = optarg;
			break;
		case 's':
			size = optarg;
			break;
		case 'l':
			location = optarg;
			break;
		case 'i':
			image = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'b':
			boot = optarg;
			break;
		default:
			return loam_cli_usage(usage);
		}
	}
	if (argc - optind != 1 || !arch || !size)
		return loam_cli_usage(usage);
	const char *name = argv[optind];
	cleanup_err loam_err err = NULL;
	if (loam_cli_check_name("VM name", name, &err) < 0)
		return loam_cli_error(err);
	cleanup_json json_t *body =
	    json_pack("{s:s, s:s, s:s}", "name", name, "arch", arch, "size", size);
	if (location)
		json_object_set_new(body, "location", json_string(location));
	if (boot)
		json_object_set_new(body, "boot", json_string(boot));
	if (image)
		json_object_set_new(body, "image", json_string(image));
	cleanup_json json_t *vm = NULL;
	if (loam_cli_call_once("POST", "/v1/vms", body, &vm, &err) < 0)
		return loam_cli_error(err);
	if (json) {
		loam_cli_print_json(vm);
		return 0;
	}
	printf("vm %s: %s (%s %s: %lld vCPUs, %lld GiB); follow it with: loam vm show %s\n", name,
	       json_string_value(json_object_get(vm, "state")),
	       json_string_value(json_object_get(vm, "arch")),
	       json_string_value(json_object_get(vm, "size")),
	       (long long)json_integer_value(json_object_get(vm, "vcpus")),
	       (long long)json_integer_value(json_object_get(vm, "memory_gib")), name);
	return 0;
}
