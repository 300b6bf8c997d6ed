#!/usr/bin/env bash
# A local pg_auto_failover formation: a monitor and two PostgreSQL 15 data nodes with synchronous
# replication, on 127.0.0.1 and free ports, everything (data, sockets, pg_autoctl's config and state)
# under one directory. For developers and for the failover test; docs/operations.md "High
# availability (pg_auto_failover)" has the operator's steps for a real one.
#
#   scripts/ha-formation.sh up DIR      create and start it under DIR (new or empty); writes DIR/formation.env
#   scripts/ha-formation.sh state DIR   pg_autoctl show state
#   scripts/ha-formation.sh ctl DIR ARGS…   any pg_autoctl command against the monitor, e.g.
#                                       `ctl DIR perform switchover`, `ctl DIR show events`
#   scripts/ha-formation.sh crash DIR NODE  kill -9 a data node's postmaster (node1 or node2): its keeper
#                                       starts it again, the monitor fails over all the same
#   scripts/ha-formation.sh kill DIR NODE   kill -9 a data node: its pg_autoctl and its postmaster at once,
#                                       as when its machine dies
#   scripts/ha-formation.sh start DIR NODE  start a node's pg_autoctl again (after `kill`): an old primary
#                                       rejoins as a standby (pg_rewind), as on a real machine
#   scripts/ha-formation.sh down DIR    stop every process of the formation and remove DIR
#
# DIR/formation.env (shell syntax) gives DATABASE_URL (both nodes, target_session_attrs=read-write: the
# app's), DATABASE_REPLICA_URL (both nodes, prefer-standby: the figures), MONITOR_URL and the ports.
# The monitor notices a dead node within HA_UNHEALTHY_TIMEOUT_MS (5000 here; pg_auto_failover's
# default 20000) and lets the standby take over after HA_DEMOTE_TIMEOUT_MS (8000; default 30000):
# docs/operations.md says what these trade. Made to be thrown away: fsync is off. PostgreSQL refuses
# to run as root: as root everything runs as `postgres` (created if missing). Needs Debian's
# postgresql-15-auto-failover (`make ha-deps`).
set -euo pipefail

PGBIN=${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}
PG_AUTOCTL=${PG_AUTOCTL:-$(command -v pg_autoctl || true)}
UNHEALTHY_MS=${HA_UNHEALTHY_TIMEOUT_MS:-5000}
DEMOTE_MS=${HA_DEMOTE_TIMEOUT_MS:-8000}
DATABASE=registry
APP_USER=registry

usage() { sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
die() { echo "ha-formation: $*" >&2; exit 1; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

[ $# -ge 2 ] || usage
COMMAND=$1
DIR=$(realpath -m "$2")
shift 2

# Runs a command as the servers' user with pg_autoctl's files kept under DIR.
as_db_user() {
  local env=(env "XDG_CONFIG_HOME=$DIR/config" "XDG_DATA_HOME=$DIR/share" "XDG_RUNTIME_DIR=$DIR/run"
             "PGHOST=$DIR" "PATH=$PGBIN:$PATH")
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "${env[@]}" "$@"; else "${env[@]}" "$@"; fi
}

# Starts a long-running pg_autoctl in a session of its own (so `kill` can end the node as a whole);
# the session id is kept in DIR/NAME.pgid.
start_service() {
  local name=$1; shift
  if [ "$(id -u)" = 0 ]; then
    setsid runuser -u postgres -- env "XDG_CONFIG_HOME=$DIR/config" "XDG_DATA_HOME=$DIR/share" \
      "XDG_RUNTIME_DIR=$DIR/run" "PGHOST=$DIR" "PATH=$PGBIN:$PATH" "$@" >"$DIR/$name.log" 2>&1 </dev/null &
  else
    XDG_CONFIG_HOME=$DIR/config XDG_DATA_HOME=$DIR/share XDG_RUNTIME_DIR=$DIR/run PGHOST=$DIR \
      PATH=$PGBIN:$PATH setsid "$@" >"$DIR/$name.log" 2>&1 </dev/null &
  fi
  echo $! >"$DIR/$name.pgid"
}

sql() {  # sql PORT DBNAME STATEMENT
  as_db_user "$PGBIN/psql" -X -q -At -h "$DIR" -p "$1" -U postgres -d "$2" -v ON_ERROR_STOP=1 -c "$3"
}

show_state() { as_db_user "$PG_AUTOCTL" show state --pgdata "$DIR/monitor" "$@"; }

wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND…
  local seconds=$1 what=$2; shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    if [ $SECONDS -ge $deadline ]; then
      echo "ha-formation: timed out waiting for $what; the logs:" >&2
      tail -n 30 "$DIR"/*.log >&2 || true
      show_state >&2 || true
      exit 1
    fi
    sleep 0.5
  done
}

node_state_is() {  # node_state_is NODE STATE: reported and assigned
  show_state 2>/dev/null | awk -F'|' -v n="$1" -v s="$2" '
    { gsub(/ /, "", $1); gsub(/ /, "", $6); gsub(/ /, "", $7) }
    $1 == n && $6 == s && $7 == s { found = 1 } END { exit !found }'
}

initdb_node() {  # initdb_node PGDATA: a data directory whose sockets and memory suit a shared machine
  as_db_user "$PGBIN/initdb" -D "$1" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >/dev/null
  # pg_autoctl sizes shared_buffers etc. for a dedicated machine (a quarter of its memory); these
  # settings come after its own (postgresql.auto.conf is read last), and the standby copies them.
  cat >>"$1/postgresql.auto.conf" <<EOF
unix_socket_directories = '$DIR'
shared_buffers = '128MB'
effective_cache_size = '1GB'
maintenance_work_mem = '64MB'
work_mem = '4MB'
max_connections = 200
# A throwaway formation: its processes may be killed, never its machine, so the kernel keeps every
# write; fsync would only slow a shared machine down. A real formation keeps fsync on.
fsync = off
EOF
}

up() {
  [ -x "$PGBIN/initdb" ] || die "no PostgreSQL binaries found (set PGBIN)"
  [ -n "$PG_AUTOCTL" ] || die "pg_autoctl not found: apt-get install postgresql-15-auto-failover (make ha-deps)"
  if [ -e "$DIR" ] && [ -n "$(ls -A "$DIR")" ]; then die "$DIR is not empty"; fi
  mkdir -p "$DIR/run"
  chmod 755 "$DIR"
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
    chown -R postgres "$DIR"
  fi
  local monitor_port node1_port node2_port
  monitor_port=$(free_port); node1_port=$(free_port); node2_port=$(free_port)
  while [ "$node1_port" = "$monitor_port" ]; do node1_port=$(free_port); done
  while [ "$node2_port" = "$monitor_port" ] || [ "$node2_port" = "$node1_port" ]; do node2_port=$(free_port); done

  # The monitor: a PostgreSQL with the pgautofailover extension that decides who is primary.
  initdb_node "$DIR/monitor"
  cat >>"$DIR/monitor/postgresql.auto.conf" <<EOF
pgautofailover.health_check_period = 2000
pgautofailover.health_check_timeout = 2000
pgautofailover.health_check_max_retries = 1
pgautofailover.health_check_retry_delay = 1000
pgautofailover.node_considered_unhealthy_timeout = $UNHEALTHY_MS
pgautofailover.primary_demote_timeout = $DEMOTE_MS
EOF
  as_db_user "$PG_AUTOCTL" create monitor --pgdata "$DIR/monitor" --pgport "$monitor_port" \
    --hostname 127.0.0.1 --auth trust --no-ssl --pgctl "$PGBIN/pg_ctl" >"$DIR/monitor-create.log" 2>&1 \
    || { cat "$DIR/monitor-create.log" >&2; die "pg_autoctl create monitor failed"; }
  as_db_user "$PG_AUTOCTL" config set --pgdata "$DIR/monitor" postgresql.listen_addresses 127.0.0.1 >/dev/null
  start_service monitor "$PG_AUTOCTL" run --pgdata "$DIR/monitor"
  local monitor_url="postgres://autoctl_node@127.0.0.1:$monitor_port/pg_auto_failover?sslmode=disable"
  wait_for 60 "the monitor" sql "$monitor_port" pg_auto_failover "SELECT 1"

  # The data nodes: node1 starts as the primary, node2 joins it as a synchronous standby
  # (pg_basebackup from node1). A keeper that cannot reach the monitor nor its peer for
  # network_partition_timeout demotes its primary, before the monitor promotes the other.
  local partition_s=$(( (DEMOTE_MS / 1000) - 2 )); [ $partition_s -ge 2 ] || partition_s=2
  initdb_node "$DIR/node1"
  local node
  for node in node1 node2; do
    local port=$node1_port; [ $node = node2 ] && port=$node2_port
    as_db_user "$PG_AUTOCTL" create postgres --pgdata "$DIR/$node" --pgport "$port" --hostname 127.0.0.1 \
      --listen 127.0.0.1 --name "$node" --auth trust --no-ssl --monitor "$monitor_url" \
      --dbname "$DATABASE" --username postgres --pgctl "$PGBIN/pg_ctl" >"$DIR/$node-create.log" 2>&1 \
      || { cat "$DIR/$node-create.log" >&2; die "pg_autoctl create postgres ($node) failed"; }
    as_db_user "$PG_AUTOCTL" config set --pgdata "$DIR/$node" timeout.network_partition_timeout "$partition_s" >/dev/null
    if [ $node = node2 ]; then
      # pg_basebackup starts with a spread checkpoint (minutes on an idle server): make it quick.
      sql "$node1_port" postgres "CHECKPOINT"
      (sleep 2; sql "$node1_port" postgres "CHECKPOINT" >/dev/null 2>&1 || true) &
    fi
    start_service "$node" "$PG_AUTOCTL" run --pgdata "$DIR/$node"
    if [ $node = node1 ]; then
      wait_for 60 "node1 to serve as a single node" node_state_is node1 single
      wait_for 30 "node1 to accept connections" sql "$node1_port" postgres "SELECT 1"
      sql "$node1_port" postgres "CREATE ROLE $APP_USER LOGIN"
      sql "$node1_port" postgres "ALTER DATABASE $DATABASE OWNER TO $APP_USER"
    fi
  done
  wait_for 120 "node2 to become a synchronous standby" node_state_is node2 secondary
  wait_for 30 "node1 to become the primary" node_state_is node1 primary

  local hosts="127.0.0.1:$node1_port,127.0.0.1:$node2_port"
  cat >"$DIR/formation.env" <<EOF
DATABASE_URL='postgresql://$APP_USER@$hosts/$DATABASE?target_session_attrs=read-write'
DATABASE_REPLICA_URL='postgresql://$APP_USER@$hosts/$DATABASE?target_session_attrs=prefer-standby'
MONITOR_URL='$monitor_url'
MONITOR_PORT=$monitor_port
NODE1_PORT=$node1_port
NODE2_PORT=$node2_port
EOF
  show_state
  echo
  cat "$DIR/formation.env"
}

kill_node() {
  local node=${1:-}
  [ "$node" = node1 ] || [ "$node" = node2 ] || die "kill: name node1 or node2"
  local pgid postmaster=""
  pgid=$(cat "$DIR/$node.pgid")
  [ -f "$DIR/$node/postmaster.pid" ] && postmaster=$(head -n 1 "$DIR/$node/postmaster.pid")
  # The keeper's session holds pg_autoctl's processes and the postmaster; the backends notice the
  # postmaster's death and exit. Without its keeper nothing restarts the node: the monitor fails over.
  kill -9 -- "-$pgid" 2>/dev/null || true
  [ -n "$postmaster" ] && kill -9 "$postmaster" 2>/dev/null || true
}

crash_node() {
  local node=${1:-}
  [ "$node" = node1 ] || [ "$node" = node2 ] || die "crash: name node1 or node2"
  kill -9 "$(head -n 1 "$DIR/$node/postmaster.pid")"
}

start_node() {
  local node=${1:-}
  [ "$node" = node1 ] || [ "$node" = node2 ] || die "start: name node1 or node2"
  if kill -0 -- "-$(cat "$DIR/$node.pgid")" 2>/dev/null; then die "$node is running"; fi
  mv "$DIR/$node.log" "$DIR/$node.log.$(date +%s)"
  start_service "$node" "$PG_AUTOCTL" run --pgdata "$DIR/$node"
}

down() {
  [ -d "$DIR" ] || return 0
  local name pgid postmaster pids
  # The keepers first (SIGKILL: nothing of this formation is kept, and a keeper that lives on would
  # start its PostgreSQL again), then each PostgreSQL in immediate mode, so it removes its shared
  # memory itself.
  for name in node2 node1 monitor; do
    [ -f "$DIR/$name.pgid" ] || continue
    pgid=$(cat "$DIR/$name.pgid")
    postmaster=$(head -n 1 "$DIR/$name/postmaster.pid" 2>/dev/null || true)
    pids=$(ps -o pid= -g "$pgid" 2>/dev/null | awk -v pm="${postmaster:-0}" '$1 != pm' || true)
    [ -z "$pids" ] || kill -9 $pids 2>/dev/null || true
  done
  for name in node2 node1 monitor; do
    if [ -f "$DIR/$name/postmaster.pid" ]; then
      as_db_user "$PGBIN/pg_ctl" -D "$DIR/$name" -m immediate -w -t 20 stop >/dev/null 2>&1 &
    fi
  done
  wait || true
  rm -rf "$DIR"
}

case $COMMAND in
  up) up ;;
  state) show_state "$@" ;;
  ctl) as_db_user "$PG_AUTOCTL" "$@" --pgdata "$DIR/monitor" ;;
  crash) crash_node "$@" ;;
  kill) kill_node "$@" ;;
  start) start_node "$@" ;;
  down) down ;;
  *) usage ;;
esac
