"""The hosts' pages through the test client: set-password, the host console, the check-in screen,
the resident's check-in, staff inviting hosts and publishing drafts."""
import re
import uuid

from sqlalchemy import select

from registry.accounts import service as accounts
from registry.extensions import db
from registry.needs import checkin
from registry.needs.models import Application, Need
from tests.conftest import Browser
from tests.factories import HIDA, days
from tests.hosts.conftest import in_progress

LINK = re.compile(r'value="(http://localhost:5000/set-password\?token=[^"]+)"')


def _staff_browser(browser):
    accounts.create_user(email="staff-pages@example.jp", password="staff-password-1", role="staff",
                         organization_code=HIDA)
    db.session.commit()
    assert browser.login("staff-pages@example.jp", "staff-password-1").status_code == 302
    return browser


def _host_browser(app, api, invite, **fields):
    """A host signed in on its own browser through the set-password page."""
    body = invite(**fields).get_json()
    host = Browser(app.test_client())
    page = host.get(f"/set-password?token={body['set_password_token']}")
    assert page.status_code == 200 and body["email"] in page.get_data(as_text=True)
    response = host.post("/set-password", {"token": body["set_password_token"], "password": "host-pass-123",
                                           "password_again": "host-pass-123"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/host")
    return host, body


def test_set_password_page_refuses_bad_links_and_mismatches(app, api, invite, browser):
    page = browser.get("/set-password?token=nope")
    assert page.status_code == 422 and 'name="password"' not in page.get_data(as_text=True)
    assert browser.get("/set-password").status_code == 422
    body = invite().get_json()
    browser.get(f"/set-password?token={body['set_password_token']}")
    differ = browser.post("/set-password", {"token": body["set_password_token"], "password": "host-pass-123",
                                            "password_again": "host-pass-999"})
    assert differ.status_code == 422 and 'aria-invalid="true"' in differ.get_data(as_text=True)
    short = browser.post("/set-password", {"token": body["set_password_token"], "password": "short",
                                           "password_again": "short"})
    assert short.status_code == 422
    no_csrf = browser.post("/set-password", {"token": body["set_password_token"], "password": "host-pass-123",
                                             "password_again": "host-pass-123"}, csrf=False)
    assert no_csrf.status_code == 400
    ok = browser.post("/set-password", {"token": body["set_password_token"], "password": "host-pass-123",
                                        "password_again": "host-pass-123"})
    assert ok.status_code == 302
    used = browser.get(f"/set-password?token={body['set_password_token']}")
    assert used.status_code == 422


def test_staff_invite_a_host_and_publish_its_draft(app, api, browser, invite):
    staff = _staff_browser(browser)
    page = staff.get("/staff/hosts")
    assert page.status_code == 200 and 'action="/staff/hosts"' in page.get_data(as_text=True)
    invited = staff.post("/staff/hosts", {"email": "inn@example.jp", "display_name": "女将", "host_name": "飛騨の宿"})
    text = invited.get_data(as_text=True)
    assert invited.status_code == 200 and "飛騨の宿" in text
    link = LINK.search(text).group(1)
    bad = staff.post("/staff/hosts", {"email": "inn@example.jp", "display_name": "女将", "host_name": "飛騨の宿"})
    assert bad.status_code == 422 and 'value="inn@example.jp"' in bad.get_data(as_text=True)
    # The host sets its password and drafts a need.
    host = Browser(app.test_client())
    host.get(link.replace("http://localhost:5000", ""))
    token = link.rsplit("=", 1)[1]
    assert host.post("/set-password", {"token": token, "password": "host-pass-123",
                                       "password_again": "host-pass-123"}).status_code == 302
    host.get("/host/needs/new")
    form = {k: str(v) for k, v in in_progress().items() if k not in ("organization_code", "skills", "remote")}
    form["counts_as_activity"] = "on"
    form["skills_text"] = "力仕事, 運転"
    created = host.post("/host/needs/new", form)
    assert created.status_code == 302
    need = db.session.scalar(select(Need).where(Need.title == form["title"]))
    assert need.status == "draft" and need.counts_as_activity and need.skills == ["力仕事", "運転"]
    assert "下書き" in host.get("/host").get_data(as_text=True) or need.title in host.get("/host").get_data(as_text=True)
    # Staff see and publish the draft.
    drafts = staff.get("/staff/hosts").get_data(as_text=True)
    assert need.title in drafts and f'/staff/hosts/needs/{need.id}/publish' in drafts
    assert staff.post(f"/staff/hosts/needs/{need.id}/publish").status_code == 302
    db.session.expire_all()
    assert db.session.get(Need, need.id).status == "open"


def test_host_form_errors_keep_what_was_typed(app, api, invite):
    host, _body = _host_browser(app, api, invite)
    host.get("/host/needs/new")
    form = {k: str(v) for k, v in in_progress().items() if k not in ("organization_code", "skills", "remote")}
    form.update(title="残す題", ends_on="2000-01-01", capacity="abc")
    response = host.post("/host/needs/new", form)
    text = response.get_data(as_text=True)
    assert response.status_code == 422 and 'value="残す題"' in text and 'aria-invalid="true"' in text


def test_staff_trust_and_deactivate_from_the_page(app, api, browser, invite, staff):
    host, body = _host_browser(app, api, invite)
    staff_browser = _staff_browser(browser)
    staff_browser.get("/staff/hosts")
    assert staff_browser.post(f"/staff/hosts/{body['id']}/trust").status_code == 302
    assert api.get(f"/hosts/{body['id']}", token=staff).get_json()["trusted"] is True
    renewed = staff_browser.post(f"/staff/hosts/{body['id']}/invitation")  # the host has a password now
    assert not LINK.search(renewed.get_data(as_text=True))
    assert "このヌシはすでにパスワードを設定しています。" in staff_browser.get("/staff/hosts").get_data(as_text=True)
    assert staff_browser.post(f"/staff/hosts/{body['id']}/deactivate").status_code == 302
    assert host.get("/host").status_code == 302  # signed out at once
    other = staff_browser.post(f"/staff/hosts/{uuid.uuid4()}/deactivate")
    assert other.status_code == 302  # refused with a message, nothing changed


def test_host_console_decides_and_completes(app, api, invite, staff, accepted, signup):
    host, body = _host_browser(app, api, invite, trusted=True)
    host_token = api.post("/auth/login", json={"email": body["email"], "password": "host-pass-123"}).get_json()["token"]
    need = api.post("/needs", token=host_token, json=in_progress(title="朝市の手伝い")).get_json()
    _, applicant = signup(display_name="応募花子")
    application = api.post(f"/needs/{need['id']}/applications", token=applicant, json={"message": "よろしく"}).get_json()
    console = host.get("/host").get_data(as_text=True)
    assert "朝市の手伝い" in console and f"/host/needs/{need['id']}/check-in" in console
    page = host.get(f"/host/needs/{need['id']}").get_data(as_text=True)
    assert "応募花子" in page and "よろしく" in page
    action = f"/host/applications/{application['id']}/accept"
    assert f'action="{action}"' in page
    assert host.post(action).status_code == 302
    assert api.get(f"/needs/{need['id']}/applications", token=host_token).get_json()[0]["status"] == "accepted"
    # The check-in screen shows the code and the QR; the resident checks in with it.
    screen = host.get(f"/host/needs/{need['id']}/check-in")
    text = screen.get_data(as_text=True)
    assert screen.status_code == 200 and 'data-role="check-in-qr"' in text and "<svg" in text
    code = re.search(r'data-role="check-in-code"[^>]*>(\d{3}) (\d{3})<', text)
    code = code.group(1) + code.group(2)
    resident = Browser(app.test_client())
    me = api.get("/me", token=applicant).get_json()
    assert resident.login(me["email"], "correct-horse-9").status_code == 302
    form = resident.get(f"/my/check-in?need={need['id']}&code={code}")
    form_text = form.get_data(as_text=True)
    assert form.status_code == 200 and f'value="{code}"' in form_text and "朝市の手伝い" in form_text
    done = resident.post("/my/check-in", {"need": need["id"], "code": code})
    assert done.status_code == 302
    assert 'data-role="checked-in"' in resident.get(done.headers["Location"]).get_data(as_text=True)
    again = resident.post("/my/check-in", {"need": need["id"], "code": code})
    assert again.status_code == 409
    # The host completes every checked-in applicant in one step.
    page = host.get(f"/host/needs/{need['id']}").get_data(as_text=True)
    assert f"/host/needs/{need['id']}/complete-checked-in" in page
    assert host.post(f"/host/needs/{need['id']}/complete-checked-in").status_code == 302
    row = db.session.get(Application, uuid.UUID(application["id"]))
    assert row.status == "completed" and row.checked_in_at is not None


def test_resident_check_in_page_refusals(app, api, signup, staff, accepted, browser):
    need = api.post("/needs", token=staff, json=in_progress()).get_json()
    browser.signup(email="checker@example.jp")
    page = browser.get("/my/check-in")
    assert page.status_code == 200 and 'name="code"' in page.get_data(as_text=True)
    wrong_need = browser.post("/my/check-in", {"need": "not-a-uuid", "code": "123456"})
    assert wrong_need.status_code == 422
    not_accepted = browser.post("/my/check-in", {"need": need["id"], "code": "123456"})
    assert not_accepted.status_code == 409
    unknown = browser.post("/my/check-in", {"need": str(uuid.uuid4()), "code": "123456"})
    assert unknown.status_code == 404
    # An accepted applicant with a wrong code: 422, nothing changes.
    applied = browser.post(f"/needs/{need['id']}/apply", {})
    assert applied.status_code in (302, 303)
    application = db.session.scalar(select(Application).where(Application.need_id == uuid.UUID(need["id"])))
    assert api.post(f"/applications/{application.id}/accept", token=staff).status_code == 200
    listed = browser.get("/my/check-in").get_data(as_text=True)
    assert f'value="{need["id"]}"' in listed
    code = checkin.code_for(uuid.UUID(need["id"]), 0, app.config["SECRET_KEY"])
    wrong = browser.post("/my/check-in", {"need": need["id"], "code": code})
    assert wrong.status_code == 422 and 'aria-invalid="true"' in wrong.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Application, application.id).checked_in_at is None


def test_pages_refuse_other_roles(app, api, browser, invite, staff, signup):
    assert browser.get("/host").status_code == 302  # anonymous: to /login
    assert browser.get("/my/check-in").status_code == 302
    browser.signup(email="resident-pages@example.jp")
    assert browser.get("/host").status_code == 403
    assert browser.get("/staff/hosts").status_code == 403
    host, _body = _host_browser(app, api, invite)
    assert host.get("/my/check-in").status_code == 403
    assert host.get("/staff/hosts").status_code == 403
    staff_need = api.post("/needs", token=staff, json=in_progress()).get_json()
    assert host.get(f"/host/needs/{staff_need['id']}").status_code == 403
    assert host.get(f"/host/needs/{uuid.uuid4()}").status_code == 404
    assert host.get(f"/host/needs/{staff_need['id']}/check-in").status_code == 403
    host.get("/host/needs/new")  # a page with a form: the CSRF token of this session
    assert host.post(f"/host/needs/{staff_need['id']}/complete-checked-in").status_code == 302  # refused, flashed


def test_check_in_screen_outside_the_days(app, api, invite):
    host, body = _host_browser(app, api, invite, trusted=True)
    token = api.post("/auth/login", json={"email": body["email"], "password": "host-pass-123"}).get_json()["token"]
    later = api.post("/needs", token=token,
                     json=in_progress(starts_on=days(3), ends_on=days(3), apply_by=days(1))).get_json()
    screen = host.get(f"/host/needs/{later['id']}/check-in")
    assert screen.status_code == 409 and "<svg" not in screen.get_data(as_text=True)


def test_pages_in_english(app, api, invite):
    host, _body = _host_browser(app, api, invite)
    page = host.get("/host?lang=en").get_data(as_text=True)
    assert '<html lang="en">' in page and "Draft a new need" in page
    page = host.get("/host?lang=ja").get_data(as_text=True)
    assert '<html lang="ja">' in page and "Draft a new need" not in page
