/*
 * Reading result rows by column name, so that the JSON views stay correct
 * when a SELECT's column list changes, and a probe for tables that arrive
 * with later migrations (strands, artifacts).
 */
#include "api/internal.h"

#include <stdlib.h>
#include <string.h>

#include "lib/cleanup.h"

size_t api_col(const struct loam_db_rows *rows, const char *name)
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

double api_real(const struct loam_db_rows *rows, size_t row, const char *name)
{
	return loam_db_rows_real(rows, row, api_col(rows, name));
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

bool api_table_exists(struct loam_db *db, const char *table)
{
	cleanup_rows struct loam_db_rows *rows = NULL;
	cleanup_err loam_err err = NULL;
	const char *sql = loam_db_backend_of(db) == LOAM_DB_SQLITE
			      ? "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?"
			      : "SELECT 1 FROM information_schema.tables WHERE table_name = ? "
				"AND table_schema = current_schema()";
	if (loam_db_query(db, sql, DB_ARGS(DB_TEXT(table)), &rows, &err) < 0)
		return false;
	return loam_db_rows_count(rows) > 0;
}
