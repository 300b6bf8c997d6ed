"""A host's set-password link is also e-mailed; the e-mailed and the shown link are each single use."""
import re

from tests.notifications.conftest import send
from tests.notifications.smtp import smtp, smtp_server  # noqa: F401  (fixtures)


def _link(message) -> str:
    text = message.get_body(preferencelist=("plain",)).get_content()
    return re.search(r"/set-password\?token=([\w\-]+)", text).group(1)


def test_invited_host_gets_the_link_by_e_mail(app, api, smtp, make_account):
    staff = make_account("staff", "212172")
    created = api.post("/organizations/212172/hosts", token=staff, json={
        "email": "nushi@example.jp", "display_name": "古川のヌシ", "host_name": "古川農園"})
    assert created.status_code == 201
    shown = created.get_json()["set_password_token"]
    assert send(app).sent == 1
    [message] = smtp.messages
    assert message["To"] == "nushi@example.jp" and "ふるさと住民登録" in message["Subject"]
    mailed = _link(message)
    assert mailed != shown
    done = api.post("/auth/set-password", json={"token": mailed, "password": "nushi-password-1"})
    assert done.status_code == 200 and done.get_json()["user"]["role"] == "host"
    # The link staff were shown is spent with it: an invitation sets a password once.
    again = api.post("/auth/set-password", json={"token": shown, "password": "another-password-1"})
    assert again.status_code == 422 and again.get_json()["code"] == "invalid_token"


def test_no_mail_once_the_password_is_set(app, api, smtp, make_account):
    staff = make_account("staff", "212172")
    shown = api.post("/organizations/212172/hosts", token=staff, json={
        "email": "fast@example.jp", "display_name": "早い", "host_name": "早い宿"}).get_json()["set_password_token"]
    assert api.post("/auth/set-password", json={"token": shown, "password": "nushi-password-1"}).status_code == 200
    report = send(app)
    assert report.sent == 0 and smtp.messages == []
