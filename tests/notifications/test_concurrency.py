"""Overlapping runs of the sender deliver each message once (row locks on PostgreSQL; SQLite's
single writer); reminders created by overlapping runs exist once."""
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from registry.accounts import service as accounts
from registry.accounts.models import User
from registry.common.time import today_tokyo, utcnow
from registry.extensions import db
from registry.evidence import notices as evidence_notices
from registry.workflows.notices import create_due_reminders
from registry.notifications.models import Notification, OutboxMessage
from registry.notifications.service import notify
from registry.registrations import service as registrations
from registry.registrations.models import Registration
from tests.notifications.conftest import send
from tests.parallel import together
from tests.factories import add_activities, verify_identity

pytestmark = pytest.mark.committing
MESSAGES = 40


def _verified_people(app, n: int) -> list[uuid.UUID]:
    """Accounts made through the service (signing up through the API would queue verification
    mails, which are not what these tests count)."""
    with app.app_context():
        people = [accounts.create_resident(email=f"o-{uuid.uuid4().hex[:8]}@example.jp", password="password-123",
                                           display_name="並行", home_municipality_code="131016", birth_year=1985)
                  for _ in range(n)]
        for person in people:
            person.email_verified_at = utcnow()
        db.session.commit()
        return [person.id for person in people]


def _queue(app, user_ids, per_person: int) -> None:
    with app.app_context():
        for user_id in user_ids:
            user = db.session.get(User, user_id)
            for i in range(per_person):
                notify(user, "evidence_decided", *evidence_notices.EVIDENCE_APPROVED, "/my",
                       params={"organization": "飛騨市", "done_on": f"2026-01-{i + 1:02d}"})
        db.session.commit()


def _overlapping(app, n_runs: int):
    def run(i, start):
        with app.app_context():
            start()
            report = send(app)
            db.session.remove()
            return report

    return together(n_runs, run)


@pytest.mark.postgres_only
def test_overlapping_runs_on_postgresql_deliver_each_message_once(app, smtp):
    _queue(app, _verified_people(app, 8), MESSAGES // 8)
    smtp.delay = 0.02  # each message takes a while, so the runs really overlap
    reports = _overlapping(app, 3)
    assert sum(r.sent for r in reports) == MESSAGES
    assert sum(1 for r in reports if r.sent) >= 2  # the runs shared the work (SKIP LOCKED), none waited
    counts = smtp.by_message_id()
    assert len(smtp.messages) == MESSAGES and len(counts) == MESSAGES and set(counts.values()) == {1}
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(OutboxMessage)
                                 .where(OutboxMessage.status == "sent")) == MESSAGES
        assert {f"<{i}@furusato.example.jp>" for i in db.session.scalars(select(OutboxMessage.id))} == set(counts)


def test_overlapping_runs_deliver_each_message_once(app, smtp):
    """The same on whichever database the suite runs (SQLite: the second run waits for the lock)."""
    _queue(app, _verified_people(app, 4), 3)
    smtp.delay = 0.01
    reports = _overlapping(app, 2)
    assert sum(r.sent for r in reports) == 12 and len(smtp.messages) == 12
    assert set(smtp.by_message_id().values()) == {1}


def test_overlapping_reminder_runs_create_each_reminder_once(app):
    [user_id] = _verified_people(app, 1)
    with app.app_context():
        user = db.session.get(User, user_id)
        reg = registrations.register(user, "212172", ["family"])
        verify_identity(user)
        add_activities(user, "212172")
        request = registrations.request_premium(user, reg.id, settings=app.config)
        staff_user = User(email=f"s-{uuid.uuid4().hex[:6]}@example.jp", email_key=f"s-{uuid.uuid4().hex[:6]}",
                          role="staff", organization_code="212172")
        db.session.add(staff_user)
        db.session.flush()
        registrations.approve_premium(staff_user, request.id, settings=app.config)
        db.session.get(Registration, reg.id).premium_valid_until = today_tokyo() + timedelta(days=3)
        db.session.commit()

    def run(i, start):
        with app.app_context():
            start()
            created = create_due_reminders()["premium_expiring"]
            db.session.commit()
            db.session.remove()
            return created

    assert sum(together(4, run, timeout=60)) == 1
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Notification)
                                 .where(Notification.kind == "premium_expiring")) == 1
