"""Races for the tests marked `committing` (mostly on PostgreSQL): work released at once from several
threads, and the accounts such tests commit before they race (no rolled-back transaction holds them)."""
import threading
import uuid

from registry.accounts import service as accounts
from registry.extensions import db
from tests.factories import CHIYODA, HIDA, PASSWORD

API = "/api/v1"


def together(n: int, run, *, timeout: float = 120) -> list:
    """Runs `run(i, start)` in n threads; each calls `start()` when it is ready, which lets all of them
    go on at once (a barrier). Returns the results by i; raises the first error a thread met."""
    barrier = threading.Barrier(n)
    results, errors = [None] * n, []

    def target(i):
        try:
            results[i] = run(i, barrier.wait)
        except BaseException as error:  # raised below, in the test's thread
            errors.append(error)

    threads = [threading.Thread(target=target, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    if errors:
        raise errors[0]
    return results


def in_parallel(app, n: int, make_request) -> list:
    """Runs `make_request(client, i)` in n threads released together; each request has its own app
    context and database session. Returns the results by i."""

    def run(i, start):
        client = app.test_client()
        start()
        return make_request(client, i)

    return together(n, run, timeout=60)


def auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def resident_token(client, home: str = CHIYODA) -> str:
    """A resident signed up through the API (the request commits): their bearer token."""
    response = client.post(f"{API}/auth/signup", json={
        "email": f"c-{uuid.uuid4().hex[:8]}@example.jp", "password": PASSWORD, "display_name": "並行",
        "home_municipality_code": home, "birth_year": 1985})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["token"]


def staff_token(app, client, code: str = HIDA) -> str:
    """A staff account of `code` made as the CLI makes it, committed, signed in: its bearer token."""
    email = f"staff-{uuid.uuid4().hex[:8]}@example.jp"
    with app.app_context():
        accounts.create_user(email=email, password=PASSWORD, role="staff", organization_code=code)
        db.session.commit()
    response = client.post(f"{API}/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.get_json()
    return response.get_json()["token"]
