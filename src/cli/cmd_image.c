/*
 * `loam image VERB`: dispatches to image_<verb>.c (ls).
 */
#include "cli/cli.h"
#include "cli/verbs.h"

static const struct loam_cli_verb image_verbs[] = {
    {"ls", "loam image ls [--json]", loam_image_ls},
};

int loam_cmd_image(int argc, char **argv)
{
	return loam_cli_dispatch("image", image_verbs, sizeof(image_verbs) / sizeof(image_verbs[0]),
				 argc, argv);
}
