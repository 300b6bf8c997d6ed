#!/bin/sh
# Loads new code into a running gunicorn with no failed request (docs/operations.md "Deploying").
#
#   scripts/gunicorn-reload.sh PIDFILE [TIMEOUT_SECONDS]
#
# PIDFILE is the master's (GUNICORN_PIDFILE). HUP cannot do this: with preload_app the master keeps
# the code it loaded and forks the same into fresh workers. Instead:
#   1. USR2: the master starts a new master (the same command: with `-c /srv/registry/current/…` it
#      reads the release `current` points to now), which loads the new code, writes PIDFILE.2 and
#      starts its workers on the same listening sockets, while the old workers go on serving;
#   2. once the new workers are up, TERM to the old master: its workers finish the requests they
#      hold (up to GUNICORN_GRACEFUL_TIMEOUT) and accept no more; connections waiting in the kernel's
#      queue go to the new workers, so none is refused;
#   3. the new master, orphaned, renames PIDFILE.2 to PIDFILE.
# If the new code cannot start (a settings refusal, an import error), no PIDFILE.2 appears: the old
# master is left serving and this exits 1. systemd's ExecReload runs this (deploy/systemd/).
set -eu

pidfile=${1:?usage: gunicorn-reload.sh PIDFILE [TIMEOUT_SECONDS]}
timeout=${2:-90}

say() { echo "gunicorn-reload: $*" >&2; }
# A process that runs (an exited one waiting for its parent to reap it counts as gone).
alive() {
    state=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
    [ -n "$state" ] && [ "${state#Z}" = "$state" ]
}
workers_of() { pgrep -P "$1" 2>/dev/null | wc -l; }
deadline=$(( $(date +%s) + timeout ))
late() { [ "$(date +%s)" -ge "$deadline" ]; }

old=$(cat "$pidfile" 2>/dev/null || true)
if [ -z "$old" ] || ! alive "$old"; then
    say "no running master in $pidfile"
    exit 1
fi
if [ -e "$pidfile.2" ]; then
    stale=$(cat "$pidfile.2" 2>/dev/null || true)
    if [ -n "$stale" ] && alive "$stale"; then
        say "a new master ($stale) is already running: wait for it, or stop it"
        exit 1
    fi
    rm -f "$pidfile.2"
fi

say "USR2 to master $old"
kill -USR2 "$old"
new=
while [ -z "$new" ]; do
    candidate=$(cat "$pidfile.2" 2>/dev/null || true)
    if [ -n "$candidate" ] && alive "$candidate"; then
        new=$candidate
    elif late; then
        say "no new master within ${timeout}s (see the log): master $old keeps serving the old code"
        exit 1
    else
        sleep 0.2
    fi
done
say "new master $new loaded the code"

# Its workers: at least one, and as many as a second ago (they are forked one after another).
previous=0
while :; do
    count=$(workers_of "$new")
    if [ "$count" -gt 0 ] && [ "$count" -eq "$previous" ]; then
        break
    fi
    if ! alive "$new"; then
        say "the new master $new is gone (see the log): master $old keeps serving the old code"
        exit 1
    fi
    if late; then
        say "the new master $new started no worker within ${timeout}s: stopping it; master $old keeps serving"
        kill -TERM "$new" 2>/dev/null || true
        exit 1
    fi
    previous=$count
    sleep 1
done
say "new master $new runs $count worker(s); TERM to the old master $old: its workers finish their requests"
kill -TERM "$old"
while alive "$old" || [ "$(cat "$pidfile" 2>/dev/null || true)" != "$new" ]; do
    if late; then
        say "master $old has not stopped, or $new has not taken over $pidfile, within ${timeout}s"
        exit 1
    fi
    sleep 0.2
done
say "master $new serves the new code"
