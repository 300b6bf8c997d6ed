"""Real gunicorn for the tests: the settings a deployment gives it, a free port, its log, its end.

On PostgreSQL (`TEST_DATABASE_URL`) gunicorn runs as production does, every required setting given
(`REGISTRY_ENV=production`, PROXY_HOPS 1 by default) against the test database, whose schema and
reference data the session's app made. On SQLite, which production refuses, it runs in development
on a database file of its own, with JSON logs as production writes them.
"""
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from config import TestingConfig
from registry import create_app
from registry.certificates.keys import CertificateKey
from registry.extensions import db

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "config" / "gunicorn.py"
SITE_URL = "https://furusato.example.jp"
# gunicorn's own settings the test's environment might carry; each test says what it wants.
UNSET = ("PORT", "BIND", "WEB_CONCURRENCY", "GUNICORN_THREADS", "GUNICORN_CMD_ARGS", "GUNICORN_PIDFILE",
         "REGISTRY_METRICS_MASTER_PID", "REGISTRY_METRICS_TEMPORARY_DIR", "PROMETHEUS_MULTIPROC_DIR",
         "LOG_FORMAT", "LOG_LEVEL", "PROXY_HOPS", "SITE_URL", "DATABASE_URL", "DATABASE_REPLICA_URL",
         "SECRET_KEY", "CERTIFICATE_SIGNING_KEY", "REGISTRY_ENV", "SMTP_URL")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def production_settings(database: str) -> dict:
    """Every setting production requires, good ones."""
    return {"REGISTRY_ENV": "production", "DATABASE_URL": database, "SITE_URL": SITE_URL,
            "SECRET_KEY": secrets.token_urlsafe(48),
            "CERTIFICATE_SIGNING_KEY": CertificateKey.generate().private_pem().decode()}


def served_environment(tmp_path: Path, **settings) -> dict:
    """The environment for a gunicorn (or a command) on this run's database; `settings` override."""
    env = {name: value for name, value in os.environ.items() if name not in UNSET}
    postgres = os.environ.get("TEST_DATABASE_URL")
    if postgres:
        env.update(production_settings(postgres))
    else:
        database = f"sqlite:///{tmp_path / 'served.db'}"
        schema_app = create_app(TestingConfig, {"SQLALCHEMY_DATABASE_URI": database})
        with schema_app.app_context():
            db.create_all()
            from registry.organizations.reference import load_reference_data
            load_reference_data()
            db.session.commit()
            db.session.remove()
            db.engines[None].dispose()
        env.update({"REGISTRY_ENV": "development", "DATABASE_URL": database, "LOG_FORMAT": "json",
                    "CERTIFICATE_SIGNING_KEY": CertificateKey.generate().private_pem().decode()})
    env.update({"UPLOAD_DIR": str(tmp_path / "uploads"), "LOG_LEVEL": "INFO", "WEB_CONCURRENCY": "2",
                "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"), "RATELIMIT_ENABLED": "false",
                # production with several workers needs a shared store (the Redis make test runs beside)
                "RATELIMIT_STORAGE_URI": os.environ.get("TEST_REDIS_URL") or "memory://"})
    env.update({name: str(value) for name, value in settings.items()})
    return env


def production() -> bool:
    return bool(os.environ.get("TEST_DATABASE_URL"))


def get(url: str, headers: dict | None = None, timeout: float = 10):
    """(status, headers, body) of a GET; HTTP errors are answers too."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


class Gunicorn:
    """A running master: its process, port and the lines it has logged so far."""

    def __init__(self, process: subprocess.Popen, port: int, log_path: Path):
        self.process, self.port, self.log_path = process, port, log_path
        self.base = f"http://127.0.0.1:{port}"

    def text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def lines(self) -> list[dict]:
        """Every line as JSON (a line that is not JSON fails the test: production logs only JSON)."""
        return [json.loads(line) for line in self.text().splitlines() if line.strip()]

    def access(self, request_id: str) -> list[dict]:
        return [line for line in self.lines() if line.get("logger") == "registry.access"
                and line.get("request_id") == request_id]

    def workers(self) -> set[int]:
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return {int(pid) for pid in children.read_text().split()} if children.exists() else set()


def wait_until(condition, timeout: float, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()


@contextmanager
def gunicorn(env: dict, tmp_path: Path, *, command: list[str] | None = None, app: str = "wsgi:app",
             cwd: Path = ROOT, ready_path: str = "/healthz"):
    """gunicorn on a free 127.0.0.1 port with config/gunicorn.py, stopped (TERM) at the end."""
    port = free_port()
    env = {**env, "BIND": f"127.0.0.1:{port}"}
    log_path = tmp_path / f"gunicorn-{port}.log"
    command = command or [sys.executable, "-m", "gunicorn", "-c", str(CONFIG), app]
    with open(log_path, "w") as log:
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    server = Gunicorn(process, port, log_path)
    try:
        def serving():
            if process.poll() is not None:
                raise AssertionError(f"gunicorn exited ({process.returncode}):\n{server.text()[-3000:]}")
            try:
                return get(server.base + ready_path, timeout=2)[0] == 200
            except OSError:
                return False

        assert wait_until(serving, 60, 0.2), server.text()[-3000:]
        yield server
    finally:
        stop(process)


def group_members(pgid: int) -> list[int]:
    """Live processes of a process group (an exited one nobody reaps, as an orphan in a container
    whose init does not, is not live)."""
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2:].split()  # state, ppid, pgrp, …
            if int(fields[2]) == pgid and fields[0] != "Z":
                members.append(int(entry.name))
    return members


def stop(process: subprocess.Popen) -> None:
    """TERM to the master (a graceful stop), then to the rest of its session (a master a USR2
    started is there), then KILL to whatever is left."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        members = group_members(process.pid)
        if not members:
            return
        for pid in members:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        wait_until(lambda: not group_members(process.pid), 30, 0.2)
