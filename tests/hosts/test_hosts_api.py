"""Host accounts through the API: invitation, the one-time set-password link, trust, deactivation."""
import hashlib
import uuid
from datetime import timedelta

from sqlalchemy import select

from registry.accounts.models import User
from registry.common.time import utcnow
from registry.extensions import db
from registry.accounts import links as tokens
from registry.accounts.models import HOST_INVITATION, PASSWORD_RESET, SetPasswordToken
from tests.factories import HIDA, TAKAYAMA


def _login(api, email, password="host-pass-123"):
    return api.post("/auth/login", json={"email": email, "password": password})


def test_staff_invites_a_host_without_a_password(api, invite):
    response = invite(email="Farm@Example.jp", trusted=True)
    assert response.status_code == 201
    body = response.get_json()
    assert set(body) >= {"id", "email", "host_name", "trusted", "organization_code", "set_password_link",
                         "set_password_token"}
    assert body["organization_code"] == HIDA and body["trusted"] is True and body["host_name"].startswith("古川の宿")
    assert body["set_password_link"] == f"http://localhost:5000/set-password?token={body['set_password_token']}"
    assert body["active"] is True and body["password_set"] is False
    user = db.session.scalar(select(User).where(User.email_key == "farm@example.jp"))
    assert user.role == "host" and user.organization_code == HIDA and user.password_hash is None
    # No password yet: nothing signs it in, not even an empty one.
    assert _login(api, "farm@example.jp", "").status_code in (401, 422)
    assert _login(api, "farm@example.jp", "anything-123").status_code == 401


def test_the_link_is_stored_hashed_and_expires_after_7_days(api, invite):
    body = invite().get_json()
    raw = body["set_password_token"]
    row = db.session.scalar(select(SetPasswordToken).where(SetPasswordToken.user_id == uuid.UUID(body["id"])))
    assert row.purpose == HOST_INVITATION and row.used_at is None
    assert row.token_hash == hashlib.sha256(raw.encode()).hexdigest() and raw not in row.token_hash
    assert timedelta(days=7) - timedelta(minutes=1) < row.expires_at - row.created_at <= timedelta(days=7)
    assert len(raw) >= 40  # 256 random bits


def test_set_password_signs_in_once(api, invite):
    body = invite().get_json()
    response = api.post("/auth/set-password", json={"token": body["set_password_token"], "password": "host-pass-123"})
    assert response.status_code == 200
    data = response.get_json()
    assert data["user"]["role"] == "host" and data["user"]["organization_code"] == HIDA
    assert api.get("/me", token=data["token"]).status_code == 200
    assert _login(api, body["email"]).status_code == 200
    again = api.post("/auth/set-password", json={"token": body["set_password_token"], "password": "other-pass-123"})
    assert again.status_code == 422 and again.get_json()["code"] == "invalid_token"
    assert _login(api, body["email"]).status_code == 200  # the password did not change
    assert _login(api, body["email"], "other-pass-123").status_code == 401


def test_unknown_expired_and_bad_tokens(api, invite, app):
    for token in ("nope", "x" * 200, "ü" * 50):
        response = api.post("/auth/set-password", json={"token": token, "password": "host-pass-123"})
        assert response.status_code == 422 and response.get_json()["code"] == "invalid_token"
    body = invite().get_json()
    row = db.session.scalar(select(SetPasswordToken).where(SetPasswordToken.user_id == uuid.UUID(body["id"])))
    row.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    expired = api.post("/auth/set-password", json={"token": body["set_password_token"], "password": "host-pass-123"})
    assert expired.status_code == 422 and expired.get_json()["code"] == "invalid_token"
    short = api.post("/auth/set-password", json={"token": "t", "password": "short"})
    assert short.status_code == 422 and "password" in short.get_json()["errors"]
    assert api.post("/auth/set-password", json={"token": "x" * 201, "password": "host-pass-123"}).status_code == 422


def test_a_new_link_voids_the_unused_one(api, staff, invite):
    body = invite().get_json()
    fresh = api.post(f"/hosts/{body['id']}/invitation", token=staff)
    assert fresh.status_code == 201
    new = fresh.get_json()
    assert new["set_password_token"] != body["set_password_token"]
    assert new["set_password_link"].endswith(new["set_password_token"])
    old = api.post("/auth/set-password", json={"token": body["set_password_token"], "password": "host-pass-123"})
    assert old.get_json()["code"] == "invalid_token"
    assert api.post("/auth/set-password", json={"token": new["set_password_token"],
                                                "password": "host-pass-123"}).status_code == 200


def test_setting_a_password_ends_other_sessions(api, make_host):
    """The same links serve password resets: using one signs out every token of the account."""
    host, token = make_host()
    user = db.session.get(User, uuid.UUID(host["id"]))
    raw, _row = tokens.issue(user, PASSWORD_RESET)
    db.session.commit()
    response = api.post("/auth/set-password", json={"token": raw, "password": "new-pass-4567"})
    assert response.status_code == 200
    assert api.get("/me", token=token).status_code == 401
    assert api.get("/me", token=response.get_json()["token"]).status_code == 200


def test_a_taken_email_is_409(api, invite, signup):
    user, _ = signup(email="taken@example.jp")
    response = invite(email="TAKEN@example.jp")
    assert response.status_code == 409 and response.get_json()["code"] == "email_taken"


def test_host_fields_are_checked(api, staff):
    for body in ({}, {"email": "x@example.jp", "display_name": "", "host_name": "宿"},
                 {"email": "x@example.jp", "display_name": " ", "host_name": "宿"},
                 {"email": "not-an-email", "display_name": "a", "host_name": "宿"},
                 {"email": "x@example.jp", "display_name": "a", "host_name": "宿" * 201},
                 {"email": "x@example.jp", "display_name": "a", "host_name": "宿", "role": "staff"}):
        response = api.post(f"/organizations/{HIDA}/hosts", token=staff, json=body)
        assert response.status_code == 422, body


def test_list_trust_and_the_hosts_own_view(api, staff, other_staff, make_host):
    host, host_token = make_host()
    second, _ = make_host(trusted=True)
    listed = api.get(f"/organizations/{HIDA}/hosts", token=staff)
    assert listed.status_code == 200 and listed.headers["X-Total-Count"] == "2"
    assert [h["id"] for h in listed.get_json()] == [host["id"], second["id"]]
    assert "set_password_token" not in listed.get_json()[0]
    assert api.get(f"/organizations/{HIDA}/hosts", token=other_staff).status_code == 404
    assert api.get(f"/organizations/{TAKAYAMA}/hosts", token=other_staff).get_json() == []
    patched = api.patch(f"/hosts/{host['id']}", token=staff, json={"trusted": True})
    assert patched.status_code == 200 and patched.get_json()["trusted"] is True
    assert api.patch(f"/hosts/{host['id']}", token=other_staff, json={"trusted": False}).status_code == 404
    assert api.patch(f"/hosts/{host['id']}", token=host_token, json={"trusted": False}).status_code == 403
    assert api.get(f"/hosts/{host['id']}", token=host_token).get_json()["trusted"] is True
    assert api.get(f"/hosts/{second['id']}", token=host_token).status_code == 404
    assert api.get(f"/hosts/{host['id']}", token=other_staff).status_code == 404


def test_deactivation_stops_the_host_at_once(api, staff, make_host, post_need_today, invite):
    host, host_token = make_host(trusted=True)
    need = post_need_today(token=host_token).get_json()
    assert api.get("/me", token=host_token).status_code == 200
    assert api.delete(f"/hosts/{host['id']}", token=staff).status_code == 204
    assert api.get("/me", token=host_token).status_code == 401
    assert api.get(f"/needs/{need['id']}/applications", token=host_token).status_code == 401
    assert _login(api, host["email"]).status_code == 401
    listed = api.get(f"/organizations/{HIDA}/hosts", token=staff).get_json()
    assert listed[0]["active"] is False and listed[0]["deactivated_at"]
    assert api.delete(f"/hosts/{host['id']}", token=staff).status_code == 204  # again: no change
    assert api.patch(f"/hosts/{host['id']}", token=staff, json={"trusted": False}).get_json()["code"] == "invalid_state"
    assert api.post(f"/hosts/{host['id']}/invitation", token=staff).status_code == 409
    # Its needs stay with the 団体's staff.
    assert api.patch(f"/needs/{need['id']}", token=staff, json={"capacity": 5}).status_code == 200
    assert api.get(f"/needs/{need['id']}/applications", token=staff).status_code == 200
    assert api.get(f"/needs/{need['id']}").get_json()["host_id"] == host["id"]


def test_deactivation_spends_an_unused_link(api, staff, invite):
    body = invite().get_json()
    assert api.delete(f"/hosts/{body['id']}", token=staff).status_code == 204
    response = api.post("/auth/set-password", json={"token": body["set_password_token"], "password": "host-pass-123"})
    assert response.get_json()["code"] == "invalid_token"


def test_deactivated_host_session_ends(api, staff, invite, browser):
    body = invite().get_json()
    browser.get(f"/set-password?token={body['set_password_token']}")
    response = browser.post("/set-password", {"token": body["set_password_token"], "password": "host-pass-123",
                                              "password_again": "host-pass-123"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/host")
    assert browser.get("/host").status_code == 200
    assert api.delete(f"/hosts/{body['id']}", token=staff).status_code == 204
    assert browser.get("/host").status_code == 302  # signed out: to /login


def test_resident_links_need_a_birth_year_when_missing(api, invite):
    """A roster invitation may not know the birth year: setting the password then asks for it."""
    from registry.accounts.models import ROSTER_INVITATION
    user = User(email="roster@example.jp", email_key="roster@example.jp", role="resident", display_name="名簿",
                home_municipality_code="131016", skills=[], interests=[])
    db.session.add(user)
    db.session.flush()
    raw, row = tokens.issue(user, ROSTER_INVITATION)
    db.session.commit()
    assert row.expires_at - row.created_at == timedelta(days=14)
    missing = api.post("/auth/set-password", json={"token": raw, "password": "roster-pass-1"})
    assert missing.status_code == 422 and "birth_year" in missing.get_json()["errors"]
    young = api.post("/auth/set-password",
                     json={"token": raw, "password": "roster-pass-1", "birth_year": utcnow().year - 10})
    assert young.get_json()["code"] == "guardian_consent_required"
    ok = api.post("/auth/set-password", json={"token": raw, "password": "roster-pass-1", "birth_year": 1990})
    assert ok.status_code == 200 and ok.get_json()["user"]["birth_year"] == 1990
