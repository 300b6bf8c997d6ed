import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from registry.common.time import today_tokyo
from registry.extensions import db
from registry.figures.recount import verify
from registry.figures.models import RegistrationEvent
from registry.registrations.models import Registration
from tests.factories import GIFU, GIFU_CITY, HACHIOJI, HIDA, TOKYO, add_activities, user_of, verify_identity


def post_registration(api, token, code=HIDA, ties=("birthplace",)):
    return api.post("/registrations", token=token, json={"organization_code": code, "ties": list(ties)})


def test_register_list_get_withdraw(api, signup):
    _, token = signup()
    created = post_registration(api, token, ties=["birthplace", "furusato_nozei"])
    assert created.status_code == 201
    reg = created.get_json()
    assert {k: reg[k] for k in ("organization_code", "prefecture_code", "tier", "status")} == \
        {"organization_code": HIDA, "prefecture_code": GIFU, "tier": "basic", "status": "active"}
    assert reg["ties"] == ["birthplace", "furusato_nozei"] and reg["registered_at"].endswith("+09:00")
    assert reg["premium_valid_until"] is None
    listed = api.get("/registrations", token=token)
    assert [r["id"] for r in listed.get_json()] == [reg["id"]] and listed.headers["X-Total-Count"] == "1"
    assert api.get(f"/registrations/{reg['id']}", token=token).get_json()["id"] == reg["id"]
    assert api.delete(f"/registrations/{reg['id']}", token=token).status_code == 204
    assert api.get(f"/registrations/{reg['id']}", token=token).get_json()["status"] == "withdrawn"
    again = api.delete(f"/registrations/{reg['id']}", token=token)
    assert again.status_code == 409 and again.get_json()["code"] == "invalid_state"
    # Registering again after a withdrawal makes a new registration.
    renewed = post_registration(api, token)
    assert renewed.status_code == 201 and renewed.get_json()["id"] != reg["id"]


def test_refusals(api, signup):
    _, token = signup(home="131016")  # 千代田区, 東京都
    assert post_registration(api, token, "131016").get_json()["code"] == "home_municipality"
    own_pref = post_registration(api, token, TOKYO)
    assert own_pref.status_code == 422 and own_pref.get_json()["code"] == "home_municipality"
    assert post_registration(api, token, HACHIOJI).status_code == 201  # another municipality of one's prefecture
    assert post_registration(api, token, GIFU).status_code == 201      # a prefecture directly
    assert post_registration(api, token, HIDA).status_code == 201      # …and one of its municipalities beside it
    dup = post_registration(api, token, HIDA)
    assert dup.status_code == 409 and dup.get_json()["code"] == "already_registered"
    for code in ("999999", "212171", "011011"):
        bad = post_registration(api, token, code)
        assert bad.status_code == 422 and bad.get_json()["code"] == "unknown_organization", code
    for ties in ([], ["nonsense"], "birthplace"):
        assert api.post("/registrations", token=token, json={"organization_code": HIDA, "ties": ties}).status_code == 422


def test_only_residents_and_only_own(api, signup, make_account):
    _, owner = signup()
    _, other = signup()
    reg = post_registration(api, owner).get_json()
    assert post_registration(api, None).status_code == 401
    assert post_registration(api, make_account("staff", HIDA)).status_code == 403
    assert api.get(f"/registrations/{reg['id']}", token=other).status_code == 404
    assert api.delete(f"/registrations/{reg['id']}", token=other).status_code == 404
    assert api.get("/registrations/not-a-uuid", token=owner).status_code == 404
    assert api.get(f"/registrations/{uuid.uuid4()}", token=owner).get_json()["code"] == "not_found"


def _premium_ready(api, signup, code=HIDA):
    user_json, token = signup()
    reg = post_registration(api, token, code).get_json()
    user = user_of(user_json)
    verify_identity(user)
    add_activities(user, code)
    db.session.commit()
    return user, token, reg


def test_premium_refusals_in_order(api, signup):
    user_json, token = signup()
    reg = post_registration(api, token).get_json()
    url = f"/registrations/{reg['id']}/premium-request"
    assert api.post(url, token=token).get_json()["code"] == "identity_unverified"
    verify_identity(user_of(user_json))
    db.session.commit()
    response = api.post(url, token=token)
    assert response.status_code == 422 and response.get_json()["code"] == "premium_requirements"
    add_activities(user_of(user_json), HIDA, n=2)
    add_activities(user_of(user_json), GIFU_CITY, n=1)  # another 団体 does not count for 飛騨市
    add_activities(user_of(user_json), HIDA, n=1, days_ago=400)  # older than 12 months
    db.session.commit()
    assert api.post(url, token=token).get_json()["code"] == "premium_requirements"
    progress = api.get(f"/registrations/{reg['id']}/premium-progress", token=token).get_json()
    assert progress["activities_in_window"] == 2 and progress["missing"] == ["activities"]
    add_activities(user_of(user_json), HIDA, n=1, days_ago=364)
    db.session.commit()
    assert api.post(url, token=token).status_code == 202


def test_prefecture_registration_counts_its_municipalities_activities(api, signup):
    user_json, token = signup()
    reg = post_registration(api, token, GIFU).get_json()
    verify_identity(user_of(user_json))
    add_activities(user_of(user_json), HIDA, n=2)
    add_activities(user_of(user_json), GIFU, n=1)
    db.session.commit()
    assert api.post(f"/registrations/{reg['id']}/premium-request", token=token).status_code == 202


def test_premium_review_flow(api, signup, make_account):
    user, token, reg = _premium_ready(api, signup)
    staff, other_staff = make_account("staff", HIDA), make_account("staff", "212016")
    requested = api.post(f"/registrations/{reg['id']}/premium-request", token=token)
    assert requested.status_code == 202 and requested.get_json()["status"] == "pending"
    request_id = requested.get_json()["id"]
    twice = api.post(f"/registrations/{reg['id']}/premium-request", token=token)
    assert twice.status_code == 409
    pending = api.get("/premium-requests?status=pending", token=staff).get_json()
    assert [p["id"] for p in pending] == [request_id] and pending[0]["kind"] == "new"
    assert api.get("/premium-requests", token=other_staff).get_json() == []
    assert api.post(f"/premium-requests/{request_id}/approve", token=other_staff).status_code == 404
    assert api.post(f"/premium-requests/{request_id}/approve", token=token).status_code == 403
    approved = api.post(f"/premium-requests/{request_id}/approve", token=staff)
    assert approved.status_code == 200 and approved.get_json()["status"] == "approved"
    again = api.post(f"/premium-requests/{request_id}/approve", token=staff)
    assert again.status_code == 409 and again.get_json()["code"] == "invalid_state"
    now = api.get(f"/registrations/{reg['id']}", token=token).get_json()
    today = today_tokyo()
    assert now["tier"] == "premium"
    assert now["premium_valid_until"] == (today.replace(year=today.year + 1) - timedelta(days=1)).isoformat()
    kinds = db.session.scalars(select(RegistrationEvent.kind).where(
        RegistrationEvent.registration_id == uuid.UUID(reg["id"]))).all()
    assert sorted(kinds) == ["premium_granted", "registered"]


def test_reject_needs_a_reason(api, signup, make_account):
    user, token, reg = _premium_ready(api, signup)
    staff = make_account("staff", HIDA)
    request_id = api.post(f"/registrations/{reg['id']}/premium-request", token=token).get_json()["id"]
    assert api.post(f"/premium-requests/{request_id}/reject", token=staff, json={}).status_code == 422
    rejected = api.post(f"/premium-requests/{request_id}/reject", token=staff, json={"reason": "活動の確認が取れません"})
    assert rejected.get_json()["status"] == "rejected" and rejected.get_json()["reason"] == "活動の確認が取れません"


def test_premium_limit_counts_pending_and_is_rechecked_at_approval(app, api, signup, make_account):
    user_json, token = signup()
    user = user_of(user_json)
    verify_identity(user)
    codes = ["212172", "212016", "212041", "212059"]  # 飛騨市, 岐阜市, 多治見市, 関市
    regs = []
    for code in codes:
        regs.append(post_registration(api, token, code).get_json())
        add_activities(user, code)
    db.session.commit()
    ids = [api.post(f"/registrations/{r['id']}/premium-request", token=token) for r in regs[:3]]
    assert all(r.status_code == 202 for r in ids)
    fourth = api.post(f"/registrations/{regs[3]['id']}/premium-request", token=token)
    assert fourth.status_code == 409 and fourth.get_json()["code"] == "premium_limit"
    app.config["PREMIUM_LIMIT"] = 2
    try:
        staffs = [make_account("staff", c) for c in codes[:3]]
        assert api.post(f"/premium-requests/{ids[0].get_json()['id']}/approve", token=staffs[0]).status_code == 200
        assert api.post(f"/premium-requests/{ids[1].get_json()['id']}/approve", token=staffs[1]).status_code == 200
        third = api.post(f"/premium-requests/{ids[2].get_json()['id']}/approve", token=staffs[2])
        assert third.status_code == 409 and third.get_json()["code"] == "premium_limit"
    finally:
        app.config["PREMIUM_LIMIT"] = 3


def _make_premium(api, signup, make_account, code=HIDA):
    user, token, reg = _premium_ready(api, signup, code)
    staff = make_account("staff", code)
    request_id = api.post(f"/registrations/{reg['id']}/premium-request", token=token).get_json()["id"]
    assert api.post(f"/premium-requests/{request_id}/approve", token=staff).status_code == 200
    return user, token, reg, staff


def test_renewal_window_and_extension_from_old_expiry(api, signup, make_account):
    user, token, reg, staff = _make_premium(api, signup, make_account)
    url = f"/registrations/{reg['id']}/premium-renewal"
    closed = api.post(url, token=token)
    assert closed.status_code == 409 and closed.get_json()["code"] == "renewal_not_open"
    row = db.session.get(Registration, uuid.UUID(reg["id"]))
    old_expiry = today_tokyo() + timedelta(days=30)
    row.premium_valid_until = old_expiry
    db.session.commit()
    progress = api.get(f"/registrations/{reg['id']}/premium-progress", token=token).get_json()
    assert progress["renewal_opens_on"] == (old_expiry - timedelta(days=60)).isoformat()
    renewal = api.post(url, token=token)
    assert renewal.status_code == 202
    decided = api.post(f"/premium-requests/{renewal.get_json()['id']}/approve", token=staff).get_json()
    assert decided["kind"] == "renewal"
    assert api.get(f"/registrations/{reg['id']}", token=token).get_json()["premium_valid_until"] == \
        old_expiry.replace(year=old_expiry.year + 1).isoformat()
    assert verify() == []


def test_expired_premium_reads_basic_and_lapses(app, api, signup, make_account):
    user, token, reg, staff = _make_premium(api, signup, make_account)
    row = db.session.get(Registration, uuid.UUID(reg["id"]))
    row.premium_valid_until = today_tokyo() - timedelta(days=1)
    db.session.commit()
    assert api.get(f"/registrations/{reg['id']}", token=token).get_json()["tier"] == "basic"
    national = make_account("national")
    assert api.get("/stats/totals", token=national).get_json()["premium_registrations"] == 0
    result = app.test_cli_runner().invoke(args=["lapse-premiums"])
    assert result.exit_code == 0 and "lapsed 1" in result.output
    db.session.expire_all()
    assert db.session.get(Registration, uuid.UUID(reg["id"])).tier == "basic"
    assert verify() == []
    assert app.test_cli_runner().invoke(args=["verify-counts"]).exit_code == 0


def test_moving_home_into_a_registered_municipality_is_a_conversion(api, signup, make_account):
    _, token = signup(home="131016")
    hida = post_registration(api, token, HIDA).get_json()
    gifu = post_registration(api, token, GIFU).get_json()
    other = post_registration(api, token, HACHIOJI).get_json()
    moved = api.patch("/me", token=token, json={"home_municipality_code": HIDA})
    assert moved.status_code == 200 and moved.get_json()["home_municipality_code"] == HIDA
    statuses = {r["id"]: r["status"] for r in api.get("/registrations", token=token).get_json()}
    assert statuses == {hida["id"]: "moved_in", gifu["id"]: "moved_in", other["id"]: "active"}
    totals = api.get("/stats/totals", token=make_account("national")).get_json()
    assert totals["moved_in"] == 2 and totals["cumulative_registrations"] == 1
    assert verify() == []


def test_erasure_withdraws_and_keeps_figures_consistent(api, signup, make_account):
    user_json, token = signup()
    post_registration(api, token, HIDA)
    post_registration(api, token, GIFU)
    national = make_account("national")
    assert api.get("/stats/totals", token=national).get_json()["cumulative_registrations"] == 2
    assert api.delete("/me", token=token).status_code == 204
    totals = api.get("/stats/totals", token=national).get_json()
    assert (totals["actual_people"], totals["cumulative_registrations"]) == (0, 0)
    kinds = db.session.scalars(select(RegistrationEvent.kind).where(
        RegistrationEvent.user_id == uuid.UUID(user_json["id"]))).all()
    assert sorted(kinds) == ["erased", "registered", "registered", "withdrawn", "withdrawn"]
    assert verify() == []


def test_registrants_only_consented_profiles(api, signup, make_account):
    shared_json, shared = signup(display_name="共有する人")
    _, private = signup(display_name="共有しない人")
    api.patch("/me", token=shared, json={"skills": ["農作業"], "consents": {"share_profile": True}})
    post_registration(api, shared)
    post_registration(api, private)
    staff = make_account("staff", HIDA)
    rows = api.get(f"/organizations/{HIDA}/registrants", token=staff).get_json()
    profiles = sorted([r["profile"] for r in rows], key=lambda p: p is None)
    assert profiles[0] == {"display_name": "共有する人", "age_band": "30_39", "skills": ["農作業"], "interests": []}
    assert profiles[1] is None
    assert all("email" not in str(r) for r in rows)
    assert api.get(f"/organizations/{HIDA}/registrants", token=make_account("staff", "212016")).status_code == 404
    assert api.get(f"/organizations/{HIDA}/registrants", token=shared).status_code == 403
    assert api.get(f"/organizations/{HIDA}/registrants", token=make_account("national")).status_code == 403


def test_identity_verification_flow(api, signup, make_account):
    _, token = signup()
    _, stranger = signup()
    post_registration(api, token, HIDA)
    bad = api.post("/me/identity-verifications", token=token, json={"method": "mynumber"})
    assert bad.status_code == 422
    number = api.post("/me/identity-verifications", token=token, json={"method": "123412341234"})
    assert number.status_code == 422
    created = api.post("/me/identity-verifications", token=token, json={"method": "in_person"})
    assert created.status_code == 201 and created.get_json()["status"] == "pending"
    api.post("/me/identity-verifications", token=stranger, json={"method": "document"})
    staff = make_account("staff", HIDA)
    listed = api.get("/identity-verifications?status=pending", token=staff).get_json()
    assert [v["id"] for v in listed] == [created.get_json()["id"]]
    other_staff = make_account("staff", "212016")
    vid = created.get_json()["id"]
    assert api.post(f"/identity-verifications/{vid}/confirm", token=other_staff).status_code == 404
    confirmed = api.post(f"/identity-verifications/{vid}/confirm", token=staff)
    assert confirmed.status_code == 200 and confirmed.get_json()["status"] == "verified"
    assert api.post(f"/identity-verifications/{vid}/reject", token=staff, json={"reason": "x"}).status_code == 409
    admin = make_account("admin")
    assert len(api.get("/identity-verifications?status=pending", token=admin).get_json()) == 1


def test_progress_shows_a_pending_request_without_a_false_missing_slot(app, api, signup):
    user, token, reg = _premium_ready(api, signup)
    app.config["PREMIUM_LIMIT"] = 1
    try:
        assert api.post(f"/registrations/{reg['id']}/premium-request", token=token).status_code == 202
        progress = api.get(f"/registrations/{reg['id']}/premium-progress", token=token).get_json()
        assert progress["pending_request"] == "new" and progress["missing"] == [] and progress["eligible"] is False
    finally:
        app.config["PREMIUM_LIMIT"] = 3


def test_renewal_of_a_lapsed_premium_needs_a_free_slot(app, api, signup, make_account):
    user, token, reg, staff = _make_premium(api, signup, make_account)
    row = db.session.get(Registration, uuid.UUID(reg["id"]))
    row.premium_valid_until = today_tokyo() + timedelta(days=5)
    db.session.commit()
    renewal = api.post(f"/registrations/{reg['id']}/premium-renewal", token=token).get_json()
    # The premium lapses before staff decide, and meanwhile another registration went premium.
    row = db.session.get(Registration, uuid.UUID(reg["id"]))
    row.premium_valid_until = today_tokyo() - timedelta(days=1)
    db.session.commit()
    other = post_registration(api, token, "212016").get_json()
    add_activities(user, "212016")
    db.session.commit()
    second = api.post(f"/registrations/{other['id']}/premium-request", token=token).get_json()
    assert api.post(f"/premium-requests/{second['id']}/approve", token=make_account("staff", "212016")).status_code == 200
    app.config["PREMIUM_LIMIT"] = 1
    try:
        refused = api.post(f"/premium-requests/{renewal['id']}/approve", token=staff)
        assert refused.status_code == 409 and refused.get_json()["code"] == "premium_limit"
    finally:
        app.config["PREMIUM_LIMIT"] = 3
