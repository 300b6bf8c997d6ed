"""Faults: the database going away and coming back; a failure half-way through a change."""
import os
import shlex
import subprocess
import time
import uuid

import pytest
from sqlalchemy import func, select

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
