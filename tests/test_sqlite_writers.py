"""The embedded default (SQLite) serves concurrent writers without 503: each request's transaction
takes the write lock when it begins, so writers wait their turn (API.md "Past one machine")."""
import json
import threading
import urllib.error
import urllib.request
import uuid

import pytest
from werkzeug.serving import make_server

from config import TestingConfig
from registry import create_app
from registry.extensions import db
from registry.figures.recount import verify
from registry.organizations.reference import load_reference_data

pytestmark = [pytest.mark.slow, pytest.mark.committing]  # its own server and database, real commits
THREADS = 12


@pytest.fixture
def served(dialect, tmp_path):
    """A real threaded HTTP server on a SQLite file of its own (as `make run` serves)."""
    if dialect != "sqlite":
        pytest.skip("the embedded default is SQLite")
    app = create_app(TestingConfig, {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'embedded.db'}",
                                     "UPLOAD_DIR": str(tmp_path / "uploads"), "RATELIMIT_ENABLED": False})
    with app.app_context():
        db.create_all()
        load_reference_data()
        db.session.commit()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield app, f"http://127.0.0.1:{server.server_port}/api/v1"
    finally:
        server.shutdown()
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def _call(base, method, path, body=None, token=None):
    request = urllib.request.Request(base + path, method=method, data=json.dumps(body).encode() if body else None,
                                     headers={"Content-Type": "application/json",
                                              **({"Authorization": f"Bearer {token}"} if token else {})})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def test_a_dozen_clients_sign_up_sign_in_register_and_reset_at_once(served):
    app, base = served
    statuses, start = [], threading.Barrier(THREADS)

    def person(n):
        email = f"writer-{n}-{uuid.uuid4().hex[:6]}@example.jp"
        start.wait(timeout=30)
        status, body = _call(base, "POST", "/auth/signup", {
            "email": email, "password": "correct-horse-9", "display_name": f"書き手{n}",
            "home_municipality_code": "131016", "birth_year": 1990})
        statuses.append(("signup", status))
        status, body = _call(base, "POST", "/auth/login", {"email": email, "password": "correct-horse-9"})
        statuses.append(("login", status))
        token = body["token"]
        for code in ("212172", "212032", "472018"):
            status, _ = _call(base, "POST", "/registrations", {"organization_code": code, "ties": ["family"]}, token)
            statuses.append(("register", status))
        status, _ = _call(base, "POST", "/auth/password-reset", {"email": email})
        statuses.append(("reset", status))

    threads = [threading.Thread(target=person, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    expected = {"signup": 201, "login": 200, "register": 201, "reset": 202}
    wrong = [(what, status) for what, status in statuses if status != expected[what]]
    assert len(statuses) == THREADS * 6 and wrong == []
    with app.app_context():
        assert verify() == []
