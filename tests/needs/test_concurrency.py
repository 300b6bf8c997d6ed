"""Races on a real PostgreSQL: parallel accepts never exceed capacity; parallel applications by one
person make one application."""
import uuid

import pytest
from sqlalchemy import func, select

from registry.accounts import service as accounts
from registry.extensions import db
from registry.needs.models import HOLDS_PLACE, Application, Need
from tests.factories import HIDA
from tests.needs.conftest import need_body
from tests.parallel import in_parallel

pytestmark = [pytest.mark.committing, pytest.mark.postgres_only]
API = "/api/v1"




def _auth(token):
    return {"Authorization": f"Bearer {token}"}


def _resident(client):
    response = client.post(f"{API}/auth/signup", json={
        "email": f"c-{uuid.uuid4().hex[:8]}@example.jp", "password": "password-123", "display_name": "並行",
        "home_municipality_code": "131016", "birth_year": 1985})
    return response.get_json()["token"]


def _staff_token(app, client):
    email = f"staff-{uuid.uuid4().hex[:8]}@example.jp"
    with app.app_context():
        accounts.create_user(email=email, password="staff-password-1", role="staff", organization_code=HIDA)
        db.session.commit()
    return client.post(f"{API}/auth/login", json={"email": email, "password": "staff-password-1"}).get_json()["token"]


def test_parallel_accepts_never_exceed_capacity(app):
    client = app.test_client()
    staff = _staff_token(app, client)
    need = client.post(f"{API}/needs", headers=_auth(staff), json=need_body(capacity=3)).get_json()
    applications = [client.post(f"{API}/needs/{need['id']}/applications", headers=_auth(_resident(client)),
                                json={}).get_json()["id"] for _ in range(10)]

    responses = in_parallel(app, 10, lambda c, i: c.post(f"{API}/applications/{applications[i]}/accept",
                                                       headers=_auth(staff)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 3 + [409] * 7
    assert {r.get_json()["code"] for r in responses if r.status_code == 409} == {"need_full"}
    with app.app_context():
        row = db.session.get(Need, uuid.UUID(need["id"]))
        taken = db.session.scalar(select(func.count()).select_from(Application).where(
            Application.need_id == row.id, Application.status.in_(HOLDS_PLACE)))
        assert row.accepted_count == taken == 3


def test_parallel_applications_by_one_person_make_one(app):
    client = app.test_client()
    staff = _staff_token(app, client)
    need = client.post(f"{API}/needs", headers=_auth(staff), json=need_body()).get_json()
    token = _resident(client)
    responses = in_parallel(app, 8, lambda c, i: c.post(f"{API}/needs/{need['id']}/applications",
                                                      headers=_auth(token), json={}))
    assert sorted(r.status_code for r in responses) == [201] + [409] * 7
    assert {r.get_json()["code"] for r in responses if r.status_code == 409} == {"already_applied"}


def test_parallel_cancels_and_accepts_keep_the_count(app):
    """Accepted applicants cancel while staff accept the waitlist: the count always equals the rows."""
    client = app.test_client()
    staff = _staff_token(app, client)
    need = client.post(f"{API}/needs", headers=_auth(staff), json=need_body(capacity=2)).get_json()
    holders = []
    for _ in range(2):
        token = _resident(client)
        application = client.post(f"{API}/needs/{need['id']}/applications", headers=_auth(token), json={}).get_json()
        client.post(f"{API}/applications/{application['id']}/accept", headers=_auth(staff))
        holders.append((token, application["id"]))
    waiting = [client.post(f"{API}/needs/{need['id']}/applications", headers=_auth(_resident(client)),
                           json={}).get_json()["id"] for _ in range(6)]

    def act(c, i):
        if i < 2:
            token, application = holders[i]
            return c.delete(f"{API}/applications/{application}", headers=_auth(token))
        return c.post(f"{API}/applications/{waiting[i - 2]}/accept", headers=_auth(staff))

    responses = in_parallel(app, 8, act)
    assert all(r.status_code in (200, 204, 409) for r in responses)
    with app.app_context():
        row = db.session.get(Need, uuid.UUID(need["id"]))
        taken = db.session.scalar(select(func.count()).select_from(Application).where(
            Application.need_id == row.id, Application.status.in_(HOLDS_PLACE)))
        assert row.accepted_count == taken <= 2
