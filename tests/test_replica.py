"""The read replica (DATABASE_REPLICA_URL): the figures read a streaming replica of the primary and
say how old they are; sign-in, writes and a person's own reads stay on the primary; a replica that is
down is no error.

scripts/with-postgres.sh starts the replica (TEST_REPLICA_URL, a hot standby of TEST_DATABASE_URL).
Data must be committed to replicate, so these tests commit and are cleaned up after (`committing`,
which also keeps the suite's rolled-back session out of the way); each uses an app of its own, since
the rest of the suite runs without a replica.
"""
import csv
import io
import logging
import os
import time
import uuid
from datetime import datetime

import pytest
from sqlalchemy import create_engine, func, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from config import TestingConfig, database_url
from registry import create_app
from registry.accounts import service as accounts
from registry.accounts.models import User
from registry.common.replica import reads_from_replica
from registry.common.time import today_tokyo, utcnow
from registry.extensions import db
from registry.figures import service as figures
from tests.conftest import Api, Browser

HIDA, GIFU = "212172", "210005"
CLOSED_PORT_URL = "postgresql://registry@127.0.0.1:9/registry_test"  # nothing listens on the discard port


class AppApi(Api):
    """tests/conftest.py's Api for an app of its own: a committing test body has no app context."""

    def call(self, *args, **kwargs):
        with self.client.application.app_context():
            return super().call(*args, **kwargs)


class AppBrowser(Browser):
    def _open(self, *args, **kwargs):
        with self.client.application.app_context():
            return super()._open(*args, **kwargs)


def _url(name: str) -> str:
    raw = os.environ.get(name)
    if not raw:
        pytest.skip(f"needs {name}: scripts/with-postgres.sh starts the test server and a streaming replica of it")
    return database_url(raw, raw)


@pytest.fixture
def make_app(app):
    """make_app(replica_url) → an app like the suite's (same primary) reading its figures from replica_url."""
    made = []

    def make(replica_url):
        replica_app = create_app(TestingConfig, {
            **{key: app.config[key] for key in ("SQLALCHEMY_DATABASE_URI", "CERTIFICATE_SIGNING_KEY", "UPLOAD_DIR")},
            "DATABASE_REPLICA_URL": replica_url, "MIN_CELL": 1})
        made.append(replica_app)
        return replica_app

    yield make
    for replica_app in made:
        with replica_app.app_context():
            for engine in db.engines.values():
                engine.dispose()


@pytest.fixture
def control():
    """control("primary"|"replica", sql, **params) → a scalar, on an autocommit connection of its own."""
    engines = {name: create_engine(_url(variable), isolation_level="AUTOCOMMIT", poolclass=NullPool)
               for name, variable in (("primary", "TEST_DATABASE_URL"), ("replica", "TEST_REPLICA_URL"))}

    def sql(name, statement, **params):
        with engines[name].connect() as conn:
            return conn.execute(text(statement), params).scalar()

    yield sql
    sql("replica", "SELECT pg_wal_replay_resume()")  # whatever the test did
    for engine in engines.values():
        engine.dispose()


def wait_for_replica(control, position="pg_last_wal_replay_lsn"):
    """Until the replica has replayed (or received) all the WAL the primary has inserted so far. (The
    insert position, not pg_current_wal_lsn(): the test server runs with synchronous_commit=off, so a
    commit record may still be in the WAL buffers, before the written position, for a moment.)"""
    target = str(control("primary", "SELECT pg_current_wal_insert_lsn()"))
    deadline = time.monotonic() + 20  # a bound on the wait, not a claim about speed
    while not control("replica", f"SELECT {position}() >= CAST(:target AS pg_lsn)", target=target):
        if time.monotonic() > deadline:
            pytest.fail(f"the replica did not reach {target} by {position}()")
        time.sleep(0.05)


def make_national(replica_app) -> str:
    email = f"national-{uuid.uuid4().hex[:8]}@example.jp"
    with replica_app.app_context():
        accounts.create_user(email=email, password="national-pass-1", role="national")
        db.session.commit()
    return email


def login(api, email) -> str:
    response = api.post("/auth/login", json={"email": email, "password": "national-pass-1"})
    assert response.status_code == 200, response.get_json()
    return response.get_json()["token"]


def gifu_people(browser) -> int:
    """岐阜県's 実人数 in the dashboard's CSV export."""
    exported = browser.get("/dashboard/by-prefecture.csv")
    assert exported.status_code == 200
    rows = {row["prefecture_code"]: row  # a download for spreadsheets: UTF-8 with a byte-order mark
            for row in csv.DictReader(io.StringIO(exported.get_data().decode("utf-8-sig"), newline=""))}
    return int(rows[GIFU]["actual_people"])


@pytest.mark.postgres_only
@pytest.mark.committing
def test_figures_come_from_the_replica_and_say_how_old_they_are(make_app, control):
    replica_app = make_app(_url("TEST_REPLICA_URL"))
    api, browser = AppApi(replica_app.test_client()), AppBrowser(replica_app.test_client())
    signup = api.post("/auth/signup", json={
        "email": f"r-{uuid.uuid4().hex[:8]}@example.jp", "password": "correct-horse-9", "display_name": "複製",
        "home_municipality_code": "131016", "birth_year": 1990})
    resident = signup.get_json()["token"]
    national_email, page_email = make_national(replica_app), make_national(replica_app)
    wait_for_replica(control)
    before = api.get("/stats/totals", token=login(api, national_email)).get_json()

    control("replica", "SELECT pg_wal_replay_pause()")
    # Signed in while the replica stands still: sign-in reads the primary, so the new token works at once.
    national = login(api, national_email)
    assert browser.login(page_email, "national-pass-1").status_code == 302
    gifu_before = gifu_people(browser)
    registration = api.post("/registrations", token=resident, json={"organization_code": HIDA, "ties": ["family"]})
    assert registration.status_code == 201, registration.get_json()
    registered_at = datetime.fromisoformat(registration.get_json()["registered_at"])
    wait_for_replica(control, "pg_last_wal_receive_lsn")  # on the replica, not yet replayed
    # The resident's own reads are the primary's: the registration is there at once …
    assert [r["id"] for r in api.get("/registrations", token=resident).get_json()] == [registration.get_json()["id"]]
    with replica_app.app_context():
        assert figures.totals(today=today_tokyo(), now=utcnow())["actual_people"] == before["actual_people"] + 1
    # … the figures are the replica's: not yet, and they say so (exact as of a time before it).
    paused = api.get("/stats/totals", token=national)
    assert paused.status_code == 200
    assert paused.get_json()["actual_people"] == before["actual_people"]
    assert datetime.fromisoformat(paused.get_json()["as_of"]) < registered_at
    as_csv = api.get("/stats/totals", token=national, headers={"Accept": "text/csv"}).get_data(as_text=True)
    assert next(csv.DictReader(io.StringIO(as_csv)))["as_of"] == paused.get_json()["as_of"]
    assert gifu_people(browser) == gifu_before  # the dashboard reads the replica too
    assert browser.get("/dashboard").status_code == 200

    control("replica", "SELECT pg_wal_replay_resume()")
    wait_for_replica(control)
    after = api.get("/stats/totals", token=national).get_json()
    assert after["actual_people"] == before["actual_people"] + 1
    assert datetime.fromisoformat(after["as_of"]) >= registered_at
    assert gifu_people(browser) == gifu_before + 1


@pytest.mark.postgres_only
@pytest.mark.committing
def test_writes_and_what_follows_them_stay_on_the_primary(make_app, control):
    replica_app = make_app(_url("TEST_REPLICA_URL"))
    wait_for_replica(control)
    control("replica", "SELECT pg_wal_replay_pause()")
    committed, flushed = make_national(replica_app), f"flushed-{uuid.uuid4().hex[:8]}@example.jp"

    def known() -> int:
        return db.session.scalar(select(func.count()).select_from(User).where(User.email.in_([committed, flushed])))

    @reads_from_replica
    def update_then_read():
        seen = [known()]  # the replica: it has not replayed `committed`
        db.session.execute(update(User).where(User.email == committed).values(display_name="更新"))  # the primary
        return seen + [known()]  # after a write statement the request reads the primary

    @reads_from_replica
    def flush_then_read():
        seen = [known()]
        accounts.create_user(email=flushed, password="national-pass-1", role="national")  # flushes to the primary
        return seen + [known()]

    for view, expected in ((update_then_read, [0, 1]), (flush_then_read, [0, 2])):
        with replica_app.test_request_context():
            assert view() == expected  # a write on the replica would have failed: it is read-only
            db.session.rollback()


@pytest.mark.postgres_only
@pytest.mark.committing
def test_the_replica_engine_is_pooled_like_the_primary_and_refuses_writes(make_app):
    # Pointed at a writable server, the replica engine must still refuse a write sent to it by hand.
    writable = make_app(_url("TEST_DATABASE_URL").replace("postgresql+psycopg://", "postgresql://"))

    @reads_from_replica
    def write_by_hand():
        db.session.execute(text("UPDATE figure_counters SET people = people"))

    with writable.test_request_context():
        primary, replica = db.engines[None], db.engines["replica"]
        assert replica.url.drivername == "postgresql+psycopg"  # a plain postgresql:// URL works
        assert (replica.pool.size(), replica.pool._pre_ping) == (primary.pool.size(), primary.pool._pre_ping)
        with pytest.raises(DBAPIError, match="read-only transaction"):
            write_by_hand()


@pytest.mark.postgres_only
@pytest.mark.committing
def test_a_replica_that_is_down_is_no_error(make_app, caplog):
    replica_app = make_app(CLOSED_PORT_URL)
    api = AppApi(replica_app.test_client())
    national = login(api, make_national(replica_app))
    started = utcnow()
    with caplog.at_level(logging.WARNING, logger="registry.common.replica"):
        totals = api.get("/stats/totals", token=national)
        prefectures = api.get("/stats/by-prefecture", token=national)
    assert (totals.status_code, prefectures.status_code) == (200, 200)
    assert len(prefectures.get_json()) == 47
    assert started <= datetime.fromisoformat(totals.get_json()["as_of"]) <= utcnow()  # the primary's now
    warnings = [r for r in caplog.records if "read replica unavailable" in r.getMessage()]
    assert len(warnings) == 1  # said once; the replica then rests instead of costing every request a try


@pytest.mark.postgres_only
@pytest.mark.committing
def test_a_replica_lost_half_way_hands_the_view_to_the_primary(make_app, control, monkeypatch):
    replica_app = make_app(_url("TEST_REPLICA_URL"))
    api = AppApi(replica_app.test_client())
    national = login(api, make_national(replica_app))
    wait_for_replica(control)
    read_totals = figures.totals

    def cut_off_then_read(**kwargs):  # the replica drops the request's connection after it was opened
        control("replica", "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                           "WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()")
        return read_totals(**kwargs)

    monkeypatch.setattr(figures, "totals", cut_off_then_read)
    started = utcnow()
    response = api.get("/stats/totals", token=national)
    assert response.status_code == 200, response.get_json()
    assert started <= datetime.fromisoformat(response.get_json()["as_of"]) <= utcnow()  # the primary's now


@pytest.mark.parametrize("primary, replica", [
    ("sqlite:///registry.db", "postgresql://registry@127.0.0.1/registry"),
    ("postgresql://registry@127.0.0.1/registry", "sqlite:///replica.db"),
])
def test_a_replica_needs_postgresql_on_both_sides(primary, replica):
    with pytest.raises(RuntimeError, match="DATABASE_REPLICA_URL"):
        create_app(TestingConfig, {"SQLALCHEMY_DATABASE_URI": database_url(primary, primary),
                                   "DATABASE_REPLICA_URL": replica})
