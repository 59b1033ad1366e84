#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for tests and benchmarks: initdb + pg_ctl
# from Debian's postgresql-15 as an unprivileged user (nobody when we are
# root), listening only on a Unix socket in a fresh temp dir (no TCP), with
# trust auth for the local user "loam". Source this file, then call
# loam_pg_start; it exports LOAM_TEST_PG_URL and stops and removes the
# cluster on exit. Returns 1 (and prints why) when PostgreSQL is missing.

LOAM_PG_BIN=${LOAM_PG_BIN:-/usr/lib/postgresql/15/bin}

loam_pg_as_owner() {
	if [[ $(id -u) -eq 0 ]]; then
		setpriv --reuid=nobody --regid=nogroup --clear-groups -- env HOME="$LOAM_PG_DIR" "$@"
	else
		"$@"
	fi
}

loam_pg_stop() {
	[[ -n ${LOAM_PG_DIR:-} && -d $LOAM_PG_DIR ]] || return 0
	if [[ -f $LOAM_PG_DIR/data/postmaster.pid ]]; then
		loam_pg_as_owner "$LOAM_PG_BIN/pg_ctl" -D "$LOAM_PG_DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
	fi
	rm -rf "$LOAM_PG_DIR"
	LOAM_PG_DIR=
}

loam_pg_start() {
	if [[ ! -x $LOAM_PG_BIN/initdb ]]; then
		echo "pg: $LOAM_PG_BIN/initdb not found (apt-get install postgresql)" >&2
		return 1
	fi
	LOAM_PG_DIR=$(mktemp -d /tmp/loam-pg.XXXXXX)
	trap loam_pg_stop EXIT
	chmod 0755 "$LOAM_PG_DIR"
	[[ $(id -u) -eq 0 ]] && chown nobody:nogroup "$LOAM_PG_DIR"
	loam_pg_as_owner "$LOAM_PG_BIN/initdb" -D "$LOAM_PG_DIR/data" -U loam --auth=trust \
		-E UTF8 --no-sync >"$LOAM_PG_DIR/initdb.log" 2>&1 || {
		cat "$LOAM_PG_DIR/initdb.log" >&2
		return 1
	}
	# No TCP: the port only names the socket file inside our own dir.
	loam_pg_as_owner "$LOAM_PG_BIN/pg_ctl" -D "$LOAM_PG_DIR/data" -l "$LOAM_PG_DIR/server.log" -w \
		-o "-k $LOAM_PG_DIR -c listen_addresses= -p 5432 -c max_connections=60" start >/dev/null || {
		cat "$LOAM_PG_DIR/server.log" >&2
		return 1
	}
	loam_pg_as_owner "$LOAM_PG_BIN/createdb" -h "$LOAM_PG_DIR" -p 5432 -U loam loamtest
	export LOAM_TEST_PG_URL="postgresql://loam@/loamtest?host=$LOAM_PG_DIR&port=5432"
}
