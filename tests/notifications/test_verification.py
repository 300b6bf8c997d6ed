"""Verifying the e-mail address: the link e-mailed at signup, `POST /auth/verify-email`."""
import re

import pytest

from registry.extensions import db
from registry.registrations import notices as registration_notices
from registry.notifications import verification
from registry.notifications.service import notify
from tests.factories import user_of
from tests.notifications.conftest import send


def _link_token(message) -> str:
    text = message.get_body(("plain",)).get_content()
    return re.search(r"https://furusato\.example\.jp/verify-email\?token=(\S+)", text).group(1)


def test_the_verification_mail_and_link(app, api, smtp, signup):
    user_json, token = signup()
    user = user_of(user_json)
    assert verification.request_verification(user, settings=app.config) is True
    assert verification.request_verification(user, settings=app.config) is True  # still one in the outbox
    db.session.commit()
    assert send(app).sent == 1
    [message] = smtp.messages
    assert message["To"] == user_json["email"] and message["Subject"] == "メールアドレスの確認のお願い"
    assert "7日以内" in message.get_body(("plain",)).get_content()
    link_token = _link_token(message)
    assert api.get("/me", token=token).get_json()["email_verified"] is False
    response = api.post("/auth/verify-email", json={"token": link_token})
    assert response.status_code == 200 and response.get_json() == {"email_verified": True}
    assert api.get("/me", token=token).get_json()["email_verified"] is True
    assert api.post("/auth/verify-email", json={"token": link_token}).status_code == 200  # again: no change
    # from now on, notifications are e-mailed too
    notify(user, "premium_decided", *registration_notices.PREMIUM_REJECTED, "/my", params={"organization": "飛騨市", "reason": "x"})
    db.session.commit()
    assert send(app).sent == 1


@pytest.mark.parametrize("bad", ["", "x", "a" * 1001, "eyJ1IjoiMSJ9.bad.sig"])
def test_bad_tokens(api, bad):
    response = api.post("/auth/verify-email", json={"token": bad})
    assert response.status_code == 422 and response.get_json()["code"] in ("invalid_token", "validation_error")


def test_a_token_for_another_address_or_an_erased_account_or_too_old_is_invalid(app, api, signup, monkeypatch):
    user_json, token = signup()
    user = user_of(user_json)
    good = verification.make_token(user, app.config["SECRET_KEY"])
    forged = verification.make_token(user, "another-secret")
    assert api.post("/auth/verify-email", json={"token": forged}).get_json()["code"] == "invalid_token"
    monkeypatch.setattr(verification, "MAX_AGE_SECONDS", -1)
    assert api.post("/auth/verify-email", json={"token": good}).get_json()["code"] == "invalid_token"
    monkeypatch.setattr(verification, "MAX_AGE_SECONDS", 3600)
    user.email_key = "changed@example.jp"
    db.session.commit()
    assert api.post("/auth/verify-email", json={"token": good}).get_json()["code"] == "invalid_token"
    other_json, other_token = signup()
    other_good = verification.make_token(user_of(other_json), app.config["SECRET_KEY"])
    api.delete("/me", token=other_token)
    assert api.post("/auth/verify-email", json={"token": other_good}).get_json()["code"] == "invalid_token"


def test_asking_again(app, api, smtp, signup):
    _, token = signup()
    assert api.post("/me/email-verification", token=token).get_json() == {"status": "queued"}
    assert send(app).sent == 1
    token_ = _link_token(smtp.messages[0])
    api.post("/auth/verify-email", json={"token": token_})
    assert api.post("/me/email-verification", token=token).get_json() == {"status": "already_verified"}
    assert api.post("/me/email-verification").status_code == 401


def test_no_mail_when_smtp_is_not_configured(app, api, signup, monkeypatch):
    _, token = signup()
    monkeypatch.setitem(app.config, "SMTP_URL", None)
    response = api.post("/me/email-verification", token=token)
    assert response.status_code == 202 and response.get_json() == {"status": "mail_off"}


def test_a_verification_for_an_address_verified_meanwhile_is_not_sent(app, api, smtp, signup):
    user_json, _ = signup()
    user = user_of(user_json)
    verification.request_verification(user, settings=app.config)
    db.session.commit()
    api.post("/auth/verify-email", json={"token": verification.make_token(user, app.config["SECRET_KEY"])})
    report = send(app)
    assert report.sent == 0 and report.cancelled == 1


def test_signup_queues_the_verification_when_mail_is_configured(app, api, smtp, signup):
    user_json, _ = signup()
    assert send(app).sent == 1 and smtp.messages[0]["To"] == user_json["email"]
