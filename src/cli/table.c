/*
 * Output for humans: aligned tables for listings and "key: value" lines
 * for show, built from the same JSON objects that --json prints, so that
 * both views always agree.
 */
#include "cli/client.h"

#include <stdio.h>
#include <string.h>

#include "lib/timefmt.h"

#define CELL_MAX 128

void loam_cli_value_text(const json_t *v, char *buf, size_t size)
{
	buf[0] = '\0';
	if (!v || json_is_null(v)) {
		snprintf(buf, size, "-");
	} else if (json_is_string(v)) {
		/* one cell, one line: a newline or tab would break the columns */
		snprintf(buf, size, "%s", json_string_value(v));
		for (char *p = buf; *p; p++)
			if (*p == '\n' || *p == '\t')
				*p = ' ';
	} else if (json_is_integer(v)) {
		snprintf(buf, size, "%lld", (long long)json_integer_value(v));
	} else if (json_is_real(v)) {
		snprintf(buf, size, "%g", json_real_value(v));
	} else if (json_is_boolean(v)) {
		snprintf(buf, size, "%s", json_is_true(v) ? "yes" : "no");
	} else if (json_is_array(v)) {
		size_t i;
		json_t *e;
		json_array_foreach(v, i, e)
		{
			char item[CELL_MAX];
			loam_cli_value_text(e, item, sizeof(item));
			if (i)
				strncat(buf, ",", size - strlen(buf) - 1);
			strncat(buf, item, size - strlen(buf) - 1);
		}
		if (json_array_size(v) == 0)
			snprintf(buf, size, "-");
	} else {
		snprintf(buf, size, "{...}");
	}
}

void loam_cli_print_table(const json_t *rows, const struct loam_col *cols, size_t ncols)
{
	size_t width[16] = {0};
	char cell[CELL_MAX];
	for (size_t c = 0; c < ncols && c < 16; c++) {
		width[c] = strlen(cols[c].header);
		size_t i;
		json_t *row;
		json_array_foreach(rows, i, row)
		{
			loam_cli_value_text(json_object_get(row, cols[c].key), cell, sizeof(cell));
			if (strlen(cell) > width[c])
				width[c] = strlen(cell);
		}
	}
	for (size_t c = 0; c < ncols && c < 16; c++)
		if (c + 1 < ncols)
			printf("%-*s  ", (int)width[c], cols[c].header);
		else
			printf("%s\n", cols[c].header);
	size_t i;
	json_t *row;
	json_array_foreach(rows, i, row)
	{
		for (size_t c = 0; c < ncols && c < 16; c++) {
			loam_cli_value_text(json_object_get(row, cols[c].key), cell, sizeof(cell));
			if (c + 1 < ncols)
				printf("%-*s  ", (int)width[c], cell);
			else
				printf("%s\n", cell);
		}
	}
}

bool loam_cli_is_time_key(const char *key)
{
	size_t n = strlen(key);
	return n > 3 && strcmp(key + n - 3, "_at") == 0;
}

void loam_cli_iso_times(json_t *doc)
{
	const char *key;
	json_t *v;
	size_t i;
	if (json_is_array(doc)) {
		json_array_foreach(doc, i, v)
		{
			loam_cli_iso_times(v);
		}
		return;
	}
	json_object_foreach(doc, key, v)
	{
		if (json_is_integer(v) && loam_cli_is_time_key(key)) {
			char iso[LOAM_ISO8601_LEN];
			loam_time_iso8601(json_integer_value(v), iso);
			json_object_set_new(doc, key, json_string(iso));
		} else {
			loam_cli_iso_times(v);
		}
	}
}

void loam_cli_print_fields(const json_t *obj)
{
	const char *key;
	json_t *v;
	char cell[1024];
	int64_t now = loam_time_wall_ms();
	json_object_foreach((json_t *)obj, key, v)
	{
		if (json_is_object(v))
			continue;
		if (json_is_integer(v) && loam_cli_is_time_key(key))
			loam_time_human(json_integer_value(v), now, cell, sizeof(cell));
		else
			loam_cli_value_text(v, cell, sizeof(cell));
		printf("%-22s %s\n", key, cell);
	}
}
