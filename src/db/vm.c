/*
 * Creating VM rows with validation up front (names, arch, size, location),
 * so the API and the benchmark share one path and bad input never reaches
 * the table.
 */
#include <stdio.h>
#include <string.h>

#include "db/project.h"
#include "db/records.h"
#include "lib/cleanup.h"
#include "lib/valid.h"

/* "fsn1, hel1" from the hosts' locations, for the error message. */
static void known_locations(struct loam_db *db, char *buf, size_t len)
{
	cleanup_rows struct loam_db_rows *rows = NULL;
	buf[0] = '\0';
	if (loam_db_query(db, "SELECT DISTINCT location FROM host ORDER BY location LIMIT 20",
			  DB_NOARGS, &rows, NULL) < 0)
		return;
	size_t n = 0;
	for (size_t i = 0; i < loam_db_rows_count(rows) && n < len; i++)
		n += (size_t)snprintf(buf + n, len - n, "%s%s", i ? ", " : "",
				      loam_db_rows_text(rows, i, 0));
}

static int check_location(struct loam_db *db, const char *location, loam_err *err)
{
	if (loam_valid_name("location", location, err) < 0)
		return -1;
	cleanup_rows struct loam_db_rows *rows = NULL;
	if (loam_db_query(db, "SELECT 1 FROM host WHERE location = ? LIMIT 1",
			  DB_ARGS(DB_TEXT(location)), &rows, err) < 0)
		return -1;
	if (loam_db_rows_count(rows) > 0)
		return 0;
	char known[512];
	known_locations(db, known, sizeof(known));
	return loam_fail(err, LOAM_E_INVALID, "unknown location '%s'; known locations: %s",
			 location, *known ? known : "none (add a host first)");
}

int loam_vm_insert(struct loam_db *db, const struct loam_vm_spec *spec, char id_out[27],
		   loam_err *err)
{
	if (loam_valid_name("VM name", spec->name, err) < 0)
		return -1;
	const struct loam_arch *arch = loam_arch_normalize(spec->arch ? spec->arch : "", err);
	if (!arch)
		return -1;
	const struct loam_size *size = NULL;
	if (loam_size_find(arch, spec->size ? spec->size : "", &size, err) < 0)
		return -1;
	const char *location = spec->location ? spec->location : "default";
	if (check_location(db, location, err) < 0)
		return -1;
	if (spec->boot_image && loam_valid_name("boot image", spec->boot_image, err) < 0)
		return -1;
	char id[27];
	loam_db_new_id(id);
	if (loam_db_exec(
		db,
		"INSERT INTO vm (id, project_id, name, arch, size, vcpus, memory_gib, "
		"storage_gib, location, boot_image, state, created_at) "
		"VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'creating', ?)",
		DB_ARGS(DB_TEXT(id),
			DB_TEXT(spec->project_id ? spec->project_id : LOAM_PROJECT_DEFAULT_ID),
			DB_TEXT(spec->name), DB_TEXT(arch->name), DB_TEXT(size->name),
			DB_INT(size->vcpus), DB_INT(size->memory_gib),
			DB_INT(loam_size_storage_gib(size)), DB_TEXT(location),
			spec->boot_image ? DB_TEXT(spec->boot_image) : DB_NULL,
			DB_INT(loam_db_now_ms())),
		NULL, err) < 0)
		return loam_err_wrap(err, "create VM %s", spec->name);
	if (id_out)
		memcpy(id_out, id, sizeof(id));
	return 0;
}
