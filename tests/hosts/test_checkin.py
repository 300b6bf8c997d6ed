"""Check-in: the code and its QR while a need is in progress, the applicant's check-in and its
refusals, rate limits, and completing every checked-in application in one step."""
import re
import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from registry.common.time import today_tokyo, utcnow
from registry.extensions import db, limiter
from registry.needs import checkin
from registry.needs.models import Application
from registry.registrations import service as registrations
from registry.registrations.models import Registration
from tests.factories import HIDA, days


@pytest.fixture
def hosted(api, staff, make_host, post_need_today):
    """A trusted host's need in progress today, published, designated by staff: (need, host token)."""
    _host, token = make_host(trusted=True)
    need = post_need_today(token=token).get_json()
    assert api.patch(f"/needs/{need['id']}", token=staff, json={"counts_as_activity": True}).status_code == 200
    return need, token


def _code(api, need, token):
    response = api.get(f"/needs/{need['id']}/check-in-code", token=token)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["code"]


def test_the_code_and_its_qr(api, app, staff, hosted):
    need, host = hosted
    before = utcnow()
    response = api.get(f"/needs/{need['id']}/check-in-code", token=host)
    body = response.get_json()
    assert response.status_code == 200 and re.fullmatch(r"\d{6}", body["code"])
    assert body["qr_svg"].startswith("<svg") and "</svg>" in body["qr_svg"]
    assert body["url"] == f"http://localhost:5000/my/check-in?need={need['id']}&code={body['code']}"  # SITE_URL
    expires = datetime.fromisoformat(body["expires_at"])
    assert body["expires_at"].endswith("+09:00")
    assert timedelta(seconds=60) <= expires - before.replace(microsecond=0) <= timedelta(seconds=121)
    assert api.get(f"/needs/{need['id']}/check-in-code", token=staff).status_code == 200


def test_the_code_is_an_hmac_of_need_and_minute(app):
    need_a, need_b = uuid.uuid4(), uuid.uuid4()
    key = app.config["SECRET_KEY"]
    codes = {checkin.code_for(need_a, m, key) for m in range(1000, 1020)}
    assert len(codes) > 15  # changes every minute
    assert checkin.code_for(need_a, 1000, key) == checkin.code_for(need_a, 1000, key)
    assert checkin.code_for(need_a, 1000, key) != checkin.code_for(need_b, 1000, key) or \
        checkin.code_for(need_a, 1001, key) != checkin.code_for(need_b, 1001, key)
    assert checkin.code_for(need_a, 1000, key) != checkin.code_for(need_a, 1000, key + "x") or \
        checkin.code_for(need_a, 1001, key) != checkin.code_for(need_a, 1001, key + "x")
    now = datetime.fromtimestamp(1000 * 60 + 30, timezone.utc)
    assert checkin.is_valid(need_a, checkin.code_for(need_a, 1000, key), key, now)
    assert checkin.is_valid(need_a, checkin.code_for(need_a, 999, key), key, now)  # the previous minute
    assert not checkin.is_valid(need_a, checkin.code_for(need_a, 998, key), key, now)
    assert not checkin.is_valid(need_a, checkin.code_for(need_a, 1001, key), key, now) or \
        checkin.code_for(need_a, 1001, key) in (checkin.code_for(need_a, 1000, key), checkin.code_for(need_a, 999, key))
    for junk in ("", "12345", "1234567", "abcdef", "１２３４５６", None):
        assert not checkin.is_valid(need_a, junk, key, now)


@pytest.mark.parametrize("starts, ends", [(1, 2), (-3, -1)])
def test_no_code_outside_the_days_of_the_need(api, make_host, post_need_today, starts, ends):
    _host, token = make_host(trusted=True)
    need = post_need_today(token=token, starts_on=days(starts), ends_on=days(ends), apply_by=days(min(starts, 0))).get_json()
    response = api.get(f"/needs/{need['id']}/check-in-code", token=token)
    assert response.status_code == 409 and response.get_json()["code"] == "not_in_progress"


def test_no_code_for_a_draft_or_a_cancelled_need(api, staff, make_host, post_need_today):
    _host, token = make_host()
    draft = post_need_today(token=token).get_json()
    assert api.get(f"/needs/{draft['id']}/check-in-code", token=token).get_json()["code"] == "not_in_progress"
    cancelled = post_need_today().get_json()
    api.post(f"/needs/{cancelled['id']}/cancel", token=staff)
    assert api.get(f"/needs/{cancelled['id']}/check-in-code", token=staff).get_json()["code"] == "not_in_progress"


def test_check_in_once(api, hosted, accepted):
    need, host = hosted
    resident, application = accepted(need, decider=host)
    response = api.post(f"/needs/{need['id']}/check-in", token=resident, json={"code": _code(api, need, host)})
    assert response.status_code == 200
    first = response.get_json()
    assert first["id"] == application["id"] and first["status"] == "accepted"
    assert first["checked_in_at"].endswith("+09:00")
    again = api.post(f"/needs/{need['id']}/check-in", token=resident, json={"code": _code(api, need, host)})
    assert again.status_code == 409 and again.get_json()["code"] == "already_checked_in"
    mine = api.get("/me/applications", token=resident).get_json()
    assert mine[0]["checked_in_at"] == first["checked_in_at"]


def test_refused_check_ins_change_nothing(api, app, staff, hosted, accepted, post_need_today, signup):
    need, host = hosted
    resident, application = accepted(need, decider=host)
    other = post_need_today().get_json()
    key = app.config["SECRET_KEY"]
    minute = int(utcnow().timestamp()) // 60
    stale = checkin.code_for(uuid.UUID(need["id"]), minute - 3, key)
    right = _code(api, need, host)
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    other_code = _code(api, other, staff)
    for code in {wrong, stale, other_code} - {right}:
        response = api.post(f"/needs/{need['id']}/check-in", token=resident, json={"code": code})
        assert response.status_code == 422 and response.get_json()["code"] == "invalid_check_in", code
    for body in ({"code": "x" * 33}, {}, {"code": 123456}, {"code": "12 34 56", "extra": 1}):
        assert api.post(f"/needs/{need['id']}/check-in", token=resident, json=body).status_code == 422
    assert api.post(f"/needs/{need['id']}/check-in", token=resident, json={"code": "abcdef"}).get_json()["code"] == \
        "invalid_check_in"
    assert db.session.get(Application, uuid.UUID(application["id"])).checked_in_at is None
    # Not accepted: applied only, or no application at all.
    _, applied = signup()
    api.post(f"/needs/{need['id']}/applications", token=applied, json={})
    for token in (applied, signup()[1]):
        response = api.post(f"/needs/{need['id']}/check-in", token=token, json={"code": right})
        assert response.status_code == 409 and response.get_json()["code"] == "not_accepted"
    # Roles and unknown needs.
    assert api.post(f"/needs/{need['id']}/check-in", token=host, json={"code": right}).status_code == 403
    assert api.post(f"/needs/{need['id']}/check-in", json={"code": right}).status_code == 401
    assert api.post(f"/needs/{uuid.uuid4()}/check-in", token=resident, json={"code": right}).status_code == 404


def test_check_in_is_rate_limited_per_account(api, hosted, accepted):
    need, host = hosted
    resident, _application = accepted(need, decider=host)
    for _attempt in range(2):  # the limit is per clock minute: once more if a minute turned meanwhile
        limiter.reset()
        started = time.time()
        right = _code(api, need, host)
        wrong = f"{(int(right) + 500_000) % 1_000_000:06d}"
        statuses = [api.post(f"/needs/{need['id']}/check-in", token=resident, json={"code": wrong}).status_code
                    for _ in range(10)]
        limited = api.post(f"/needs/{need['id']}/check-in", token=resident, json={"code": right})
        if int(started // 60) == int(time.time() // 60):
            break
    assert statuses == [422] * 10
    assert limited.status_code == 429 and limited.get_json()["code"] == "rate_limited"
    assert limited.headers["Retry-After"]


def test_complete_checked_in_records_activities_toward_premium(api, staff, hosted, accepted):
    need, host = hosted
    came, came_application = accepted(need, decider=host)
    _absent, absent_application = accepted(need, decider=host)
    registration = api.post("/registrations", token=came, json={"organization_code": HIDA, "ties": ["volunteer"]})
    assert registration.status_code == 201
    api.post(f"/needs/{need['id']}/check-in", token=came, json={"code": _code(api, need, host)})
    assert api.post(f"/needs/{need['id']}/complete-checked-in", token=host).get_json() == {"completed": 1}
    statuses = {a["id"]: a for a in api.get(f"/needs/{need['id']}/applications", token=staff).get_json()}
    assert statuses[came_application["id"]]["status"] == "completed"
    assert statuses[came_application["id"]]["completed_on"] == today_tokyo().isoformat()
    assert statuses[absent_application["id"]]["status"] == "accepted"
    activities = api.get("/me/activities", token=came).get_json()
    assert [(a["source"], a["need_id"], a["organization_code"]) for a in activities] == [("need", need["id"], HIDA)]
    reg = db.session.get(Registration, uuid.UUID(registration.get_json()["id"]))
    assert registrations.activities_in_window(reg.user_id, reg, today_tokyo()) == 1
    progress = api.get(f"/registrations/{reg.id}/premium-progress", token=came).get_json()
    assert progress["activities_in_window"] == 1
    # Nothing left to complete; staff may call it too.
    assert api.post(f"/needs/{need['id']}/complete-checked-in", token=staff).get_json() == {"completed": 0}


def test_complete_checked_in_needs_a_started_need(api, make_host, post_need_today, accepted):
    _host, token = make_host(trusted=True)
    need = post_need_today(token=token, starts_on=days(2), ends_on=days(2), apply_by=days(1)).get_json()
    resident, application = accepted(need, decider=token)
    row = db.session.get(Application, uuid.UUID(application["id"]))
    row.checked_in_at = utcnow()  # as if checked in (a code cannot be had before the day)
    db.session.commit()
    response = api.post(f"/needs/{need['id']}/complete-checked-in", token=token)
    assert response.status_code == 409 and response.get_json()["code"] == "invalid_state"
    assert db.session.scalar(select(Application.status).where(Application.id == row.id)) == "accepted"


def test_check_in_for_a_cancelled_need_is_refused(api, staff, hosted, accepted):
    need, host = hosted
    resident, _application = accepted(need, decider=host)
    right = _code(api, need, host)
    api.post(f"/needs/{need['id']}/cancel", token=staff)
    response = api.post(f"/needs/{need['id']}/check-in", token=resident, json={"code": right})
    assert response.status_code == 409 and response.get_json()["code"] == "invalid_state"


def test_due_today_lists_what_to_check_in_to(api, hosted, accepted, signup):
    need, host = hosted
    resident, application = accepted(need, decider=host)
    from registry.accounts.models import User
    user = db.session.get(User, uuid.UUID(api.get("/me", token=resident).get_json()["id"]))
    assert [a.id for a in checkin.due_today(user)] == [uuid.UUID(application["id"])]
    api.post(f"/needs/{need['id']}/check-in", token=resident, json={"code": _code(api, need, host)})
    db.session.expire_all()
    assert checkin.due_today(user) == []
