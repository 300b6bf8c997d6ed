"""The main flows in a real browser at a phone's size: no console errors, no sideways scrolling."""
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from sqlalchemy import select

from registry.accounts.models import User
from registry.certificates import service as certificates
from registry.certificates.keys import app_key
from registry.extensions import db
from registry.registrations.models import Registration

pytestmark = [pytest.mark.committing, pytest.mark.slow]  # chromium and a live server


def test_resident_signs_up_registers_and_shows_the_certificate(app, phone):
    p = phone()
    p.goto("/")
    p.no_sideways_scroll()
    p.shot("01-landing")
    p.page.fill("#q", "ひだ")
    p.page.click("button[type=submit]")
    p.page.click("text=飛騨市")
    p.no_sideways_scroll()
    p.page.click("text=新規登録して住民登録する")
    p.choose_home("131016")
    p.page.fill("#email", "browser@example.jp")
    p.page.fill("#password", "password-123")
    p.page.fill("#display_name", "ブラウザ花子")
    p.page.fill("#birth_year", "1992")
    p.no_sideways_scroll()
    p.shot("02-signup")
    p.page.click("button:has-text('アカウントを作成')")
    assert p.page.url.endswith("/organizations/212172")
    p.page.check("#tie-birthplace")
    p.page.check("#tie-furusato_nozei")
    p.shot("03-organization")
    p.page.click("button:has-text('登録する')")
    assert p.page.url.endswith("/my")
    qr = p.page.locator("[data-role=certificate-qr] svg")
    assert qr.bounding_box()["width"] >= 160
    for target in p.page.locator("main button, main .button, main input, main select, main summary").all():
        if target.is_visible():
            assert target.bounding_box()["height"] >= 44 or target.get_attribute("type") == "checkbox"
    p.no_sideways_scroll()
    p.shot("04-my")
    assert p.errors == []


def test_the_certificate_qr_decodes_as_drawn_and_opens_the_verify_page(app, phone):
    """A counter's phone reads the QR off the resident's screen: zbarimg on a screenshot at phone
    size reads the verify URL of a valid certificate of this registration, and that URL opens the
    page that says so. (A QR drawn without a viewBox was cut by the page's CSS: it did not decode.)"""
    p = phone()
    p.sign_up("qr-reader@example.jp", "読取花子", 1985)
    p.goto("/organizations/212172")
    p.page.check("#tie-birthplace")
    p.page.click("button:has-text('登録する')")
    assert p.page.url.endswith("/my")
    assert p.page.locator("[data-role=certificate-qr] svg").bounding_box()["width"] >= 160
    decoded = p.qr_codes("qr-certificate", "[data-role=certificate-qr]")
    assert len(decoded) == 1, decoded
    url = urlsplit(decoded[0])
    assert f"{url.scheme}://{url.netloc}" == app.config["SITE_URL"] and url.path == "/verify"
    token = parse_qs(url.query)["token"][0]
    assert decoded[0] == certificates.verify_url(app.config["SITE_URL"], token)
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email_key == "qr-reader@example.jp"))
        registration = db.session.scalar(select(Registration).where(Registration.user_id == user.id))
        answer = certificates.verify(token, keys=certificates.public_keys(app_key(app)))
    assert answer["valid"] and answer["organization_code"] == "212172"
    assert jwt.decode(token, options={"verify_signature": False})["sub"] == str(registration.id)
    p.goto(f"{url.path}?{url.query}")  # what the counter's phone opens
    assert "有効" in p.page.locator("main").inner_text() and "飛騨市" in p.page.locator("main").inner_text()
    p.shot("qr-verify")
    assert p.errors == []


def test_national_sees_the_dashboard_with_charts(signed_in):
    p = signed_in("national")
    assert p.page.url.endswith("/dashboard")
    p.page.wait_for_function(
        "() => [...document.querySelectorAll('[data-role=chart]')].every(c => window.Chart && Chart.getChart(c))",
        timeout=10_000)
    assert p.page.locator("[data-role=chart]").count() == 3  # prefectures, growth, the funnel
    p.no_sideways_scroll()
    p.shot("05-dashboard")
    assert p.errors == []


def test_resident_applies_and_staff_accepts_and_completes(phone, signed_in):
    from datetime import timedelta

    from registry.common.time import today_tokyo
    today = today_tokyo()
    staff = signed_in("staff", "212172")
    staff.goto("/staff/needs/new")
    staff.page.fill("#title", "古川の雪かき")
    staff.page.fill("#description", "屋根の雪下ろしを手伝ってください。")
    for field, day in (("#starts_on", today), ("#ends_on", today + timedelta(days=1)), ("#apply_by", today)):
        staff.page.fill(field, day.isoformat())
    staff.page.fill("#capacity", "2")
    staff.page.check("#counts_as_activity")
    staff.no_sideways_scroll()
    staff.page.click("main button[type=submit]")
    need_id = staff.page.url.rstrip("/").rsplit("/", 1)[-1]

    resident = phone()
    resident.sign_up("applicant-browser@example.jp", "応募太郎", 1988)
    resident.goto(f"/needs/{need_id}")
    resident.page.fill("#message", "参加します")
    resident.no_sideways_scroll()
    resident.shot("06-need")
    resident.page.click("main button[type=submit]")
    assert "/my" in resident.page.url

    staff.goto(f"/staff/needs/{need_id}")
    staff.page.click("button:has-text('受け入れる')")
    staff.page.click("button:has-text('完了')")
    assert staff.page.locator("text=完了").count() >= 1
    staff.shot("07-staff-need")
    staff.no_sideways_scroll()
    resident.goto("/my")
    assert "飛騨市" in resident.page.locator("#activities").inner_text()
    assert staff.errors == [] and resident.errors == []
