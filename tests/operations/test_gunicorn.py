"""config/gunicorn.py: its settings from the environment, its hooks, and the real thing: two workers
whose metrics a scrape adds up, with JSON logs and request ids end to end; the app's log lines after a
HUP; a code reload by USR2 (scripts/gunicorn-reload.sh) with no failed request."""
import os
import runpy
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from prometheus_client.multiprocess import MultiProcessCollector

from config import TestingConfig
from registry import create_app
from registry.extensions import db
from registry.operations import after_fork
from tests.operations.scrape import parse, value
from tests.operations.serving import get, gunicorn, production, served_environment, wait_until

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
    assert (config["max_requests"], config["max_requests_jitter"]) == (10000, 1000)
    assert config["preload_app"] is True and config["accesslog"] is None
    assert config["logconfig_dict"]["loggers"]["gunicorn.access"]["handlers"] == []  # the app logs access
    formatter = config["logconfig_dict"]["formatters"]["registry"]
    assert formatter["log_format"] == "text"  # development unless REGISTRY_ENV=production
    assert {"pre_fork", "post_fork", "child_exit", "on_exit"} <= set(config)


def test_the_preloaded_app_is_frozen_before_each_fork(read_config):
    """pre_fork moves the master's objects out of the collector's way (gc.freeze)."""
    import gc
    gc.unfreeze()
    try:
        read_config()["pre_fork"](None, None)
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


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

@pytest.mark.slow
@pytest.mark.committing  # the served app commits on its own connections
def test_two_workers_add_up_their_metrics(tmp_path):
    metrics_dir = tmp_path / "metrics"
    env = served_environment(tmp_path)
    with gunicorn(env, tmp_path, ready_path="/metrics") as server:  # scrapes are not counted
        base, port = server.base, server.port
        # One worker is held by a request whose headers have not all arrived, so the requests after
        # it go to the other: the two workers each count some of the /healthz requests.
        held = socket.create_connection(("127.0.0.1", port), timeout=20)
        held.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n")
        for _ in range(5):
            assert get(f"{base}/healthz")[0] == 200
        held.sendall(b"Connection: close\r\n\r\n")
        assert held.recv(4096).startswith(b"HTTP/1.1 200")
        held.close()
        status, headers, _ = get(f"{base}/api/v1/organizations/999999", {"X-Request-ID": "through-gunicorn-1"})
        assert status == 404 and headers["X-Request-ID"] == "through-gunicorn-1"
        status, _, body = get(f"{base}/metrics")
        assert status == 200
        samples = parse(body.decode())
    log_lines = server.lines()  # every line JSON

    count = "flask_http_request_duration_seconds_count"
    assert value(samples, count, method="GET", rule="/healthz", status="200") == 6
    per_worker = []
    for path in metrics_dir.glob("histogram_*.db"):
        mine = parse_families(MultiProcessCollector.merge([str(path)], accumulate=True))
        per_worker.append(value(mine, count, method="GET", rule="/healthz", status="200"))
    assert len([n for n in per_worker if n > 0]) == 2 and sum(per_worker) == 6
    assert value(samples, "registry_figures_available") == 1
    lines = log_lines
    assert any(line["logger"] == "gunicorn.error" and "Booting worker" in line["message"] for line in lines)
    [access] = [line for line in lines if line.get("request_id") == "through-gunicorn-1"]
    assert access["logger"] == "registry.access" and access["status"] == 404
    assert access["route"] == "/api/v1/organizations/<string:code>"
    assert not any(line["logger"] == "gunicorn.access" for line in lines)


def parse_families(families) -> dict:
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in families for sample in family.samples}


def _post_json(url: str, body: bytes, headers: dict | None = None) -> int:
    import urllib.error
    import urllib.request
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


@pytest.mark.slow
@pytest.mark.committing
def test_after_a_hup_the_app_goes_on_logging(tmp_path):
    """HUP makes gunicorn apply its logging configuration again, which removes every handler: the
    app's lines (access lines, a refused sign-in) must still be written by the fresh workers."""
    with gunicorn(served_environment(tmp_path), tmp_path) as server:
        assert get(f"{server.base}/api/v1/organizations/999999", {"X-Request-ID": "before-hup"})[0] == 404
        assert wait_until(lambda: server.access("before-hup"), 5)
        before = server.workers()
        os.kill(server.process.pid, signal.SIGHUP)
        assert wait_until(lambda: len(server.workers()) == 2 and not server.workers() & before, 30), server.text()[-2000:]
        assert get(f"{server.base}/api/v1/organizations/999999", {"X-Request-ID": "after-hup"})[0] == 404
        assert _post_json(f"{server.base}/api/v1/auth/login", b'{"email": "nobody-hup@example.jp", "password": "x"}',
                          {"X-Request-ID": "login-after-hup"}) == 401
        assert wait_until(lambda: server.access("after-hup") and server.access("login-after-hup"), 5), \
            server.text()[-2000:]
    lines = server.lines()
    assert any(line["logger"] == "gunicorn.error" and "Hang up" in line["message"] for line in lines)
    [after] = server.access("after-hup")
    assert after["status"] == 404 and after["route"] == "/api/v1/organizations/<string:code>"
    assert after["client_address"] == "127.0.0.1"
    [refused] = [line for line in lines if line.get("event") == "sign_in_failed"]
    assert refused["request_id"] == "login-after-hup" and refused["reason"] == "unknown_account"
    assert "nobody-hup@example.jp" not in server.text()


def _release(root: Path, name: str) -> Path:
    """A release directory as a deployment lays it out (docs/operations.md): the project (linked
    here), its own virtualenv (the test's), and an app module that marks its answers."""
    release = root / "releases" / name
    release.mkdir(parents=True)
    for entry in ("registry", "config", "scripts", "wsgi.py"):
        (release / entry).symlink_to(ROOT / entry)
    (release / ".venv").symlink_to(Path(sys.prefix))
    (release / "release_probe.py").write_text(
        f'"""Release {name}: the app, marking its answers."""\n'
        "from wsgi import app\n\n\n"
        "@app.after_request\n"
        "def mark_release(response):\n"
        f'    response.headers["X-Release"] = "{name}"\n'
        "    return response\n")
    return release


def _point(link: Path, release: Path) -> None:
    """Switches the `current` link at once (a new link renamed over the old one)."""
    fresh = link.with_name(link.name + ".new")
    fresh.symlink_to(release)
    os.replace(fresh, link)


@pytest.mark.slow
@pytest.mark.committing
def test_usr2_reload_loads_the_new_release_with_no_failed_request(tmp_path):
    """The deploy of docs/operations.md: `current` switched to the new release, then
    scripts/gunicorn-reload.sh (what `systemctl reload registry` runs) while clients keep asking:
    every request answered 200, by the old release before and the new one after, and the master
    that serves at the end is the new one, named in the pid file."""
    releases = tmp_path / "deploy"
    old_release, new_release = _release(releases, "A"), _release(releases, "B")
    current = releases / "current"
    current.symlink_to(old_release)
    pidfile = tmp_path / "gunicorn.pid"
    # systemd's notification socket (Type=notify): the new master must name itself the main process.
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify"))
    notify.setblocking(False)
    env = served_environment(tmp_path, GUNICORN_PIDFILE=pidfile, GUNICORN_GRACEFUL_TIMEOUT=10,
                             NOTIFY_SOCKET=tmp_path / "notify")
    # As the systemd unit starts it: every path through `current` (not `python -m gunicorn`: a
    # re-executed `…/gunicorn/__main__.py` would put gunicorn's own `http` package before the
    # standard library's).
    venv = current / ".venv" / "bin"
    command = [str(venv / Path(sys.executable).name), str(venv / "gunicorn"),
               "-c", str(current / "config" / "gunicorn.py"), "release_probe:app"]

    answers, failures, stop_asking = [], [], threading.Event()

    def ask(base):
        while not stop_asking.is_set():
            started = time.monotonic()
            try:
                status, headers, _ = get(f"{base}/api/v1/organizations/212172", timeout=10)
                answers.append((started, status, headers.get("X-Release")))
                if status != 200:
                    failures.append(status)
            except OSError as error:  # refused, reset, timed out: a failed request
                failures.append(repr(error))
            stop_asking.wait(0.03)  # steady traffic that leaves the 2 CPUs to the reload

    with gunicorn(env, tmp_path, command=command, cwd=current) as server:
        old_master = server.process.pid
        assert int(pidfile.read_text()) == old_master
        clients = [threading.Thread(target=ask, args=(server.base,)) for _ in range(3)]
        for client in clients:
            client.start()
        try:
            assert wait_until(lambda: len(answers) >= 10, 30)
            _point(current, new_release)
            reload = subprocess.run([str(current / "scripts" / "gunicorn-reload.sh"), str(pidfile), "60"],
                                    capture_output=True, text=True, timeout=120)
            reloaded_at = time.monotonic()
            assert reload.returncode == 0, reload.stderr + server.text()[-3000:]
            assert wait_until(lambda: len([a for a in answers if a[0] > reloaded_at]) >= 10, 30)
        finally:
            stop_asking.set()
            for client in clients:
                client.join(timeout=30)
        new_master = int(pidfile.read_text())
        assert new_master != old_master and server.process.poll() is not None  # the old master is gone
        os.kill(new_master, 0)

    notices = []
    while True:
        try:
            notices.append(notify.recv(4096).decode())
        except BlockingIOError:
            break
    notify.close()
    assert any(notice.startswith("READY=1") for notice in notices)
    assert f"MAINPID={new_master}" in notices  # systemd follows the new master: the old one's exit is no stop

    assert failures == []
    releases_seen = [release for _, _, release in answers]
    assert releases_seen[0] == "A" and "B" in releases_seen
    # Asked once the old master had stopped: the new release answers alone.
    assert {release for started, _, release in answers if started > reloaded_at} == {"B"}
    assert "USR2" in reload.stderr or "new master" in reload.stderr
