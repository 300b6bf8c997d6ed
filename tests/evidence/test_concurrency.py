"""Two staff members deciding the same evidence at the same moment: one decision, one activity."""
import uuid

import pytest
from sqlalchemy import func, select

from registry.extensions import db
from registry.registrations.models import Activity
from tests.evidence.conftest import form
from tests.factories import HIDA
from tests.parallel import auth, in_parallel, resident_token, staff_token

pytestmark = [pytest.mark.committing, pytest.mark.postgres_only]  # SQLite: the losers get 503 (one writer)


def test_parallel_approvals_record_one_activity(app):
    client = app.test_client()
    resident = resident_token(client)
    reg = client.post("/api/v1/registrations", headers=auth(resident), json={"organization_code": HIDA,
                                                                          "ties": ["volunteer"]})
    evidence = client.post(f"/api/v1/registrations/{reg.get_json()['id']}/activity-evidence", headers=auth(resident),
                           data=form(), content_type="multipart/form-data").get_json()
    tokens = [staff_token(app, client) for _ in range(4)]
    statuses = in_parallel(app, len(tokens), lambda c, i: c.post(
        f"/api/v1/activity-evidence/{evidence['id']}/approve", headers=auth(tokens[i])).status_code)
    assert sorted(statuses) == [200] + [409] * (len(tokens) - 1), statuses
    with app.app_context():
        assert db.session.scalar(select(func.count(Activity.id)).where(
            Activity.evidence_id == uuid.UUID(evidence["id"]))) == 1
