"""Races on a real PostgreSQL: parallel accepts never exceed capacity; parallel applications by one
person make one application."""
import uuid

import pytest
from sqlalchemy import func, select

from registry.extensions import db
from registry.needs.models import HOLDS_PLACE, Application, Need
from tests.needs.conftest import need_body
from tests.parallel import API, auth, in_parallel, resident_token, staff_token

pytestmark = [pytest.mark.committing, pytest.mark.postgres_only]


def test_parallel_accepts_never_exceed_capacity(app):
    client = app.test_client()
    staff = staff_token(app, client)
    need = client.post(f"{API}/needs", headers=auth(staff), json=need_body(capacity=3)).get_json()
    applications = [client.post(f"{API}/needs/{need['id']}/applications", headers=auth(resident_token(client)),
                                json={}).get_json()["id"] for _ in range(10)]

    responses = in_parallel(app, 10, lambda c, i: c.post(f"{API}/applications/{applications[i]}/accept",
                                                       headers=auth(staff)))
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
    staff = staff_token(app, client)
    need = client.post(f"{API}/needs", headers=auth(staff), json=need_body()).get_json()
    token = resident_token(client)
    responses = in_parallel(app, 8, lambda c, i: c.post(f"{API}/needs/{need['id']}/applications",
                                                      headers=auth(token), json={}))
    assert sorted(r.status_code for r in responses) == [201] + [409] * 7
    assert {r.get_json()["code"] for r in responses if r.status_code == 409} == {"already_applied"}


def test_parallel_cancels_and_accepts_keep_the_count(app):
    """Accepted applicants cancel while staff accept the waitlist: the count always equals the rows."""
    client = app.test_client()
    staff = staff_token(app, client)
    need = client.post(f"{API}/needs", headers=auth(staff), json=need_body(capacity=2)).get_json()
    holders = []
    for _ in range(2):
        token = resident_token(client)
        application = client.post(f"{API}/needs/{need['id']}/applications", headers=auth(token), json={}).get_json()
        client.post(f"{API}/applications/{application['id']}/accept", headers=auth(staff))
        holders.append((token, application["id"]))
    waiting = [client.post(f"{API}/needs/{need['id']}/applications", headers=auth(resident_token(client)),
                           json={}).get_json()["id"] for _ in range(6)]

    def act(c, i):
        if i < 2:
            token, application = holders[i]
            return c.delete(f"{API}/applications/{application}", headers=auth(token))
        return c.post(f"{API}/applications/{waiting[i - 2]}/accept", headers=auth(staff))

    responses = in_parallel(app, 8, act)
    assert all(r.status_code in (200, 204, 409) for r in responses)
    with app.app_context():
        row = db.session.get(Need, uuid.UUID(need["id"]))
        taken = db.session.scalar(select(func.count()).select_from(Application).where(
            Application.need_id == row.id, Application.status.in_(HOLDS_PLACE)))
        assert row.accepted_count == taken <= 2
