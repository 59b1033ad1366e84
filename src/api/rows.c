/*
 * Reading result rows by column name, so that a JSON view built straight
 * from a SELECT stays correct when its column list changes. Only vms.c
 * still reads rows; the other views read the model's structs.
 */
#include "api/internal.h"

#include <stdlib.h>
#include <string.h>

static size_t api_col(const struct loam_db_rows *rows, const char *name)
{
	size_t n = loam_db_rows_cols(rows);
	for (size_t i = 0; i < n; i++)
		if (strcmp(loam_db_rows_name(rows, i), name) == 0)
			return i;
	/* A column missing from our own SELECT is a bug; fail loudly. */
	abort();
}

const char *api_text(const struct loam_db_rows *rows, size_t row, const char *name)
{
	return loam_db_rows_text(rows, row, api_col(rows, name));
}

int64_t api_int(const struct loam_db_rows *rows, size_t row, const char *name)
{
	return loam_db_rows_int(rows, row, api_col(rows, name));
}

bool api_null(const struct loam_db_rows *rows, size_t row, const char *name)
{
	return loam_db_rows_null(rows, row, api_col(rows, name));
}

json_t *api_json_text(const struct loam_db_rows *rows, size_t row, const char *name)
{
	if (api_null(rows, row, name))
		return json_null();
	return json_string(api_text(rows, row, name));
}
