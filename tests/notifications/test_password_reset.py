"""POST /auth/password-reset: 202 whatever the address; the e-mailed link sets a new password once."""
import re

from sqlalchemy import func, select

from registry.extensions import db
from registry.notifications.models import OutboxMessage
from tests.notifications.conftest import send
from tests.notifications.smtp import smtp, smtp_server  # noqa: F401  (fixtures)


def test_reset_by_e_mail(app, api, smtp, signup):
    user, _ = signup()
    outbox_before = db.session.scalar(select(func.count()).select_from(OutboxMessage))
    known = api.post("/auth/password-reset", json={"email": user["email"].upper()})
    unknown = api.post("/auth/password-reset", json={"email": "nobody@example.jp"})
    assert known.status_code == unknown.status_code == 202 and known.data == unknown.data
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == outbox_before + 1
    send(app)
    [message] = [m for m in smtp.messages if "パスワード" in m["Subject"] or "password" in m["Subject"].lower()]
    token = re.search(r"/set-password\?token=([\w\-]+)", message.get_body(preferencelist=("plain",)).get_content()).group(1)
    assert api.post("/auth/set-password", json={"token": token, "password": "brand-new-pass-1"}).status_code == 200
    assert api.post("/auth/login", json={"email": user["email"], "password": "brand-new-pass-1"}).status_code == 200
    assert api.post("/auth/login", json={"email": user["email"], "password": "correct-horse-9"}).status_code == 401
    again = api.post("/auth/set-password", json={"token": token, "password": "third-password-1"})
    assert again.status_code == 422 and again.get_json()["code"] == "invalid_token"


def test_reset_input_is_checked(api):
    assert api.post("/auth/password-reset", json={}).status_code == 422
    assert api.post("/auth/password-reset", json={"email": "x" * 300}).status_code == 422
