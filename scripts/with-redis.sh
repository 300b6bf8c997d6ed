#!/usr/bin/env bash
# Runs a command beside a throwaway Redis server started here (127.0.0.1, a free port, a temporary
# directory, nothing saved to disk) and stopped afterwards.
#   scripts/with-redis.sh COMMAND [ARGS…]
# The command sees TEST_REDIS_URL, and REDIS_TEST_STOP / REDIS_TEST_START, so fault tests can stop the
# server and start it again on the same port (and REDIS_TEST_PID_FILE, to pause it). TEST_LIMITS_IN_REDIS=1 also points the app's rate limits
# at it (RATELIMIT_STORAGE_URI): `make test` runs the PostgreSQL pass so.
# Without Debian's redis-server the command runs alone (the tests that need Redis are skipped).
# Redis should not run as root, so as root the server runs as the `redis` user.
set -euo pipefail

REDIS_SERVER=${REDIS_SERVER:-$(command -v redis-server || echo /usr/bin/redis-server)}
if [ ! -x "$REDIS_SERVER" ]; then
  echo "redis-server missing: the tests that need Redis will be skipped (apt-get install redis-server)" >&2
  exec "$@"
fi
REDIS_CLI=$(command -v redis-cli || echo /usr/bin/redis-cli)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
PORT=$(free_port)
DIR=$(mktemp -d /tmp/registry-redis.XXXXXX)
cat >"$DIR/redis.conf" <<EOF
bind 127.0.0.1
port $PORT
protected-mode yes
dir $DIR
pidfile $DIR/redis.pid
logfile $DIR/redis.log
daemonize yes
save ""
appendonly no
EOF

if [ "$(id -u)" = 0 ]; then
  id redis >/dev/null 2>&1 || useradd --system --no-create-home redis
  chown -R redis "$DIR"
  AS_REDIS="runuser -u redis --"
else
  AS_REDIS=""
fi

stop() {
  # A fault test may have left it paused (SIGSTOP): wake it, ask it to stop, and kill it if it will not.
  local pid
  pid=$(cat "$DIR/redis.pid" 2>/dev/null || true)
  if [ -n "$pid" ]; then kill -CONT "$pid" 2>/dev/null || true; fi
  timeout 10 "$REDIS_CLI" -h 127.0.0.1 -p "$PORT" shutdown nosave >/dev/null 2>&1 || true
  for _ in $(seq 50); do [ -e "$DIR/redis.pid" ] || break; sleep 0.1; done
  if [ -n "$pid" ] && [ -e "$DIR/redis.pid" ]; then kill -KILL "$pid" 2>/dev/null || true; fi
  rm -rf "$DIR"
}
trap stop EXIT

export REDIS_TEST_START="$AS_REDIS $REDIS_SERVER $DIR/redis.conf"
export REDIS_TEST_STOP="$REDIS_CLI -h 127.0.0.1 -p $PORT shutdown nosave"
export REDIS_TEST_PID_FILE="$DIR/redis.pid"
$REDIS_TEST_START
for _ in $(seq 100); do
  [ "$("$REDIS_CLI" -h 127.0.0.1 -p "$PORT" ping 2>/dev/null)" = PONG ] && break
  sleep 0.05
done
[ "$("$REDIS_CLI" -h 127.0.0.1 -p "$PORT" ping 2>/dev/null)" = PONG ] || { cat "$DIR/redis.log" >&2; exit 1; }

export TEST_REDIS_URL="redis://127.0.0.1:$PORT/0"
if [ "${TEST_LIMITS_IN_REDIS:-0}" = 1 ]; then export RATELIMIT_STORAGE_URI="$TEST_REDIS_URL"; fi
LIMITS_NOTE=""
[ "${TEST_LIMITS_IN_REDIS:-0}" = 1 ] && LIMITS_NOTE=" (the rate limits' store)"
echo "Redis $("$REDIS_SERVER" --version | awk '{print $3}' | sed 's/^v=//') on 127.0.0.1:$PORT$LIMITS_NOTE"
"$@"
