"""Trust rules (v1.1), accounts: every one-time link of an account dies when its password is set;
staff never hold a usable link to a host with a password; signing out of the pages ends the session
on the server."""
import uuid

import pytest

from registry.accounts import links
from registry.accounts.models import HOST_INVITATION, PASSWORD_RESET, ROSTER_INVITATION, User
from registry.extensions import db
from tests.conftest import Browser

HIDA = "212172"


@pytest.fixture
def host(api, make_account):
    """A host invited by 飛騨市's staff, with the invitation link staff were shown (unused)."""
    staff = make_account("staff", HIDA)
    body = api.post(f"/organizations/{HIDA}/hosts", token=staff, json={
        "email": f"host-{uuid.uuid4().hex[:6]}@example.jp", "display_name": "宿の主", "host_name": "古川の宿"}
    ).get_json()
    return db.session.get(User, uuid.UUID(body["id"])), body["set_password_token"], staff


@pytest.mark.parametrize("first", [PASSWORD_RESET, ROSTER_INVITATION, HOST_INVITATION])
def test_setting_a_password_through_one_link_kills_every_other(api, host, first):
    user, invitation, _staff = host
    other, _row = links.issue(user, first, keep_others=True)  # e.g. the reset link the owner was e-mailed
    db.session.commit()
    used = api.post("/auth/set-password", json={"token": other, "password": "owner-password-1"})
    assert used.status_code == 200, used.get_json()
    if other != invitation:
        stale = api.post("/auth/set-password", json={"token": invitation, "password": "attacker-pass-1"})
        assert stale.status_code == 422 and stale.get_json()["code"] == "invalid_token"
    assert api.post("/auth/login", json={"email": user.email, "password": "owner-password-1"}).status_code == 200


def test_a_roster_link_dies_when_the_owner_resets_the_password(api, signup):
    user_json, _ = signup()
    user = db.session.get(User, uuid.UUID(user_json["id"]))
    roster_link, _ = links.issue(user, ROSTER_INVITATION)
    reset_link, _ = links.issue(user, PASSWORD_RESET)
    db.session.commit()
    assert api.post("/auth/set-password", json={"token": reset_link, "password": "owner-password-1"}).status_code == 200
    taken = api.post("/auth/set-password", json={"token": roster_link, "password": "attacker-pass-1"})
    assert taken.status_code == 422 and taken.get_json()["code"] == "invalid_token"


def test_staff_get_no_link_to_a_host_who_has_a_password(api, host):
    user, invitation, staff = host
    fresh = api.post(f"/hosts/{user.id}/invitation", token=staff)
    assert fresh.status_code == 201  # no password yet: a new link, and the old one stops working
    assert api.post("/auth/set-password", json={"token": invitation, "password": "x-password-1"}).status_code == 422
    assert api.post("/auth/set-password", json={"token": fresh.get_json()["set_password_token"],
                                                "password": "host-password-1"}).status_code == 200
    refused = api.post(f"/hosts/{user.id}/invitation", token=staff)
    assert refused.status_code == 409 and refused.get_json()["code"] == "invalid_state"


def test_signing_out_ends_the_session_on_the_server(app, signup):
    browser = Browser(app.test_client())
    assert browser.signup(email="leaving@example.jp").status_code == 302
    assert browser.get("/my").status_code == 200
    copied = app.test_client()  # someone holding a copy of the cookie
    cookie = browser.client.get_cookie("session")
    copied.set_cookie("session", cookie.value)
    with app.app_context():
        assert copied.get("/my", headers={"Accept": "text/html"}).status_code == 200
    browser.get("/logout")
    assert browser.post("/logout").status_code == 302
    with app.app_context():
        again = copied.get("/my", headers={"Accept": "text/html"})
    assert again.status_code == 302 and "/login" in again.headers["Location"]
    assert browser.get("/my").status_code == 302
    assert browser.login("leaving@example.jp", "password-123").status_code == 302  # a new session works
    assert browser.get("/my").status_code == 200
