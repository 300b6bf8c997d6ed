#!/usr/bin/env bash
# Runs a command against a throwaway PostgreSQL 15 server started here and stopped afterwards, with a
# streaming replica of it (hot standby, `pg_basebackup -R`) for the read-replica tests.
#   scripts/with-postgres.sh COMMAND [ARGS…]
# The command sees TEST_DATABASE_URL and TEST_REPLICA_URL (and PG_TEST_DATA / PG_TEST_CTL, so fault
# tests can stop and restart the primary: `$PG_TEST_CTL stop`, `$PG_TEST_CTL start -o "$PG_TEST_OPTS"`).
# PostgreSQL refuses to run as root, so as root the servers run as `postgres`.
set -euo pipefail

PGBIN=${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}
[ -x "$PGBIN/initdb" ] || { echo "no PostgreSQL binaries found (set PGBIN)" >&2; exit 1; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
PGPORT=${PGPORT:-$(free_port)}
REPLICA_PORT=$(free_port)
while [ "$REPLICA_PORT" = "$PGPORT" ]; do REPLICA_PORT=$(free_port); done
DATA=$(mktemp -d /tmp/registry-pg.XXXXXX)

as_db_user() {
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
    chown -R postgres "$DATA"
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

stop() {
  as_db_user "$PGBIN/pg_ctl" -D "$DATA/replica" -m immediate stop >/dev/null 2>&1 || true
  as_db_user "$PGBIN/pg_ctl" -D "$DATA/db" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$DATA"
}
trap stop EXIT

chmod 755 "$DATA"
as_db_user "$PGBIN/initdb" -D "$DATA/db" -U registry -A trust -E UTF8 --locale=C.UTF-8 >/dev/null
# Both servers take these (a hot standby needs max_connections at least the primary's).
# PG_SERVER_OPTS adds settings (the benchmarks give it a production-sized buffer cache).
COMMON_OPTS="-k $DATA -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200 ${PG_SERVER_OPTS:-}"
export PG_TEST_OPTS="-p $PGPORT $COMMON_OPTS"
as_db_user "$PGBIN/pg_ctl" -D "$DATA/db" -l "$DATA/server.log" -w -o "$PG_TEST_OPTS" start >/dev/null
as_db_user "$PGBIN/createdb" -h 127.0.0.1 -p "$PGPORT" -U registry registry_test

# The replica: a base backup of the primary that streams from it (-R writes primary_conninfo and
# standby.signal). initdb's pg_hba.conf trusts replication connections from 127.0.0.1.
# PG_REPLICA=0 leaves it out (the benchmarks: replaying would take CPU from what they measure).
if [ "${PG_REPLICA:-1}" != 0 ]; then
  as_db_user "$PGBIN/pg_basebackup" -h 127.0.0.1 -p "$PGPORT" -U registry -D "$DATA/replica" -R -X stream -c fast
  as_db_user "$PGBIN/pg_ctl" -D "$DATA/replica" -l "$DATA/replica.log" -w \
    -o "-p $REPLICA_PORT $COMMON_OPTS -c hot_standby=on" start >/dev/null
  export TEST_REPLICA_URL="postgresql://registry@127.0.0.1:$REPLICA_PORT/registry_test"
fi

export TEST_DATABASE_URL="postgresql://registry@127.0.0.1:$PGPORT/registry_test"
export PG_TEST_DATA="$DATA/db"
# How the fault tests stop and start this server (as the server's user when we are root).
if [ "$(id -u)" = 0 ]; then export PG_TEST_CTL="runuser -u postgres -- $PGBIN/pg_ctl -D $DATA/db"
else export PG_TEST_CTL="$PGBIN/pg_ctl -D $DATA/db"; fi
echo "PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$PGPORT${TEST_REPLICA_URL:+, its replica on 127.0.0.1:$REPLICA_PORT}"
"$@"
