"""Races on a real PostgreSQL: a set-password link is used once however many requests race for it;
parallel check-ins of one applicant record one time."""
import uuid
from datetime import datetime

import pytest
from sqlalchemy import select

from registry.extensions import db
from registry.needs.models import Application
from tests.factories import HIDA
from tests.hosts.conftest import in_progress
from tests.parallel import API, auth, in_parallel, resident_token, staff_token

pytestmark = [pytest.mark.committing, pytest.mark.postgres_only]


def test_a_link_is_used_once_under_a_race(app):
    client = app.test_client()
    staff = staff_token(app, client)
    host = client.post(f"{API}/organizations/{HIDA}/hosts", headers=auth(staff),
                       json={"email": "race@example.jp", "display_name": "競争", "host_name": "宿"}).get_json()
    responses = in_parallel(app, 8, lambda c, i: c.post(f"{API}/auth/set-password", json={
        "token": host["set_password_token"], "password": f"password-{i:04d}"}))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [422] * 7
    winner = next(i for i, r in enumerate(responses) if r.status_code == 200)
    assert client.post(f"{API}/auth/login", json={"email": "race@example.jp",
                                                  "password": f"password-{winner:04d}"}).status_code == 200


def test_parallel_check_ins_record_one_time(app):
    client = app.test_client()
    staff = staff_token(app, client)
    need = client.post(f"{API}/needs", headers=auth(staff), json=in_progress()).get_json()
    resident = resident_token(client)
    application = client.post(f"{API}/needs/{need['id']}/applications", headers=auth(resident), json={}).get_json()
    client.post(f"{API}/applications/{application['id']}/accept", headers=auth(staff))
    code = client.get(f"{API}/needs/{need['id']}/check-in-code", headers=auth(staff)).get_json()["code"]
    responses = in_parallel(app, 6, lambda c, i: c.post(f"{API}/needs/{need['id']}/check-in", headers=auth(resident),
                                                      json={"code": code}))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [409] * 5
    first = next(r for r in responses if r.status_code == 200).get_json()["checked_in_at"]
    assert {r.get_json()["code"] for r in responses if r.status_code == 409} == {"already_checked_in"}
    with app.app_context():
        row = db.session.scalar(select(Application).where(Application.id == uuid.UUID(application["id"])))
        assert row.checked_in_at == datetime.fromisoformat(first)  # the winner's time, kept
