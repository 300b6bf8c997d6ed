"""config/gunicorn.py: its settings from the environment, its hooks, and the real thing: two workers
whose metrics a scrape adds up, with JSON logs and request ids end to end."""
import json
import os
import runpy
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.multiprocess import MultiProcessCollector

from config import TestingConfig
from registry import create_app
from registry.extensions import db
from registry.operations import after_fork
from tests.operations.scrape import parse, value
from tests.processes import free_port, stop

ROOT = Path(__file__).resolve().parents[2]
CONFIG = str(ROOT / "config" / "gunicorn.py")
SETTINGS = ("PORT", "BIND", "WEB_CONCURRENCY", "GUNICORN_THREADS", "GUNICORN_TIMEOUT", "GUNICORN_GRACEFUL_TIMEOUT",
            "GUNICORN_KEEPALIVE", "GUNICORN_MAX_REQUESTS", "GUNICORN_MAX_REQUESTS_JITTER", "LOG_FORMAT",
            "LOG_LEVEL", "REGISTRY_ENV", "REGISTRY_METRICS_MASTER_PID", "REGISTRY_METRICS_TEMPORARY_DIR")


@pytest.fixture
def read_config(monkeypatch, tmp_path):
    """read_config(**env) → the settings config/gunicorn.py defines under that environment."""
    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "metrics"))

    def read(**env):
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        return runpy.run_path(CONFIG)

    return read


def test_defaults(read_config, monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    config = read_config()
    assert config["bind"] == ["127.0.0.1:5000"]
    assert config["workers"] == 5 and config["threads"] == 1 and config["worker_class"] == "sync"
    assert (config["timeout"], config["graceful_timeout"], config["keepalive"]) == (30, 30, 5)
    assert (config["max_requests"], config["max_requests_jitter"]) == (1000, 100)
    assert config["preload_app"] is True and config["accesslog"] is None
    assert config["logconfig_dict"]["loggers"]["gunicorn.access"]["handlers"] == []  # the app logs access
    formatter = config["logconfig_dict"]["formatters"]["registry"]
    assert formatter["log_format"] == "text"  # development unless REGISTRY_ENV=production
    assert {"post_fork", "child_exit", "on_exit"} <= set(config)


def test_many_cores_are_capped(read_config, monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    assert read_config()["workers"] == 12


def test_settings_from_the_environment(read_config):
    config = read_config(PORT="8123", WEB_CONCURRENCY="3", GUNICORN_THREADS="4", GUNICORN_TIMEOUT="60",
                         GUNICORN_GRACEFUL_TIMEOUT="20", GUNICORN_KEEPALIVE="2", GUNICORN_MAX_REQUESTS="500",
                         GUNICORN_MAX_REQUESTS_JITTER="50", REGISTRY_ENV="production", SECRET_KEY="x")
    assert config["bind"] == ["127.0.0.1:8123"]
    assert (config["workers"], config["threads"], config["worker_class"]) == (3, 4, "gthread")
    assert (config["timeout"], config["graceful_timeout"], config["keepalive"]) == (60, 20, 2)
    assert (config["max_requests"], config["max_requests_jitter"]) == (500, 50)
    assert config["logconfig_dict"]["formatters"]["registry"]["log_format"] == "json"
    assert read_config(BIND="0.0.0.0:9000", PORT="8123")["bind"] == ["0.0.0.0:9000"]
    assert read_config(LOG_FORMAT="text", LOG_LEVEL="WARNING")["loglevel"] == "warning"


@pytest.mark.parametrize("name, raw", [("WEB_CONCURRENCY", "many"), ("WEB_CONCURRENCY", "0"), ("PORT", "-1")])
def test_bad_numbers_stop_the_start(read_config, name, raw):
    with pytest.raises(SystemExit, match=name):
        read_config(**{name: raw})


def test_a_start_empties_the_metrics_directory(read_config, tmp_path, monkeypatch):
    directory = tmp_path / "metrics"
    directory.mkdir()
    (directory / "counter_999999.db").write_bytes(b"stale")
    read_config()
    assert list(directory.iterdir()) == []
    (directory / "counter_1.db").write_bytes(b"live")
    read_config()  # the master reads its config again on HUP: the workers' samples stay
    assert [p.name for p in directory.iterdir()] == ["counter_1.db"]


def test_without_a_metrics_directory_one_is_made_and_removed(read_config, monkeypatch):
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR")
    config = read_config()
    directory = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    assert os.path.isdir(directory)
    config["on_exit"](None)
    assert not os.path.exists(directory)


def test_a_forked_worker_opens_its_own_connections(tmp_path):
    app = create_app(TestingConfig, {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'fork.db'}"})
    with app.app_context():
        with db.engine.connect() as connection:
            inherited = connection.connection.dbapi_connection
    after_fork(app)
    with app.app_context():
        with db.engine.connect() as connection:
            assert connection.connection.dbapi_connection is not inherited


# --- the real thing ------------------------------------------------------------------------------------

def _get(url, headers=None, timeout=10):
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def _wait_until_serving(base, process, deadline):
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            if _get(f"{base}/metrics", timeout=2)[0] == 200:  # scrapes are not counted
                return True
        except OSError:
            time.sleep(0.2)
    return False


@pytest.mark.committing  # a second database file, nothing in the test transaction
@pytest.mark.slow  # starts gunicorn with two worker processes
def test_two_workers_add_up_their_metrics(tmp_path):
    database = f"sqlite:///{tmp_path / 'served.db'}"
    schema_app = create_app(TestingConfig, {"SQLALCHEMY_DATABASE_URI": database})
    with schema_app.app_context():
        db.create_all()
        db.engines[None].dispose()
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    port = free_port()
    env = {**os.environ, "REGISTRY_ENV": "production", "SECRET_KEY": "gunicorn-test", "DATABASE_URL": database,
           "UPLOAD_DIR": str(tmp_path / "uploads"), "LOG_FORMAT": "json", "LOG_LEVEL": "INFO",
           "BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": "2", "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
    for name in ("REGISTRY_METRICS_MASTER_PID", "REGISTRY_METRICS_TEMPORARY_DIR", "GUNICORN_CMD_ARGS"):
        env.pop(name, None)
    base = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "gunicorn.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", CONFIG, "wsgi:app"], cwd=ROOT, env=env,
                                   stdout=log, stderr=subprocess.STDOUT)
    try:
        assert _wait_until_serving(base, process, time.monotonic() + 60), log_path.read_text()[-3000:]
        # One worker is held by a request whose headers have not all arrived, so the requests after
        # it go to the other: the two workers each count some of the /healthz requests.
        held = socket.create_connection(("127.0.0.1", port), timeout=20)
        held.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n")
        for _ in range(5):
            assert _get(f"{base}/healthz")[0] == 200
        held.sendall(b"Connection: close\r\n\r\n")
        assert held.recv(4096).startswith(b"HTTP/1.1 200")
        held.close()
        status, headers, _ = _get(f"{base}/api/v1/organizations/999999", {"X-Request-ID": "through-gunicorn-1"})
        assert status == 404 and headers["X-Request-ID"] == "through-gunicorn-1"
        status, _, body = _get(f"{base}/metrics")
        assert status == 200
        samples = parse(body.decode())
    finally:
        stop(process, grace=30)

    count = "flask_http_request_duration_seconds_count"
    assert value(samples, count, method="GET", rule="/healthz", status="200") == 6
    per_worker = []
    for path in metrics_dir.glob("histogram_*.db"):
        mine = parse_families(MultiProcessCollector.merge([str(path)], accumulate=True))
        per_worker.append(value(mine, count, method="GET", rule="/healthz", status="200"))
    assert len([n for n in per_worker if n > 0]) == 2 and sum(per_worker) == 6
    assert value(samples, "registry_figures_available") == 1
    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.strip()]  # every line JSON
    assert any(line["logger"] == "gunicorn.error" and "Booting worker" in line["message"] for line in lines)
    [access] = [line for line in lines if line.get("request_id") == "through-gunicorn-1"]
    assert access["logger"] == "registry.access" and access["status"] == 404
    assert access["route"] == "/api/v1/organizations/<string:code>"
    assert not any(line["logger"] == "gunicorn.access" for line in lines)


def parse_families(families) -> dict:
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in families for sample in family.samples}
