"""Production gunicorn settings: `gunicorn -c config/gunicorn.py wsgi:app` (what `make serve` runs).

Environment: `PORT` (5000) on 127.0.0.1, or `BIND` (`0.0.0.0:8000`, `unix:/run/registry.sock`);
`WEB_CONCURRENCY` workers (default 2 × cores + 1, at most 12: each holds its own database pool);
`GUNICORN_THREADS` per worker (1: sync workers; more switches to gthread); `GUNICORN_TIMEOUT` (30 s),
`GUNICORN_GRACEFUL_TIMEOUT` (30 s), `GUNICORN_KEEPALIVE` (5 s); `GUNICORN_MAX_REQUESTS` (10000, plus
up to `GUNICORN_MAX_REQUESTS_JITTER` 1000, so workers do not all restart together); `LOG_FORMAT`,
`LOG_LEVEL` as for the app; `PROMETHEUS_MULTIPROC_DIR` (a fresh temporary directory when unset);
`GUNICORN_PIDFILE` (none by default; scripts/gunicorn-reload.sh needs one).

Signals (docs/operations.md "Deploying"): HUP starts fresh workers from the code the master loaded
(preload_app: HUP never loads new code); USR2 then TERM to the old master, which
scripts/gunicorn-reload.sh sends, loads new code with no failed request; TERM stops gracefully.
The app runs from the directory above this file (`chdir`), so a master started with
`-c /srv/registry/current/config/gunicorn.py` follows the `current` link when USR2 starts the next.
"""
import gc
import os
import shutil
import tempfile

from config import default_workers


def _prepare_metrics_directory() -> None:
    """Every worker writes its samples to PROMETHEUS_MULTIPROC_DIR and a scrape, whichever worker
    answers it, adds them up. Samples of an earlier run would be added too: a start empties the
    directory (a reload on HUP reads this file again in the same master and leaves it alone)."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not directory:
        directory = tempfile.mkdtemp(prefix="registry-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = os.environ["REGISTRY_METRICS_TEMPORARY_DIR"] = directory
    elif os.environ.get("REGISTRY_METRICS_MASTER_PID") != str(os.getpid()):
        os.makedirs(directory, exist_ok=True)
        for name in os.listdir(directory):
            if name.endswith(".db"):
                os.remove(os.path.join(directory, name))
    os.environ["REGISTRY_METRICS_MASTER_PID"] = str(os.getpid())


# Before anything imports prometheus_client: its multiprocess mode is chosen when it is imported.
_prepare_metrics_directory()

def _int(name: str, default: int, minimum: int = 0) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SystemExit(f"{name} must be a whole number, not {raw!r}") from None
    if value < minimum:
        raise SystemExit(f"{name} must be at least {minimum}, not {value}")
    return value


# The app's defaults (config/__init__.py): JSON in production, text elsewhere.
_LOG_FORMAT = os.environ.get("LOG_FORMAT") or ("json" if os.environ.get("REGISTRY_ENV") == "production" else "text")
_LOG_LEVEL = (os.environ.get("LOG_LEVEL") or "INFO").upper()

# The project's directory as this file was named (symbolic links kept): a USR2 re-execution reads
# this file again through the same path and so runs the release `current` points to by then.
chdir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
bind = [os.environ.get("BIND") or f"127.0.0.1:{_int('PORT', 5000, 1)}"]
pidfile = os.environ.get("GUNICORN_PIDFILE") or None
workers = _int("WEB_CONCURRENCY", default_workers(), 1)
threads = _int("GUNICORN_THREADS", 1, 1)
worker_class = "gthread" if threads > 1 else "sync"
timeout = _int("GUNICORN_TIMEOUT", 30, 1)
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 30, 1)
keepalive = _int("GUNICORN_KEEPALIVE", 5)
# A worker restarts after this many requests (a leak, should one creep in, stays bounded). Not fewer: a
# new worker starts without its compiled-statement cache, its 団体 facts and its pooled connections, and
# at 1000 a busy worker paid that every few seconds (bench/writes.py).
max_requests = _int("GUNICORN_MAX_REQUESTS", 10000)
max_requests_jitter = _int("GUNICORN_MAX_REQUESTS_JITTER", 1000)
# Load the app once in the master: a broken configuration stops the start, and workers share memory.
preload_app = True
control_socket_disable = True  # gunicorn ≥ 25.1: one shared $HOME/.gunicorn/gunicorn.ctl per user otherwise
if os.path.isdir("/dev/shm"):
    worker_tmp_dir = "/dev/shm"  # the heartbeat file: never on a slow or full disk

# The app writes one access line per request itself (registry/operations/logs.py, with the request id
# and route rule), so gunicorn's access log stays silent; its own lines use the same format. gunicorn
# applies this again on every HUP, removing every handler there was: the root logger's handler is
# therefore made here (the app's own, by name, which create_app replaces with an identical one), so
# the app's lines go on after a HUP, in the workers the preloaded app is forked into.
accesslog = None
errorlog = "-"
loglevel = _LOG_LEVEL.lower()
logconfig_dict = {
    "root": {"level": _LOG_LEVEL, "handlers": ["registry"]},
    "loggers": {
        "gunicorn.error": {"level": _LOG_LEVEL, "handlers": ["error_console"],
                           "propagate": False, "qualname": "gunicorn.error"},
        "gunicorn.access": {"level": "CRITICAL", "handlers": [], "propagate": False,
                            "qualname": "gunicorn.access"},
    },
    "handlers": {
        "registry": {"()": "registry.operations.logs.make_handler", "log_format": _LOG_FORMAT},
        "error_console": {"class": "logging.StreamHandler", "formatter": "registry",
                          "stream": "ext://sys.stderr"},
    },
    "formatters": {
        "registry": {"()": "registry.operations.logs.make_formatter", "log_format": _LOG_FORMAT},
    },
}


def on_starting(server):
    """Before any worker starts: production refuses per-process rate limit counts (memory://) with
    more than one worker. The app checked WEB_CONCURRENCY as it loaded; this is gunicorn's own count,
    whatever set it (`-w`, GUNICORN_CMD_ARGS)."""
    if os.environ.get("REGISTRY_ENV") == "production" and server.cfg.preload_app:
        from config import check_shared_limits
        config = server.app.wsgi().config
        try:
            check_shared_limits(config["RATELIMIT_STORAGE_URI"], config["RATELIMIT_ENABLED"], server.cfg.workers)
        except RuntimeError as refusal:
            raise SystemExit(f"Error: {refusal}") from None


def when_ready(server):
    """A master started by USR2 (scripts/gunicorn-reload.sh) has loaded the new code and listens: under
    systemd (Type=notify, NotifyAccess=all) it becomes the service's main process, so the old master's
    exit does not end the service. Elsewhere NOTIFY_SOCKET is unset and this does nothing."""
    if server.master_pid:  # the pid of the master whose USR2 started this one
        from gunicorn import systemd

        systemd.sd_notify(f"MAINPID={os.getpid()}", server.log)


def pre_fork(server, worker):
    """Before each worker is forked: every object of the preloaded app goes to the collector's permanent
    generation (Python's gc docs, gc.freeze, for servers that fork without exec). A worker's full
    collections then walk only what it made itself: without it, a read that builds a few thousand
    objects (the funnel of one 団体, at 1 M people) set off a full collection over the whole app
    that cost it as much again (bench/figures.py). It also keeps the collector from writing into the
    pages the workers share with the master."""
    gc.freeze()


def post_fork(server, worker):
    """The app was loaded in the master: drop the database connections the worker inherited."""
    from registry.operations import after_fork

    after_fork(server.app.wsgi())


def on_exit(server):
    """The temporary directory made above goes with the master."""
    directory = os.environ.get("REGISTRY_METRICS_TEMPORARY_DIR")
    if directory and directory == os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        shutil.rmtree(directory, ignore_errors=True)


def child_exit(server, worker):
    """A worker is gone: its live gauges leave the sum (prometheus_client multiprocess mode)."""
    from prometheus_flask_exporter.multiprocess import GunicornPrometheusMetrics

    GunicornPrometheusMetrics.mark_process_dead_on_child_exit(worker.pid)
