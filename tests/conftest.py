"""Test set-up: one schema per run, each test inside a transaction that is rolled back.

`TEST_DATABASE_URL` picks the database (`make test` runs the suite on SQLite, then on a PostgreSQL
server it starts); tests marked `committing` really commit (concurrency) and clean up after; tests
marked `slow` (browsers, fuzzing, processes and servers, faults) are left out by `make test-fast`.

The fixtures every domain's tests share are here (accounts through the API, the test client as an
API caller and as a browser, an upload folder); what they make through the services is in
tests/factories.py.
"""
import os
import re
import threading
import uuid

import pytest
from flask_sqlalchemy.session import _app_ctx_id
from sqlalchemy import delete, text
from sqlalchemy.orm import scoped_session, sessionmaker
from werkzeug.serving import make_server

from config import TestingConfig, database_url
from registry import create_app
from registry.common.time import utcnow
from registry.extensions import db, limiter
from registry.notifications.models import VERIFY_EMAIL_MAIL, OutboxMessage
from registry.organizations.reference import load_reference_data
from tests.factories import HIDA, user_of

API = "/api/v1"
REFERENCE_TABLES = {"organizations", "wards"}
SUMMARY = pytest.StashKey[list]()  # lines a test module leaves for the end of the run (e.g. a count)


def pytest_configure(config):
    config.addinivalue_line("markers", "committing: the test commits for real (threads, processes)")


def _database_url(tmp_path_factory) -> str:
    raw = os.environ.get("TEST_DATABASE_URL")
    if raw:
        return database_url(raw, raw)
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"


def pytest_terminal_summary(terminalreporter, config):
    for line in config.stash.get(SUMMARY, []):
        terminalreporter.write_line(line)


def pytest_report_header(config):
    raw = os.environ.get("TEST_DATABASE_URL")
    return [f"database: {'PostgreSQL ' + raw.rsplit('@', 1)[-1] if raw else 'SQLite (temporary file)'}",
            f"rate limits: {TestingConfig.RATELIMIT_STORAGE_URI}"]


@pytest.fixture(scope="session")
def app(tmp_path_factory):
    from registry.certificates.keys import CertificateKey
    # A throw-away certificate key in the config, so no test writes one under instance/.
    app = create_app(TestingConfig, {"SQLALCHEMY_DATABASE_URI": _database_url(tmp_path_factory),
                                     "CERTIFICATE_SIGNING_KEY": CertificateKey.generate().private_pem().decode(),
                                     "UPLOAD_DIR": str(tmp_path_factory.mktemp("uploads"))})
    with app.app_context():
        db.drop_all()
        db.create_all()
        load_reference_data()
        db.session.commit()
        db.session.remove()
    return app


@pytest.fixture(scope="session")
def s3_server():
    """moto's standalone server, an S3-speaking store on 127.0.0.1, for the whole run."""
    from tests.servers import MotoServer
    server = MotoServer().start()
    yield server
    server.stop()


@pytest.fixture
def redis_server():
    """The Redis that scripts/with-redis.sh started (skipped without one)."""
    from tests.servers import redis_server
    return redis_server()


@pytest.fixture(scope="session")
def dialect(app) -> str:
    with app.app_context():
        return db.engine.dialect.name


@pytest.fixture(autouse=True)
def _isolated(request, app, dialect):
    if request.node.get_closest_marker("postgres_only") and dialect != "postgresql":
        pytest.skip("needs PostgreSQL")
    limiter.reset()  # rate limits are on, counted per test
    if request.node.get_closest_marker("committing"):
        yield
        _clean(app)
        return
    with app.app_context():
        connection = db.engine.connect()
        outer = connection.begin()
        session = scoped_session(sessionmaker(bind=connection, join_transaction_mode="create_savepoint"),
                                 scopefunc=_app_ctx_id)
        original, db.session = db.session, session
        try:
            with app.app_context():
                yield
        finally:
            session.remove()
            db.session = original
            outer.rollback()
            connection.close()


def _clean(app) -> None:
    with app.app_context():
        db.session.remove()
        tables = [t for t in reversed(db.metadata.sorted_tables) if t.name not in REFERENCE_TABLES]
        if db.engine.dialect.name == "postgresql":
            with db.engine.begin() as conn:
                conn.execute(text("TRUNCATE " + ", ".join(t.name for t in tables) + " CASCADE"))
        else:
            with db.engine.begin() as conn:
                for table in tables:
                    conn.execute(delete(table))


class Api:
    """The test client with the API prefix, JSON bodies and bearer tokens.

    Each request runs in its own app context (fresh `g` and session, as in production; the test
    body's context would otherwise be reused), and the test body's session is expired afterwards
    so that it reads what the request wrote.
    """

    def __init__(self, client):
        self.client = client

    def call(self, method, path, token=None, headers=None, **kwargs):
        headers = dict(headers or {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        url = path if path.startswith((API, "/healthz", "/readyz", "/metrics")) else API + path
        with self.client.application.app_context():
            response = self.client.open(url, method=method, headers=headers, **kwargs)
        db.session.expire_all()
        return response

    def get(self, path, **kw):
        return self.call("GET", path, **kw)

    def post(self, path, **kw):
        return self.call("POST", path, **kw)

    def patch(self, path, **kw):
        return self.call("PATCH", path, **kw)

    def delete(self, path, **kw):
        return self.call("DELETE", path, **kw)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def api(client):
    return Api(client)


@pytest.fixture
def signup(api):
    """signup(home="131016", birth_year=1990, **fields) → (user json, token)."""

    def make(home="131016", birth_year=1990, **fields):
        body = {"email": f"r-{uuid.uuid4().hex[:10]}@example.jp", "password": "correct-horse-9",
                "display_name": "テスト太郎", "home_municipality_code": home, "birth_year": birth_year}
        body.update(fields)
        response = api.post("/auth/signup", json=body)
        assert response.status_code == 201, response.get_json()
        data = response.get_json()
        return data["user"], data["token"]

    return make


@pytest.fixture
def make_account(api):
    """make_account(role, organization=None) → token of a staff, host, national or admin account."""
    from registry.accounts import service

    def make(role, organization=None):
        email = f"{role}-{uuid.uuid4().hex[:10]}@example.jp"
        service.create_user(email=email, password="staff-password-1", role=role, organization_code=organization)
        db.session.commit()  # releases the test's savepoint only
        response = api.post("/auth/login", json={"email": email, "password": "staff-password-1"})
        assert response.status_code == 200, response.get_json()
        return response.get_json()["token"]

    return make


@pytest.fixture
def staff(make_account):
    """The token of a staff member of 飛騨市."""
    return make_account("staff", HIDA)


@pytest.fixture
def resident(signup):
    """resident(**signup fields) → the token of a new resident."""

    def make(**fields):
        return signup(**fields)[1]

    return make


@pytest.fixture
def verified_resident(signup):
    """verified_resident(verified=True, **signup fields) → (User, token): a resident whose e-mail
    address is verified (as if the e-mailed link had been used), so that notices are e-mailed."""

    def make(verified=True, **fields):
        user_json, token = signup(**fields)
        user = user_of(user_json)
        if verified:  # the queued address check is dropped with it
            user.email_verified_at = utcnow()
            db.session.execute(delete(OutboxMessage).where(OutboxMessage.user_id == user.id,
                                                           OutboxMessage.kind == VERIFY_EMAIL_MAIL))
            db.session.commit()
        return user, token

    return make


@pytest.fixture
def upload_dir(app, tmp_path):
    """Evidence files of this test go to a folder of its own (the folder, not made until used)."""
    folder = tmp_path / "uploads"
    previous = app.config.get("UPLOAD_DIR")
    app.config["UPLOAD_DIR"] = str(folder)
    yield folder
    app.config["UPLOAD_DIR"] = previous


CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class Browser:
    """The test client as a browser: HTML, cookies, and the CSRF token taken from the last page."""

    def __init__(self, client):
        self.client, self.token = client, None

    def _open(self, method, path, **kw):
        # A fresh app context per request, as in production (see Api above).
        with self.client.application.app_context():
            response = self.client.open(path, method=method, **kw)
        db.session.expire_all()
        return response

    def get(self, path, **kw):
        response = self._open("GET", path, headers={"Accept": "text/html", **kw.pop("headers", {})}, **kw)
        found = CSRF.search(response.get_data(as_text=True)) if response.mimetype == "text/html" else None
        if found:
            self.token = found.group(1)
        return response

    def post(self, path, data=None, csrf=True, **kw):
        data = dict(data or {})
        if csrf:
            data["csrf_token"] = self.token
        return self._open("POST", path, data=data, headers={"Accept": "text/html"}, **kw)

    def signup(self, **fields):
        self.get("/signup")
        body = {"email": "page-user@example.jp", "password": "password-123", "display_name": "ページ太郎",
                "home_municipality_code": "131016", "birth_year": "1990", **fields}
        return self.post("/signup", body)

    def login(self, email, password):
        self.get("/login")
        return self.post("/login", {"email": email, "password": password})


@pytest.fixture
def browser(app):
    return Browser(app.test_client())


@pytest.fixture
def live_server(app):
    """The test session's app served on 127.0.0.1 by werkzeug's threaded server (for tests marked
    `committing`: the server's requests commit)."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
