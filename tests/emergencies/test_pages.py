"""The emergency pages through the test client: the notice with its offer form (/emergencies/<id>), the
banner on /my, and the staff console (/staff/emergencies) to declare, follow delivery, read offers, name a
proxy and close. Forms work without JavaScript and keep what was typed on a refusal."""
import re
import uuid

from sqlalchemy import select

from registry.accounts import service as accounts
from registry.emergencies.models import Emergency, Offer
from registry.extensions import db
from registry.workflows.notices import fan_out_broadcasts
from tests.conftest import Browser
from tests.emergencies.conftest import OFFER, emergency_body
from tests.factories import GIFU, HIDA, PASSWORD, TAKAYAMA, register


def _staff_browser(browser, code=HIDA, role="staff"):
    email = f"{role}-{uuid.uuid4().hex[:8]}@example.jp"
    accounts.create_user(email=email, password=PASSWORD, role=role, organization_code=code)
    db.session.commit()
    browser.login(email, PASSWORD)
    return browser


def _declared(api, staff_token, *codes):
    response = api.post("/emergencies", token=staff_token, json=emergency_body(*codes))
    assert response.status_code == 201
    return response.get_json()


def test_staff_declare_follow_name_a_proxy_and_close_on_the_console(app, browser, staff, api, signup):
    _, tied_token = signup()
    register(api, tied_token, HIDA)
    _staff_browser(browser)
    page = browser.get("/staff/emergencies").get_data(as_text=True)
    assert 'action="/staff/emergencies"' in page and 'name="organization_codes"' in page
    assert f'value="{HIDA}" checked' in page and f'value="{TAKAYAMA}"' not in page  # their own 団体 only
    refused = browser.post("/staff/emergencies", {"title": "", "message": "支援を", "organization_codes": HIDA})
    assert refused.status_code == 422 and "支援を" in refused.get_data(as_text=True)
    declared = browser.post("/staff/emergencies", {"title": "大雨災害", "message": "支援をお願いします",
                                                   "organization_codes": HIDA})
    assert declared.status_code == 302
    emergency = db.session.scalar(select(Emergency))
    assert declared.headers["Location"].endswith(f"/staff/emergencies/{emergency.id}")

    waiting = browser.get(f"/staff/emergencies/{emergency.id}").get_data(as_text=True)
    assert "大雨災害" in waiting and 'data-role="delivery"' not in waiting  # not fanned out yet
    fan_out_broadcasts()
    assert api.post(f"/emergencies/{emergency.id}/offers", token=tied_token, json=OFFER).status_code == 201
    shown = browser.get(f"/staff/emergencies/{emergency.id}").get_data(as_text=True)
    assert re.search(r'<progress data-role="delivery" max="1" value="1"', shown)
    assert "週末なら現地に行けます。" in shown and "mailto:" in shown  # the offer, with its e-mail
    console = browser.get("/staff/emergencies").get_data(as_text=True)
    assert "大雨災害" in console and 'data-role="delivery"' in console

    named = browser.post(f"/staff/emergencies/{emergency.id}/proxies", {"organization_code": TAKAYAMA})
    assert named.status_code == 302 and api.get(f"/emergencies/{emergency.id}").get_json()["proxy_codes"] == [TAKAYAMA]
    closed = browser.post(f"/staff/emergencies/{emergency.id}/close")
    assert closed.status_code == 302
    db.session.refresh(emergency)
    assert emergency.status == "closed"
    again = browser.post(f"/staff/emergencies/{emergency.id}/close")
    assert again.status_code == 302  # refused: the reason is flashed on the page it goes back to
    after = browser.get(f"/staff/emergencies/{emergency.id}").get_data(as_text=True)
    assert "この災害時モードは終了しています。" in after and 'action="/staff/emergencies/' not in after


def test_a_prefecture_chooses_among_its_municipalities_national_among_all(app, browser):
    page = _staff_browser(browser, GIFU).get("/staff/emergencies").get_data(as_text=True)
    assert f'value="{GIFU}" checked' in page and f'value="{HIDA}"' in page and 'value="131016"' not in page
    national = _staff_browser(Browser(app.test_client()), None, "national")
    page = national.get("/staff/emergencies").get_data(as_text=True)
    assert '<select id="organization_codes" name="organization_codes" multiple' in page and 'value="131016"' in page
    assert national.post("/staff/emergencies", {"title": "地震", "message": "支援を",
                                                "organization_codes": [HIDA, "131016"]}).status_code == 302


def test_staff_of_another_団体_cannot_follow_it(app, browser, staff, api):
    emergency = _declared(api, staff, HIDA)
    other = _staff_browser(browser, TAKAYAMA)
    assert other.get(f"/staff/emergencies/{emergency['id']}").status_code == 403
    assert "大雨" not in other.get("/staff/emergencies").get_data(as_text=True)


def test_a_tied_resident_sees_the_banner_and_offers_help_on_the_notice(app, browser, staff, api):
    emergency = _declared(api, staff, HIDA)
    browser.signup()
    assert "災害時モード" not in browser.get("/my").get_data(as_text=True)
    browser.get("/organizations/212172")
    assert browser.post("/organizations/212172/register", {"ties": "family"}).status_code == 302
    my = browser.get("/my").get_data(as_text=True)
    assert "飛騨地方で大雨災害" in my and f'href="/emergencies/{emergency["id"]}"' in my and 'role="alert"' in my

    notice = browser.get(f"/emergencies/{emergency['id']}").get_data(as_text=True)
    assert 'name="kinds"' in notice and 'action="/emergencies/' in notice and "<label" in notice
    url = f"/emergencies/{emergency['id']}/offer"
    refused = browser.post(url, {"kinds": "on_site", "available_from": "2030-02-01", "available_until": "2030-01-01",
                                 "message": "行けます", "skills": "運転, 調理"})
    assert refused.status_code == 422
    kept = refused.get_data(as_text=True)
    assert "行けます" in kept and "運転, 調理" in kept and 'value="on_site" checked' in kept
    done = browser.post(url, {"kinds": ["on_site", "lodging"], "skills": "運転, 調理", "message": "行けます"})
    assert done.status_code == 302 and done.headers["Location"].endswith(f"/emergencies/{emergency['id']}#offer")
    offer = db.session.scalar(select(Offer))
    assert offer.kinds == ["on_site", "lodging"] and offer.skills == ["運転", "調理"]
    again = browser.get(f"/emergencies/{emergency['id']}").get_data(as_text=True)
    assert 'value="lodging" checked' in again and "運転, 調理" in again
    assert browser.post(url, {"kinds": "remote"}).status_code == 302
    db.session.refresh(offer)
    assert offer.kinds == ["remote"] and db.session.query(Offer).count() == 1


def test_the_notice_for_anyone_and_for_residents_not_tied(app, browser, staff, api, signup):
    emergency = _declared(api, staff, HIDA)
    anonymous = browser.get(f"/emergencies/{emergency['id']}")
    page = anonymous.get_data(as_text=True)
    assert anonymous.status_code == 200 and "飛騨地方で大雨災害" in page and "飛騨市" in page
    assert 'name="kinds"' not in page and "/login?next=" in page
    browser.signup()
    browser.get("/organizations/472018")
    browser.post("/organizations/472018/register", {"ties": "family"})
    page = browser.get(f"/emergencies/{emergency['id']}").get_data(as_text=True)
    assert 'name="kinds"' not in page
    refused = browser.post(f"/emergencies/{emergency['id']}/offer", {"kinds": "remote"})
    assert refused.status_code == 422 and db.session.query(Offer).count() == 0
    assert browser.get(f"/emergencies/{uuid.uuid4()}").status_code == 404


def test_pages_in_english_and_without_csrf(browser, staff, api):
    emergency = _declared(api, staff, HIDA)
    page = browser.get(f"/emergencies/{emergency['id']}?lang=en").get_data(as_text=True)
    assert '<html lang="en">' in page and "Emergency" in page
    browser.signup()
    browser.get("/organizations/212172")
    browser.post("/organizations/212172/register", {"ties": "family"})
    assert browser.post(f"/emergencies/{emergency['id']}/offer", {"kinds": "remote"}, csrf=False).status_code == 400
    assert db.session.query(Offer).count() == 0


def test_a_proxy_announces_for_the_affected_団体_on_the_emergency_page(app, browser, staff, api, signup):
    emergency = _declared(api, staff, HIDA)
    api.post(f"/emergencies/{emergency['id']}/proxies", token=staff, json={"organization_code": TAKAYAMA})
    _, reader = signup()
    register(api, reader, HIDA)
    api.patch("/me", token=reader, json={"consents": {"announcements": True}})
    proxy = _staff_browser(browser, TAKAYAMA)
    page = proxy.get(f"/staff/emergencies/{emergency['id']}").get_data(as_text=True)
    assert 'action="/staff/emergencies/' in page and f'<option value="{HIDA}">飛騨市</option>' in page
    sent = proxy.post(f"/staff/emergencies/{emergency['id']}/announcements",
                      {"organization_code": HIDA, "title": "給水所", "body": "公民館で給水しています。"})
    assert sent.status_code == 302
    [item] = api.get("/me/announcements", token=reader).get_json()
    assert item["title"] == "給水所" and item["organization_code"] == HIDA
    refused = proxy.post(f"/staff/emergencies/{emergency['id']}/announcements",
                         {"organization_code": GIFU, "title": "x", "body": "y"})
    assert refused.status_code == 302 and len(api.get("/me/announcements", token=reader).get_json()) == 1


def test_the_urgent_box_on_the_need_form_only_during_an_emergency(browser, staff, api):
    _staff_browser(browser)
    assert 'name="urgent"' not in browser.get("/staff/needs/new").get_data(as_text=True)
    _declared(api, staff, HIDA)
    assert 'name="urgent"' in browser.get("/staff/needs/new").get_data(as_text=True)
