"""Rate limits shared by every worker: counted in Redis (RATELIMIT_STORAGE_URI=redis://…), production
refusing per-process counts (memory://) with more than one worker, and what happens while Redis is
down (each process counts in its own memory, and goes back to Redis by itself).

The Redis is the one scripts/with-redis.sh started (`make test` runs both passes beside one; the
PostgreSQL pass also keeps every other test's limits in it)."""
import contextlib
import logging
import os
import socket
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from config import ProductionConfig, TestingConfig, check_shared_limits, worker_count
from registry import create_app
from registry.certificates.keys import CertificateKey
from registry.extensions import limiter
from tests.conftest import Api
from tests.servers import free_port

ROOT = Path(__file__).resolve().parents[2]
CONFIG = str(ROOT / "config" / "gunicorn.py")
CHECK_IN_LIMIT = 10  # registry.common.limits.PER_ACCOUNT_CHECK_IN, per minute from the first try


# --- production refuses per-process counts with several workers ------------------------------------

def test_several_workers_need_a_shared_store():
    check_shared_limits("redis://127.0.0.1:6379/0", True, 12)
    check_shared_limits("memory://", True, 1)  # one process: its memory is the only count
    check_shared_limits("memory://", False, 12)  # limits off: nothing is counted
    for uri in ("memory://", "", None):
        with pytest.raises(RuntimeError, match="RATELIMIT_STORAGE_URI.*redis://.*2 workers"):
            check_shared_limits(uri, True, 2)


def test_the_worker_count_is_gunicorns(monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    monkeypatch.delenv("WEB_CONCURRENCY", raising=False)
    assert worker_count() == 5  # config/gunicorn.py's default: 2 × cores + 1
    monkeypatch.setenv("WEB_CONCURRENCY", "1")
    assert worker_count() == 1
    monkeypatch.setenv("WEB_CONCURRENCY", "many")  # gunicorn refuses it; never taken for one
    assert worker_count() == 5


def _limit_problems(**config) -> list[str]:
    """What the production check says about the rate limit store, among the other settings."""
    return [p for p in ProductionConfig.problems({"RATELIMIT_ENABLED": True, **config})
            if p.startswith("RATELIMIT_STORAGE_URI")]


def test_the_production_check_names_the_setting(monkeypatch):
    monkeypatch.setenv("WEB_CONCURRENCY", "4")
    [refusal] = _limit_problems(RATELIMIT_STORAGE_URI="memory://")
    assert "4 workers" in refusal
    assert _limit_problems(RATELIMIT_STORAGE_URI="redis://127.0.0.1:6379/0") == []
    monkeypatch.setenv("WEB_CONCURRENCY", "1")
    assert _limit_problems(RATELIMIT_STORAGE_URI="memory://") == []


def _production_env(tmp_path, **settings) -> dict:
    """Production settings good in every other way (the app is refused before it connects anywhere)."""
    env = {**os.environ, "REGISTRY_ENV": "production", "SECRET_KEY": "shared-limits-test-" + "k" * 32,
           "DATABASE_URL": "postgresql://registry@127.0.0.1:1/refused", "SITE_URL": "https://furusato.example.jp",
           "CERTIFICATE_SIGNING_KEY": CertificateKey.generate().private_pem().decode(),
           "UPLOAD_DIR": str(tmp_path / "uploads"),
           "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"), "BIND": f"127.0.0.1:{free_port()}",
           "LOG_FORMAT": "text", **settings}
    for name in ("REGISTRY_METRICS_MASTER_PID", "REGISTRY_METRICS_TEMPORARY_DIR", "GUNICORN_CMD_ARGS",
                 "RATELIMIT_ENABLED"):
        env.pop(name, None)
    return env


def _gunicorn(env, *args, timeout=60):
    """gunicorn with config/gunicorn.py; answers (exit code or None if it was still serving, output)."""
    process = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", CONFIG, *args, "wsgi:app"], cwd=ROOT,
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + timeout
    port = int(env["BIND"].rsplit(":", 1)[1])
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break  # serving
        except OSError:
            time.sleep(0.2)
    code = process.poll()
    if code is None:
        process.terminate()
    output = process.communicate(timeout=30)[0]
    return code, output


@pytest.mark.slow
def test_gunicorn_refuses_to_start_with_two_workers_on_memory(tmp_path):
    refused, output = _gunicorn(_production_env(tmp_path, WEB_CONCURRENCY="2", RATELIMIT_STORAGE_URI="memory://"))
    assert refused not in (None, 0), output[-2000:]
    assert "RATELIMIT_STORAGE_URI must name a shared store" in output and "2 workers" in output
    # gunicorn's own count, when `-w` says more than WEB_CONCURRENCY
    refused, output = _gunicorn(_production_env(tmp_path, WEB_CONCURRENCY="1", RATELIMIT_STORAGE_URI="memory://"),
                                "-w", "3")
    assert refused not in (None, 0) and "3 workers" in output, output[-2000:]
    # (Production with two workers on Redis starts and serves: tests/operations/test_two_hosts.py.)


# --- counts in Redis ------------------------------------------------------------------------------

@pytest.fixture
def limits_in(app):
    """limits_in(uri) → an API client of an app whose rate limits count in `uri`. The limiter is one
    object shared by every app made here: the session's own store comes back afterwards."""
    shared = {key: app.config[key] for key in ("SQLALCHEMY_DATABASE_URI", "CERTIFICATE_SIGNING_KEY", "UPLOAD_DIR")}

    def make(uri):
        return Api(create_app(TestingConfig, {**shared, "RATELIMIT_STORAGE_URI": uri}).test_client())

    yield make
    create_app(TestingConfig, {**shared, "RATELIMIT_STORAGE_URI": app.config["RATELIMIT_STORAGE_URI"]})


def _check_in(api, token):
    """A try at checking in to a need that is not there: counted by the limit, then 404."""
    return api.post(f"/needs/{uuid.uuid4()}/check-in", token=token, json={"code": "000000"})


def test_limits_count_in_redis_and_the_tests_reset_clears_them(limits_in, redis_server, signup):
    api = limits_in(redis_server.url)
    _, token = signup()
    assert [_check_in(api, token).status_code for _ in range(CHECK_IN_LIMIT)] == [404] * CHECK_IN_LIMIT
    limited = _check_in(api, token)
    assert limited.status_code == 429 and limited.get_json()["code"] == "rate_limited"
    assert 0 < int(limited.headers["Retry-After"]) <= 61  # the minute's window, rounded up
    keys = [key.decode() for key in redis_server.client().keys("LIMITS*")]
    assert any("check-in" in key for key in keys), keys
    _, other = signup()
    assert _check_in(api, other).status_code == 404  # per account
    limiter.reset()  # what tests/conftest.py does before every test
    assert redis_server.client().keys("LIMITS*") == []
    assert _check_in(api, token).status_code == 404


@pytest.mark.slow  # waits for flask-limiter's back-off to look at Redis again
def test_while_redis_is_down_each_process_counts_alone_and_redis_is_used_again_once_back(
        limits_in, redis_server, signup, caplog):
    api = limits_in(redis_server.url)
    _, token = signup()
    assert _check_in(api, token).status_code == 404
    caplog.set_level(logging.INFO, logger="flask-limiter")
    redis_server.stop()
    try:
        started = time.monotonic()
        statuses = [_check_in(api, token).status_code for _ in range(CHECK_IN_LIMIT)]
        assert time.monotonic() - started < 10  # no request hangs on the dead store
        assert statuses == [404] * CHECK_IN_LIMIT  # served, never 500
        limited = _check_in(api, token)  # the count went on in this process's memory
        assert limited.status_code == 429 and limited.get_json()["code"] == "rate_limited"
        assert "falling back to in-memory storage" in caplog.text
    finally:
        redis_server.start()
    _counts_in_redis_again(api, token, redis_server)
    assert "Rate limit storage recovered" in caplog.text


@pytest.mark.slow  # waits for flask-limiter's back-off to look at Redis again
def test_a_redis_that_hangs_holds_no_request_long(limits_in, redis_server, signup):
    api = limits_in(redis_server.url)
    _, token = signup()
    assert _check_in(api, token).status_code == 404  # a pooled connection to Redis is open now
    took, statuses = [], []
    redis_server.pause()  # it keeps its port and connections, and answers nothing
    try:
        with _deadline(20):  # without timeouts a request would wait for Redis for ever
            for _ in range(CHECK_IN_LIMIT - 1):
                started = time.monotonic()
                statuses.append(_check_in(api, token).status_code)
                took.append(time.monotonic() - started)
    finally:
        redis_server.resume()
    assert statuses == [404] * (CHECK_IN_LIMIT - 1)  # served, never 500
    assert max(took) < 5, took  # the one that met the hung Redis waited its timeouts (about 2 s)
    assert sum(took) < 10, took  # the others counted in memory at once
    _counts_in_redis_again(api, token, redis_server)


@contextlib.contextmanager
def _deadline(seconds: float):
    """Fails the test when the block takes longer than `seconds`: an alarm interrupts whatever waits
    (every 2 s after the first, as a client may take an interrupted read for a failure and retry);
    the block's own code may swallow the interruption, the answer is still a failure."""
    expired = []

    def alarm(*_):
        expired.append(time.monotonic())
        raise AssertionError(f"still waiting after {seconds} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds, 2)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert not expired, f"the block took more than {seconds} s"


def _counts_in_redis_again(api, token, redis_server) -> None:
    """Once flask-limiter looks at Redis again (back-off 1, 2, 4 … s), the counts are Redis's: a try
    leaves its key there, and the account, whose tries ran out in this process's memory, is not
    refused (Redis came back empty)."""
    redis = redis_server.client()
    redis.flushdb()  # whatever the paused server had counted before
    deadline = time.monotonic() + 45  # well within the minute the memory's count lasts
    while time.monotonic() < deadline:
        status = _check_in(api, token).status_code
        if redis.keys("LIMITS*"):
            break
        time.sleep(0.2)
    assert redis.keys("LIMITS*"), "still counting in memory"
    assert status == 404
