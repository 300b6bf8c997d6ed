"""Approved evidence counts toward premium exactly like a completed need; progress and renewal."""
import uuid
from datetime import timedelta

from registry.common.time import last_day_of_year_from, one_year_before, today_tokyo
from registry.extensions import db
from registry.registrations.models import Registration
from tests.factories import TAKAYAMA, days_ago, user_of, verify_identity


def _approved(api, submit, token, reg, staff, n, *, days=(10, 40, 70)):
    for i in range(n):
        evidence = submit(token, reg, done_on=days_ago(days[i % len(days)] + i)).get_json()
        assert api.post(f"/activity-evidence/{evidence['id']}/approve", token=staff).status_code == 200


def test_three_approved_items_make_a_registration_eligible(api, registrant, submit, staff):
    user, token, reg = registrant()
    progress = api.get(f"/registrations/{reg}/premium-progress", token=token).get_json()
    assert progress["missing"] == ["identity_verification", "activities"] and progress["eligible"] is False
    _approved(api, submit, token, reg, staff, 2)
    refused = api.post(f"/registrations/{reg}/premium-request", token=token)
    assert refused.status_code == 422 and refused.get_json()["code"] == "identity_unverified"
    verify_identity(user_of(user))
    db.session.commit()
    refused = api.post(f"/registrations/{reg}/premium-request", token=token)
    assert refused.status_code == 422 and refused.get_json()["code"] == "premium_requirements"
    _approved(api, submit, token, reg, staff, 1)
    progress = api.get(f"/registrations/{reg}/premium-progress", token=token).get_json()
    assert progress["activities_in_window"] == 3 and progress["missing"] == [] and progress["eligible"] is True
    request = api.post(f"/registrations/{reg}/premium-request", token=token)
    assert request.status_code == 202
    approved = api.post(f"/premium-requests/{request.get_json()['id']}/approve", token=staff)
    assert approved.status_code == 200
    registration = api.get(f"/registrations/{reg}", token=token).get_json()
    assert registration["tier"] == "premium"
    assert registration["premium_valid_until"] == last_day_of_year_from(today_tokyo()).isoformat()


def test_pending_and_rejected_evidence_do_not_count(api, registrant, submit, staff):
    _, token, reg = registrant()
    submit(token, reg)
    rejected = submit(token, reg).get_json()
    api.post(f"/activity-evidence/{rejected['id']}/reject", token=staff, json={"reason": "読めません"})
    progress = api.get(f"/registrations/{reg}/premium-progress", token=token).get_json()
    assert progress["activities_in_window"] == 0


def test_evidence_for_another_municipality_does_not_count_here(api, registrant, submit, staff, make_account):
    user, token, hida = registrant()
    takayama = api.post("/registrations", token=token, json={"organization_code": TAKAYAMA, "ties": ["family"]})
    takayama_id = takayama.get_json()["id"]
    _approved(api, submit, token, takayama_id, make_account("staff", TAKAYAMA), 3)
    assert api.get(f"/registrations/{hida}/premium-progress", token=token).get_json()["activities_in_window"] == 0
    assert api.get(f"/registrations/{takayama_id}/premium-progress",
                   token=token).get_json()["activities_in_window"] == 3


def _make_premium(reg_id: str, valid_until, *, api=None, token=None, staff=None):
    """Premium through the real request and approval (so the figures follow), then expiring on
    `valid_until`."""
    reg = db.session.get(Registration, uuid.UUID(reg_id))
    if reg.tier != "premium":
        request = api.post(f"/registrations/{reg_id}/premium-request", token=token)
        assert request.status_code == 202, request.get_json()
        assert api.post(f"/premium-requests/{request.get_json()['id']}/approve", token=staff).status_code == 200
        reg = db.session.get(Registration, uuid.UUID(reg_id))
    reg.premium_valid_until = valid_until
    db.session.commit()


def test_renewal_opens_60_days_before_and_extends_from_the_old_expiry(api, registrant, submit, staff):
    user, token, reg = registrant()
    verify_identity(user_of(user))
    db.session.commit()
    _approved(api, submit, token, reg, staff, 3)
    today = today_tokyo()
    _make_premium(reg, today + timedelta(days=61), api=api, token=token, staff=staff)
    closed = api.post(f"/registrations/{reg}/premium-renewal", token=token)
    assert closed.status_code == 409 and closed.get_json()["code"] == "renewal_not_open"
    progress = api.get(f"/registrations/{reg}/premium-progress", token=token).get_json()
    assert progress["renewal_opens_on"] == (today + timedelta(days=1)).isoformat()

    old_expiry = today + timedelta(days=60)
    _make_premium(reg, old_expiry)
    opened = api.post(f"/registrations/{reg}/premium-renewal", token=token)
    assert opened.status_code == 202 and opened.get_json()["status"] == "pending"
    queue = api.get("/premium-requests?status=pending", token=staff).get_json()
    assert [(r["id"], r["kind"]) for r in queue] == [(opened.get_json()["id"], "renewal")]
    assert api.post(f"/premium-requests/{opened.get_json()['id']}/approve", token=staff).status_code == 200
    renewed = api.get(f"/registrations/{reg}", token=token).get_json()
    assert renewed["premium_valid_until"] == last_day_of_year_from(old_expiry + timedelta(days=1)).isoformat()


def test_renewal_rechecks_the_activities_of_the_last_12_months(api, registrant, submit, staff):
    user, token, reg = registrant()
    verify_identity(user_of(user))
    db.session.commit()
    _approved(api, submit, token, reg, staff, 3)
    _make_premium(reg, today_tokyo() + timedelta(days=10), api=api, token=token, staff=staff)
    # the oldest activity leaves the window: two remain in the last 12 months
    from registry.registrations.models import Activity
    oldest = db.session.query(Activity).order_by(Activity.completed_on).first()
    oldest.completed_on = one_year_before(today_tokyo()) - timedelta(days=1)
    db.session.commit()
    refused = api.post(f"/registrations/{reg}/premium-renewal", token=token)
    assert refused.status_code == 422 and refused.get_json()["code"] == "premium_requirements"


def test_an_activity_from_exactly_12_months_ago_counts(api, registrant, submit, staff):
    _, token, reg = registrant()
    evidence = submit(token, reg, done_on=one_year_before(today_tokyo()).isoformat()).get_json()
    api.post(f"/activity-evidence/{evidence['id']}/approve", token=staff)
    assert api.get(f"/registrations/{reg}/premium-progress", token=token).get_json()["activities_in_window"] == 1


def test_lapse_premiums_still_works(api, registrant, submit, staff):
    from registry.figures.recount import verify
    from registry.registrations.service import lapse_premiums
    user, token, reg = registrant()
    verify_identity(user_of(user))
    db.session.commit()
    _approved(api, submit, token, reg, staff, 3)
    _make_premium(reg, today_tokyo() - timedelta(days=1), api=api, token=token, staff=staff)
    assert lapse_premiums() == 1
    assert db.session.get(Registration, uuid.UUID(reg)).tier == "basic"
    assert verify() == []
