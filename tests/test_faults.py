"""Faults: the database going away and coming back; a failure half-way through a change."""
import os
import shlex
import subprocess
import time
import uuid

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from config import TestingConfig, database_url
from registry import create_app
from registry.accounts.models import User
from registry.certificates.keys import CertificateKey
from registry.extensions import db
from registry.figures import ledger
from registry.figures.recount import maintained_counters, verify
from registry.registrations.models import Registration


def _pg_ctl(*args):
    command = shlex.split(os.environ["PG_TEST_CTL"]) + list(args)
    subprocess.run(command, check=True, capture_output=True, timeout=60)


@pytest.mark.postgres_only
@pytest.mark.committing
@pytest.mark.slow  # stops and starts the PostgreSQL server
def test_database_outage_is_503_and_recovers_by_itself(app):
    if not os.environ.get("PG_TEST_CTL"):
        pytest.skip("needs the test server's pg_ctl (scripts/with-postgres.sh)")
    client = app.test_client()
    assert client.get("/api/v1/organizations/212172").status_code == 200
    server_log = os.path.join(os.path.dirname(os.environ["PG_TEST_DATA"]), "server.log")
    _pg_ctl("stop", "-m", "fast", "-w")
    try:
        for path in ("/api/v1/organizations/212172", "/api/v1/organizations?kind=prefecture", "/readyz"):
            started = time.monotonic()
            response = client.get(path)
            assert response.status_code == 503, (path, response.data[:200])
            assert response.mimetype == "application/problem+json"
            if path != "/readyz":
                assert response.get_json()["code"] == "database_unavailable"
            assert time.monotonic() - started < 10  # at once, not a hang
        signup = client.post("/api/v1/auth/signup", json={
            "email": f"down-{uuid.uuid4().hex[:6]}@example.jp", "password": "password-123", "display_name": "x",
            "home_municipality_code": "131016", "birth_year": 1990})
        assert signup.status_code == 503
        assert client.get("/healthz").status_code == 200  # the process still serves
    finally:
        _pg_ctl("start", "-w", "-l", server_log, "-o", os.environ["PG_TEST_OPTS"])
    for _ in range(20):
        if client.get("/readyz").status_code == 200:
            break
        time.sleep(0.5)
    assert client.get("/api/v1/organizations/212172").status_code == 200


@pytest.mark.postgres_only
@pytest.mark.committing
def test_pooled_connections_from_before_a_restart_are_replaced_without_an_error(app):
    """No pre-ping: a pooled connection the server closed is noticed on checkout (its socket is
    readable) and replaced, so the first requests after the server is back succeed."""
    if not os.environ.get("PG_TEST_CTL"):
        pytest.skip("needs the test server's pg_ctl (scripts/with-postgres.sh)")
    assert app.config["SQLALCHEMY_ENGINE_OPTIONS"]["pool_pre_ping"] is False
    with app.app_context():
        held = [db.engine.connect() for _ in range(3)]  # three connections into the pool
        for connection in held:
            connection.exec_driver_sql("SELECT 1")
            connection.close()
        assert db.engine.pool.checkedin() >= 3
    server_log = os.path.join(os.path.dirname(os.environ["PG_TEST_DATA"]), "server.log")
    _pg_ctl("restart", "-m", "fast", "-w", "-l", server_log, "-o", os.environ["PG_TEST_OPTS"])
    client = app.test_client()
    for _ in range(5):  # the pool hands out its connections in turn: each old one is met
        assert client.get("/api/v1/organizations/212172").status_code == 200


def test_a_failure_after_the_writes_before_the_commit_leaves_nothing(api, signup, monkeypatch):
    _, token = signup()
    before = maintained_counters()

    record = ledger.FigureChange.record

    def broken(self, *args, **kwargs):
        record(self, *args, **kwargs)
        raise RuntimeError("injected fault after the registration and its figures")

    monkeypatch.setattr(ledger.FigureChange, "record", broken)  # after the writes, before the commit
    response = api.post("/registrations", token=token, json={"organization_code": "212172", "ties": ["family"]})
    assert response.status_code == 500 and response.get_json()["code"] == "internal_error"
    assert "injected" not in response.get_data(as_text=True)  # no internals leak
    monkeypatch.undo()
    assert db.session.scalar(select(func.count()).select_from(Registration)) == 0
    assert maintained_counters() == before
    assert verify() == []
    assert api.post("/registrations", token=token,
                    json={"organization_code": "212172", "ties": ["family"]}).status_code == 201


# A multi-host DATABASE_URL (libpq's form, as an HA manager hands it out; docs/operations.md): the
# hosts are tried in turn, and only a writable one is taken with target_session_attrs=read-write.
# scripts/with-postgres.sh's primary and its hot standby stand in for an HA pair; port 9 (discard)
# for a host that is down.
DOWN = "127.0.0.1:9"


def _server(variable: str) -> str:
    raw = os.environ.get(variable)
    if not raw:
        pytest.skip(f"needs {variable} (scripts/with-postgres.sh starts a primary and a standby)")
    url = make_url(database_url(raw, raw))
    return f"{url.host}:{url.port}"


@pytest.fixture
def app_on(tmp_path):
    """app_on(url) → an app like the suite's on that DATABASE_URL."""
    made = []

    def make(url):
        served = create_app(TestingConfig, {
            "SQLALCHEMY_DATABASE_URI": database_url(url, url), "RATELIMIT_ENABLED": False,
            "CERTIFICATE_SIGNING_KEY": CertificateKey.generate().private_pem().decode(),
            "UPLOAD_DIR": str(tmp_path / "uploads")})
        made.append(served)
        return served

    yield make
    for served in made:
        with served.app_context():
            for engine in db.engines.values():
                engine.dispose()


def _signup(client, email):
    return client.post("/api/v1/auth/signup", json={
        "email": email, "password": "password-123", "display_name": "x",
        "home_municipality_code": "131016", "birth_year": 1990})


def _users_named(app, email) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(User).where(User.email == email))


def _assert_unavailable(response, started):
    assert response.status_code == 503, response.data[:300]
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["code"] == "database_unavailable" and response.headers["Retry-After"]
    assert time.monotonic() - started < 10


@pytest.mark.postgres_only
@pytest.mark.committing
def test_a_multi_host_url_passes_over_a_host_that_is_down_and_a_standby(app, app_on):
    primary, standby = _server("TEST_DATABASE_URL"), _server("TEST_REPLICA_URL")
    served = app_on(f"postgresql://registry@{DOWN},{standby},{primary}/registry_test"
                    "?target_session_attrs=read-write")
    client = served.test_client()
    assert client.get("/api/v1/organizations/212172").status_code == 200
    email = f"multi-{uuid.uuid4().hex[:8]}@example.jp"
    assert _signup(client, email).status_code == 201  # the write went to the primary
    assert _users_named(app, email) == 1


@pytest.mark.postgres_only
@pytest.mark.committing
def test_no_writable_host_is_503_at_once_and_nothing_is_written(app, app_on):
    standby = _server("TEST_REPLICA_URL")
    served = app_on(f"postgresql://registry@{DOWN},{standby}/registry_test?target_session_attrs=read-write")
    client = served.test_client()
    email = f"nowhere-{uuid.uuid4().hex[:8]}@example.jp"
    for request in (lambda: client.get("/api/v1/organizations/212172"), lambda: _signup(client, email)):
        started = time.monotonic()
        _assert_unavailable(request(), started)
    assert _users_named(app, email) == 0


@pytest.mark.postgres_only
@pytest.mark.committing
def test_a_standby_taken_for_the_primary_refuses_writes_with_503_not_500(app, app_on):
    """DATABASE_URL naming a standby without target_session_attrs (or a primary demoted under a
    pooled connection): reads work; a write is refused read-only (SQLSTATE 25006), which the app
    takes for a lost primary: 503, the pool dropped."""
    served = app_on(f"postgresql://registry@{_server('TEST_REPLICA_URL')}/registry_test")
    client = served.test_client()
    assert client.get("/api/v1/organizations/212172").status_code == 200
    email = f"standby-{uuid.uuid4().hex[:8]}@example.jp"
    started = time.monotonic()
    _assert_unavailable(_signup(client, email), started)
    assert _users_named(app, email) == 0
    assert client.get("/api/v1/organizations/212172").status_code == 200  # a fresh connection serves reads
