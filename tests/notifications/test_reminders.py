"""Reminders: premium expiring within 30 days and needs starting tomorrow, each created once."""
import importlib.util
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from registry.common.time import today_tokyo, utcnow
from registry.extensions import db
from registry.needs.notices import need_starts_tomorrow
from registry.registrations.notices import premium_expiring
from registry.workflows.notices import create_due_reminders
from registry.notifications.models import Notification, OutboxMessage
from registry.registrations import service as registrations
from registry.registrations.models import Registration
from tests.factories import HIDA, premium_requested
from tests.needs.conftest import need_body
from tests.notifications.conftest import send

NEEDS = importlib.util.find_spec("registry.needs") is not None


def _notifications(user, kind):
    return list(db.session.scalars(select(Notification).where(Notification.user_id == user.id,
                                                               Notification.kind == kind)))


def _premium(api, token, user, staff, *, expires_in_days: int):
    reg, request = premium_requested(api, token, user)
    assert api.post(f"/premium-requests/{request['id']}/approve", token=staff).status_code == 200
    row = db.session.get(Registration, uuid.UUID(reg["id"]))
    row.premium_valid_until = today_tokyo() + timedelta(days=expires_in_days)
    db.session.commit()
    return row


@pytest.mark.parametrize("days, reminded", [(0, True), (30, True), (31, False), (-1, False)])
def test_premium_expiring_within_30_days_once(api, verified_resident, staff, days, reminded):
    user, token = verified_resident()
    reg = _premium(api, token, user, staff, expires_in_days=days)  # -1: already lapsed
    first = premium_expiring()
    assert premium_expiring() == 0  # each once
    assert first == (1 if reminded else 0)
    found = _notifications(user, "premium_expiring")
    assert len(found) == (1 if reminded else 0)
    if reminded:
        [item] = [n for n in api.get("/me/notifications?unread=true", token=token).get_json()
                  if n["kind"] == "premium_expiring"]
        assert reg.premium_valid_until.isoformat() in item["body"]
        assert item["link"] == "/my"


def test_a_pending_renewal_is_not_reminded_and_a_renewed_one_is_reminded_again(api, verified_resident, staff):
    user, token = verified_resident()
    reg = _premium(api, token, user, staff, expires_in_days=20)
    renewal = api.post(f"/registrations/{reg.id}/premium-renewal", token=token)
    assert renewal.status_code == 202
    assert premium_expiring() == 0
    assert api.post(f"/premium-requests/{renewal.get_json()['id']}/approve", token=staff).status_code == 200
    db.session.refresh(reg)
    reg.premium_valid_until = today_tokyo() + timedelta(days=5)  # a year later, it ends again
    db.session.commit()
    assert premium_expiring() == 1


def test_the_reminder_is_emailed_once_by_the_command(app, api, smtp, verified_resident, staff):
    user, token = verified_resident()
    _premium(api, token, user, staff, expires_in_days=10)
    runner = app.test_cli_runner()
    for _ in range(3):
        assert runner.invoke(args=["send-notifications"]).exit_code == 0
    expiring = [m for m in smtp.messages if m["Subject"] == "プレミアム登録の有効期限が近づいています"]
    assert len(expiring) == 1


@pytest.mark.skipif(not NEEDS, reason="the needs domain is not installed")
def test_accepted_applicants_are_reminded_the_day_before(api, verified_resident, staff):
    tomorrow = today_tokyo() + timedelta(days=1)
    need = api.post("/needs", token=staff, json=need_body(
        title="朝市の手伝い", description="テント設営", host_name="宮川朝市", skills=[], starts_on=tomorrow.isoformat(),
        ends_on=tomorrow.isoformat(), apply_by=tomorrow.isoformat(), capacity=5, reward="朝食"))
    assert need.status_code == 201, need.get_json()
    need_id = need.get_json()["id"]
    (accepted, accepted_token), (applied, applied_token) = verified_resident(), verified_resident()
    first = api.post(f"/needs/{need_id}/applications", token=accepted_token, json={}).get_json()
    api.post(f"/needs/{need_id}/applications", token=applied_token, json={})
    assert api.post(f"/applications/{first['id']}/accept", token=staff).status_code == 200
    assert need_starts_tomorrow() == 1
    assert need_starts_tomorrow() == 0
    [item] = [n for n in api.get("/me/notifications", token=accepted_token).get_json() if n["kind"] == "need_reminder"]
    assert "朝市の手伝い" in item["body"] and item["link"] == f"/needs/{need_id}"
    assert [n for n in api.get("/me/notifications", token=applied_token).get_json() if n["kind"] == "need_reminder"] == []
    api.post(f"/needs/{need_id}/cancel", token=staff)
    assert need_starts_tomorrow() == 0


def test_premium_decided_tells_the_registrant(api, verified_resident, staff):
    user, token = verified_resident()
    _, request = premium_requested(api, token, user)
    api.post(f"/premium-requests/{request['id']}/reject", token=staff, json={"reason": "活動の記録が確認できません"})
    [item] = api.get("/me/notifications", token=token).get_json()
    assert item["kind"] == "premium_decided" and "活動の記録が確認できません" in item["body"]
    assert item["title"] == "プレミアム登録の申請は承認されませんでした"
    assert db.session.scalar(select(OutboxMessage.id).where(OutboxMessage.user_id == user.id)) is not None


def test_approving_premium_notifies_in_the_same_transaction(api, verified_resident, staff):
    user, token = verified_resident()
    _, request = premium_requested(api, token, user)
    assert api.post(f"/premium-requests/{request['id']}/approve", token=staff).status_code == 200
    [item] = api.get("/me/notifications", token=token).get_json()
    assert item["kind"] == "premium_decided" and item["title"] == "プレミアム登録が承認されました"


def test_evidence_decided_is_notified_and_emailed(app, api, smtp, verified_resident, staff):
    user, token = verified_resident()
    reg = api.post("/registrations", token=token, json={"organization_code": HIDA, "ties": ["family"]}).get_json()
    made = api.post(f"/registrations/{reg['id']}/activity-evidence", token=token, content_type="multipart/form-data",
                    data={"kind": "event", "done_on": today_tokyo().isoformat(), "description": "秋祭りの運営"})
    assert made.status_code == 201, made.get_json()
    api.post(f"/activity-evidence/{made.get_json()['id']}/approve", token=staff)
    [item] = api.get("/me/notifications", token=token).get_json()
    assert item["kind"] == "evidence_decided" and item["title"] == "活動証明が承認されました"
    assert send(app).sent == 1 and smtp.messages[0]["Subject"] == "活動証明が承認されました"


def test_reminders_and_now(verified_resident):
    """create_due answers per kind, also with nothing due."""
    assert set(create_due_reminders(now=utcnow())) == {"premium_expiring", "need_reminder"}
