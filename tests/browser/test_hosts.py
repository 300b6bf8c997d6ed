"""Hosts (ヌシ) on phones: staff invite a host, the host drafts a need, staff publish it, a resident
applies, the host accepts, the resident checks in with the host's code, the host completes, and the
activity counts toward premium."""
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from registry.accounts.models import User
from registry.common.time import today_tokyo
from registry.extensions import db
from registry.needs import checkin
from registry.registrations import service as registrations
from registry.registrations.models import Registration

pytestmark = [pytest.mark.committing, pytest.mark.slow]  # chromium and a live server


def _tap_targets_are_large(p):
    for target in p.page.locator("main button, main .button, main input, main select, main summary").all():
        if target.is_visible() and target.get_attribute("type") not in ("checkbox", "radio", "hidden"):
            assert target.bounding_box()["height"] >= 44, target.evaluate("e => e.outerHTML")


def test_host_drafts_staff_publishes_resident_checks_in_host_completes(app, phone, signed_in):
    today = today_tokyo()

    staff = signed_in("staff", "212172")
    staff.goto("/staff/hosts")
    staff.page.fill("#host_name", "古川の朝市組合")
    staff.page.fill("#display_name", "朝市 花子")
    staff.page.fill("#email", "asaichi@example.jp")
    staff.page.click("button:has-text('招待する')")
    link = staff.page.locator("[data-role=set-password-link]").input_value()
    assert "/set-password?token=" in link
    staff.no_sideways_scroll()
    staff.shot("hosts-01-staff-invites")

    host = phone()
    host.goto("/set-password?token=" + link.split("token=", 1)[1])
    host.page.fill("#password", "host-pass-123")
    host.page.fill("#password_again", "host-pass-123")
    host.no_sideways_scroll()
    host.shot("hosts-02-set-password")
    host.page.click("main button[type=submit]")
    assert host.page.url.endswith("/host")
    host.page.click("text=新しい募集を作成")
    host.page.fill("#title", "朝市の設営")
    host.page.fill("#description", "朝6時からテントと机を並べます。")
    for field, day in (("#starts_on", today), ("#ends_on", today + timedelta(days=1)), ("#apply_by", today)):
        host.page.fill(field, day.isoformat())
    host.page.fill("#capacity", "3")
    host.page.check("#counts_as_activity")
    host.no_sideways_scroll()
    _tap_targets_are_large(host)
    host.shot("hosts-03-host-drafts")
    host.page.click("main button[type=submit]")
    need_id = host.page.url.split("#")[0].rstrip("/").rsplit("/", 1)[-1]
    uuid.UUID(need_id)
    assert "下書き" in host.page.locator("main").inner_text()

    staff.goto("/staff/hosts")
    assert "朝市の設営" in staff.page.locator("#drafts").inner_text()
    staff.page.click("#drafts button:has-text('公開する')")
    assert "朝市の設営" not in staff.page.locator("#drafts").inner_text()

    resident = phone()
    resident.sign_up("asaichi-helper@example.jp", "手伝い次郎", 1990)
    resident.goto("/organizations/212172")
    resident.page.check("#tie-volunteer")
    resident.page.click("button:has-text('登録する')")
    resident.goto(f"/needs/{need_id}")
    resident.page.fill("#message", "早起きは得意です")
    resident.page.click("main button[type=submit]")

    host.goto(f"/host/needs/{need_id}")
    assert "手伝い次郎" in host.page.locator("#applicants").inner_text()
    host.page.click("#applicants button:has-text('受け入れる')")
    host.page.click("text=チェックインコードを表示")
    code = host.page.locator("[data-role=check-in-code]").inner_text().replace(" ", "")
    assert len(code) == 6 and code.isdigit()
    qr = host.page.locator("[data-role=check-in-qr] svg")
    assert qr.bounding_box()["width"] >= 240  # full width on a phone, readable from arm's length
    host.no_sideways_scroll()
    host.shot("hosts-04-check-in-code")
    # What the resident's camera reads off the host's screen, as drawn: the check-in URL of the code
    # shown (read again afterwards: the screen renews itself when the minute turns).
    for _ in range(2):
        shown = host.page.locator("[data-role=check-in-code]").inner_text().replace(" ", "")
        decoded = host.qr_codes("hosts-04-check-in-qr", "[data-role=check-in-qr]")
        if host.page.locator("[data-role=check-in-code]").inner_text().replace(" ", "") == shown:
            break
    assert decoded == [checkin.page_url(app.config["SITE_URL"], uuid.UUID(need_id), shown)]

    # The resident "scans" the QR: its URL opens the check-in page with need and code filled in.
    resident.goto(f"/my/check-in?need={need_id}&code={code}")
    assert resident.page.locator("#code").input_value() == code
    resident.no_sideways_scroll()
    _tap_targets_are_large(resident)
    resident.shot("hosts-05-resident-checks-in")
    resident.page.click("main button:has-text('チェックイン')")
    assert resident.page.locator("[data-role=checked-in]").is_visible()
    resident.shot("hosts-06-checked-in")

    host.goto(f"/host/needs/{need_id}")
    assert "チェックイン" in host.page.locator("#applicants").inner_text()
    host.page.click("button:has-text('完了にする')")
    assert "完了" in host.page.locator("#applicants").inner_text()
    host.no_sideways_scroll()
    host.shot("hosts-07-host-completed")

    with app.app_context():
        user = db.session.scalar(select(User).where(User.email_key == "asaichi-helper@example.jp"))
        registration = db.session.scalar(select(Registration).where(Registration.user_id == user.id))
        assert registrations.activities_in_window(user.id, registration, today_tokyo()) == 1
    resident.goto("/my")
    assert "1" in resident.page.locator("#registrations").inner_text()
    assert staff.errors == [] and host.errors == [] and resident.errors == []
