/*
 * `loam image ls [--json]`: the guest images a VM may name with --image,
 * one line per version and arch, with whether the artifact store has it
 * (what new hosts install) and the hosts that have it installed
 * (GET /v1/images; --json prints the API's document, grouped by image).
 */
#include "cli/verbs.h"

#include <string.h>

#include "lib/cleanup.h"
#include "lib/json.h"

/* One row per image version: name, arch, version, store, hosts. */
static json_t *version_rows(const json_t *images)
{
	json_t *rows = json_array();
	size_t i, k;
	const json_t *img, *v;
	json_array_foreach(images, i, img)
	{
		json_array_foreach(json_object_get(img, "versions"), k, v)
		{
			const json_t *hosts = json_object_get(v, "hosts");
			json_array_append_new(
			    rows,
			    json_pack("{s:s, s:s, s:s, s:s, s:O}", "name",
				      loam_cli_str(img, "name"), "arch", loam_cli_str(v, "arch"),
				      "version", loam_cli_str(v, "version"), "store",
				      json_is_true(json_object_get(v, "in_store")) ? "yes" : "no",
				      "hosts", hosts ? hosts : json_null()));
		}
	}
	return rows;
}

int loam_image_ls(int argc, char **argv)
{
	static const char usage[] = "loam image ls [--json]";
	bool json = argc == 2 && strcmp(argv[1], "--json") == 0;
	if (argc > 2 || (argc == 2 && !json))
		return loam_cli_usage(usage);
	cleanup_err loam_err err = NULL;
	cleanup_json json_t *images = NULL;
	if (loam_cli_call_once("GET", "/v1/images", NULL, &images, &err) < 0)
		return loam_cli_error(err);
	if (json) {
		loam_cli_print_json(images);
		return 0;
	}
	static const struct loam_col cols[] = {{"NAME", "name"},
					       {"ARCH", "arch"},
					       {"VERSION", "version"},
					       {"STORE", "store"},
					       {"HOSTS", "hosts"}};
	cleanup_json json_t *rows = version_rows(images);
	loam_cli_print_table(rows, cols, sizeof(cols) / sizeof(cols[0]));
	return 0;
}
