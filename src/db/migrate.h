/*
 * Migrations: numbered SQL files (migrations/NNNN_name.sql) embedded into
 * the binary at build time (see CMakeLists.txt), or read from
 * $LOAM_MIGRATIONS_DIR when that is set (for trying a migration without
 * rebuilding). loam_db_migrate() in db.h applies them.
 */
#ifndef LOAM_DB_MIGRATE_H
#define LOAM_DB_MIGRATE_H

struct loam_migration {
	const char *name; /* "0001_init.sql" */
	const char *sql;
};

/* In file-name order, terminated by {NULL, NULL}. */
extern const struct loam_migration loam_embedded_migrations[];

#endif
