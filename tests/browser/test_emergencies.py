"""Emergencies (災害時モード) on phones: staff of a prefecture declare for one of its municipalities, a person
registered there sees the banner on /my, reads the notice and offers help; send-notifications fans the
notice out; the staff follow the delivery as a progress bar, read the offer, name a proxy and close.
No console errors, no sideways scrolling, tap targets at least 44 px tall."""
import uuid

import pytest

from registry.extensions import db
from registry.workflows.notices import fan_out_broadcasts

pytestmark = [pytest.mark.committing, pytest.mark.slow]  # chromium and a live server


def _tap_targets_are_large(p):
    for target in p.page.locator("main button, main .button, main input, main select, main summary").all():
        if target.is_visible() and target.get_attribute("type") not in ("checkbox", "radio", "hidden"):
            assert target.bounding_box()["height"] >= 44, target.evaluate("e => e.outerHTML")


def test_declare_notify_offer_follow_and_close_on_phones(app, phone, signed_in):
    resident = phone()
    resident.sign_up(f"tied-{uuid.uuid4().hex[:6]}@example.jp", "支援 花子", 1985)
    resident.goto("/organizations/212172")
    resident.page.check("#tie-family")
    resident.page.click("button:has-text('登録する')")
    assert resident.page.url.endswith("/my")

    staff = signed_in("staff", "210005")  # 岐阜県: also for its municipalities
    staff.goto("/staff/emergencies")
    staff.page.fill("#title", "飛騨地方で大雨災害")
    staff.page.fill("#message", "土砂崩れで道路が寸断されています。支援できる方はご連絡ください。")
    staff.page.uncheck("#org-210005")
    staff.page.check("#org-212172")
    _tap_targets_are_large(staff)
    staff.no_sideways_scroll()
    staff.shot("emergencies-01-staff-declares")
    staff.page.click("button:has-text('発令して通知する')")
    assert "/staff/emergencies/" in staff.page.url
    emergency_id = staff.page.url.rstrip("/").rsplit("/", 1)[-1]
    assert "通知の送信を待っています" in staff.page.inner_text("#delivery")

    with app.app_context():
        fan_out_broadcasts()  # what cron's send-notifications does
        db.session.remove()

    resident.goto("/my")
    banner = resident.page.locator(".emergency.banner")
    assert banner.count() == 1 and "飛騨地方で大雨災害" in banner.inner_text()
    resident.no_sideways_scroll()
    resident.shot("emergencies-02-my-banner")
    resident.page.click("text=お知らせを読んで支援を申し出る")
    assert resident.page.url.endswith(f"/emergencies/{emergency_id}")
    resident.page.check("#kind-on_site")
    resident.page.check("#kind-supplies")
    resident.page.fill("#skills", "重機の運転, 看護")
    resident.page.fill("#available_from", "2030-01-10")
    resident.page.fill("#available_until", "2030-01-20")
    resident.page.fill("#message", "週末なら現地に行けます。")
    _tap_targets_are_large(resident)
    resident.no_sideways_scroll()
    resident.shot("emergencies-03-offer-form")
    resident.page.click("main button[type=submit]")
    assert "支援の申し出を送りました" in resident.page.inner_text("main")
    assert resident.page.locator("#kind-supplies").is_checked()  # the offer stays editable
    resident.shot("emergencies-04-offer-sent")

    staff.goto(f"/staff/emergencies/{emergency_id}")
    bar = staff.page.locator("progress[data-role=delivery]")
    assert bar.get_attribute("value") == "1" and bar.get_attribute("max") == "1"
    assert "1人中1人にアプリで通知済み" in staff.page.inner_text("#delivery")
    assert "週末なら現地に行けます。" in staff.page.inner_text("#offers") and "mailto:" in staff.page.content()
    staff.page.select_option("#organization_code", "212032")  # 高山市 acts for 飛騨市
    staff.page.click("button:has-text('代理団体に指定する')")
    assert "高山市" in staff.page.inner_text("#proxies")
    _tap_targets_are_large(staff)
    staff.no_sideways_scroll()
    staff.shot("emergencies-05-staff-follows")
    staff.goto("/staff/emergencies")
    staff.no_sideways_scroll()
    staff.shot("emergencies-06-staff-console")

    proxy = signed_in("staff", "212032")  # 高山市's staff, acting for 飛騨市
    proxy.goto("/staff/emergencies")
    proxy.page.click("text=飛騨地方で大雨災害")
    assert "週末なら現地に行けます。" in proxy.page.inner_text("#offers")
    proxy.page.fill("#announce-title", "給水所のお知らせ")
    proxy.page.fill("#announce-body", "古川町公民館で給水しています。")
    proxy.page.click("#announce button[type=submit]")
    assert "お知らせを送信しました。" in proxy.page.inner_text("main")
    _tap_targets_are_large(proxy)
    proxy.no_sideways_scroll()
    proxy.shot("emergencies-08-proxy-acts")
    staff.goto(f"/staff/emergencies/{emergency_id}")
    staff.page.click("button:has-text('終了する')")
    assert "災害時モードを終了しました" in staff.page.inner_text("main")

    resident.goto("/my")
    assert resident.page.locator(".emergency.banner").count() == 0
    resident.goto(f"/emergencies/{emergency_id}")
    assert "受付は終わりました" in resident.page.inner_text("#offer")
    resident.no_sideways_scroll()
    resident.shot("emergencies-07-closed-notice")
    assert staff.errors == [] and resident.errors == [] and proxy.errors == []
