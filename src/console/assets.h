/*
 * The web console's static files (src/console/static/: stylesheet,
 * script, icon), embedded into loamd at build time as the migrations are,
 * so loamd serves them from any directory with nothing to install.
 */
#ifndef LOAM_CONSOLE_ASSETS_H
#define LOAM_CONSOLE_ASSETS_H

#include <stddef.h>

struct loam_console_asset {
	const char *name;	  /* "console.css": served at /static/NAME */
	const char *content_type; /* from the file's extension */
	const unsigned char *data;
	size_t len;
};

/* Ends with an entry whose name is NULL. */
extern const struct loam_console_asset loam_console_assets[];

#endif
