#!/bin/sh
# Runs a `flask --app wsgi` command as the service runs: from the release this script belongs to,
# with the service's environment file, which cron does not pass (docs/operations.md "cron").
#
#   scripts/registry-task.sh /etc/registry/registry.env send-notifications
#
# The file is systemd's EnvironmentFile (deploy/registry.env.example), read here by sh: NAME=value
# lines, values with spaces or backslashes in single quotes. Without it a task would run as
# development, on the SQLite file under instance/; with it, production refuses to start (exit 1)
# when a setting is missing or unsafe, naming it.
set -eu

env_file=${1:?usage: registry-task.sh ENVIRONMENT_FILE COMMAND [ARGUMENTS...]}
shift
if [ ! -r "$env_file" ]; then
    echo "registry-task: cannot read $env_file" >&2
    exit 1
fi
set -a
. "$env_file"
set +a
if [ -z "${REGISTRY_ENV:-}" ]; then
    echo "registry-task: $env_file does not set REGISTRY_ENV (production: REGISTRY_ENV=production)" >&2
    exit 1
fi
cd "$(dirname "$0")/.."
exec .venv/bin/flask --app wsgi "$@"
