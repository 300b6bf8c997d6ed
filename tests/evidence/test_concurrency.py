"""Two staff members deciding the same evidence at the same moment: one decision, one activity."""
import threading
import uuid

import pytest
from sqlalchemy import func, select

from registry.accounts import service as accounts
from registry.extensions import db
from registry.registrations.models import Activity
from tests.evidence.conftest import form
from tests.factories import HIDA

pytestmark = [pytest.mark.committing, pytest.mark.postgres_only]  # SQLite: the losers get 503 (one writer)


def _token(client, email, password):
    return client.post("/api/v1/auth/login", json={"email": email, "password": password}).get_json()["token"]


def test_parallel_approvals_record_one_activity(app):
    client = app.test_client()
    signup = client.post("/api/v1/auth/signup", json={
        "email": f"e-{uuid.uuid4().hex[:8]}@example.jp", "password": "password-123", "display_name": "並行",
        "home_municipality_code": "131016", "birth_year": 1985}).get_json()
    resident = signup["token"]
    auth = {"Authorization": f"Bearer {resident}"}
    reg = client.post("/api/v1/registrations", headers=auth, json={"organization_code": HIDA, "ties": ["volunteer"]})
    evidence = client.post(f"/api/v1/registrations/{reg.get_json()['id']}/activity-evidence", headers=auth,
                           data=form(), content_type="multipart/form-data").get_json()
    tokens = []
    with app.app_context():
        for _ in range(4):
            email = f"s-{uuid.uuid4().hex[:8]}@example.jp"
            accounts.create_user(email=email, password="staff-password-1", role="staff", organization_code=HIDA)
            db.session.commit()
            tokens.append(_token(client, email, "staff-password-1"))
    barrier = threading.Barrier(len(tokens))
    statuses = [None] * len(tokens)

    def run(i):
        c = app.test_client()
        barrier.wait()
        statuses[i] = c.post(f"/api/v1/activity-evidence/{evidence['id']}/approve",
                             headers={"Authorization": f"Bearer {tokens[i]}"}).status_code

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(tokens))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(statuses) == [200] + [409] * (len(tokens) - 1), statuses
    with app.app_context():
        assert db.session.scalar(select(func.count(Activity.id)).where(
            Activity.evidence_id == uuid.UUID(evidence["id"]))) == 1
