"""The resident's own pages on a phone, with and without JavaScript, as a screen reader meets them:
the home chosen as an address (prefecture, then municipality by name), errors tied to their fields,
/my's table of contents, named progress bars, disclosure markers; and the pages no other browser test
visits, each checked by axe-core like every page (conftest.py)."""
import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from registry.accounts.models import User
from registry.extensions import db
from registry.organizations.models import MUNICIPALITY, Organization
from tests.factories import CHIYODA, GIFU, HIDA, TAKAYAMA, TOKYO

pytestmark = [pytest.mark.committing, pytest.mark.slow]  # chromium and a live server

ASK = "お住まいはどちらですか。都道府県を選んでから、市区町村を選んでください。"
CHOOSE = "お住まいの市区町村を一覧から選んでください。"


def _municipalities(app, prefecture):
    with app.app_context():
        return list(db.session.scalars(select(Organization.code).where(
            Organization.kind == MUNICIPALITY, Organization.prefecture_code == prefecture).order_by(Organization.code)))


def _home_of(app, email):
    with app.app_context():
        return db.session.scalar(select(User.home_municipality_code).where(User.email_key == email))


def test_with_javascript_the_prefecture_lists_its_municipalities_in_place(app, phone):
    p = phone()
    p.goto("/signup")
    assert p.page.locator("[data-role=show-municipalities]").count() == 0  # the script lists them in place
    p.page.evaluate("() => { window.sameDocument = true; }")
    p.page.select_option("#home_prefecture", GIFU)
    p.page.locator(f"#home_municipality_code option[value='{HIDA}']").wait_for(state="attached")
    listed = p.page.eval_on_selector_all("#home_municipality_code option", "os => os.map(o => o.value)")
    assert listed == [""] + _municipalities(app, GIFU)
    assert p.page.evaluate("() => window.sameDocument === true")  # no reload
    p.page.select_option("#home_prefecture", TOKYO)  # another prefecture: its list replaces the first
    p.page.locator(f"#home_municipality_code option[value='{CHIYODA}']").wait_for(state="attached")
    assert p.page.locator(f"#home_municipality_code option[value='{HIDA}']").count() == 0
    p.page.select_option("#home_municipality_code", CHIYODA)
    for field, value in (("#email", "js-picker@example.jp"), ("#password", "password-123"),
                         ("#display_name", "地図好き"), ("#birth_year", "1988")):
        p.page.fill(field, value)
    p.no_sideways_scroll()
    p.shot("resident-01-signup-picker")
    p.page.press("#birth_year", "Enter")  # Enter in a field sends the form itself
    p.page.wait_for_url("**/my")
    assert _home_of(app, "js-picker@example.jp") == CHIYODA

    # The profile's home is chosen the same way.
    expect(p.page.locator("#home_prefecture")).to_have_value(TOKYO)
    expect(p.page.locator("#home_municipality_code")).to_have_value(CHIYODA)
    p.page.select_option("#home_prefecture", GIFU)
    p.page.select_option("#home_municipality_code", TAKAYAMA)
    p.page.locator("#profile").get_by_role("button", name="保存する").click()
    p.page.wait_for_url("**/my#profile")
    assert _home_of(app, "js-picker@example.jp") == TAKAYAMA
    assert "住まい: 高山市" in p.page.locator("main").inner_text()
    assert p.errors == []


def test_without_javascript_the_picker_takes_two_steps_and_errors_are_tied_to_the_field(app, phone):
    p = phone(javascript=False)
    p.goto("/signup")
    step = p.page.locator("[data-role=show-municipalities]")
    expect(step).to_be_visible()
    municipality = p.page.get_by_role("combobox", name="市区町村")
    expect(municipality.locator("option")).to_have_count(1)
    p.page.fill("#email", "no-js@example.jp")
    p.page.fill("#display_name", "台本なし")
    p.page.fill("#birth_year", "1979")
    p.page.select_option("#home_prefecture", GIFU)
    step.click()  # the form comes back with what was typed and Gifu's municipalities
    expect(municipality.locator("option")).to_have_count(len(_municipalities(app, GIFU)) + 1)
    expect(p.page.locator("#email")).to_have_value("no-js@example.jp")
    expect(p.page.locator("#display_name")).to_have_value("台本なし")

    p.page.fill("#password", "short")
    p.page.get_by_role("button", name="アカウントを作成").click()  # no municipality yet, a short password
    expect(p.page.get_by_role("alert")).to_have_text(ASK)
    expect(municipality).to_have_attribute("aria-invalid", "true")
    expect(municipality).to_have_accessible_description(CHOOSE)
    expect(p.page.get_by_label("パスワード（8文字以上）")).to_have_accessible_description("8〜128文字で入力してください。")
    p.no_sideways_scroll()
    p.shot("resident-02-signup-errors-without-javascript")

    p.page.select_option("#home_municipality_code", HIDA)
    p.page.fill("#password", "password-123")
    p.page.get_by_role("button", name="アカウントを作成").click()
    p.page.wait_for_url("**/my")
    assert _home_of(app, "no-js@example.jp") == HIDA

    # /my's contents are links to its sections: no script needed.
    for name, section in (("登録と登録証", "registrations"), ("募集と活動", "needs-and-activities"),
                          ("通知とお知らせ", "messages"), ("アカウント設定", "account")):
        p.page.locator("#contents").get_by_role("link", name=re.compile(name)).click()
        assert p.page.url.endswith(f"#{section}")
        expect(p.page.locator(f"#{section}-title")).to_be_in_viewport()
    # The profile's picker without a script: the prefecture's button lists its municipalities.
    p.page.select_option("#home_prefecture", TOKYO)
    p.page.locator("#profile [data-role=show-municipalities]").click()
    p.page.select_option("#home_municipality_code", CHIYODA)
    p.page.locator("#profile").get_by_role("button", name="保存する").click()
    p.page.wait_for_url("**/my#profile")
    assert _home_of(app, "no-js@example.jp") == CHIYODA
    assert [e for e in p.errors if "status of 422" not in e] == []  # the refused form's page comes as a 422


def test_my_reads_well_to_a_screen_reader(app, phone):
    p = phone()
    p.sign_up("reader@example.jp", "読み上げ", 1990)
    p.goto("/organizations/212172")
    p.page.check("#tie-family")
    p.page.click("button:has-text('登録する')")
    p.page.wait_for_url("**/my")
    contents = p.page.get_by_role("navigation", name="このページの目次")
    expect(contents.get_by_role("link")).to_have_count(5)
    expect(p.page.get_by_role("progressbar", name="過去12か月の活動: 3回中 0回")).to_have_count(1)
    expect(p.page.get_by_role("img", name="飛騨市の登録証QRコード")).to_have_count(1)
    summaries = p.page.locator("main summary")
    assert summaries.count() >= 2
    for summary in summaries.all():  # each keeps its disclosure triangle, and a 44 px target
        assert summary.evaluate("s => getComputedStyle(s).display") == "list-item"
        assert summary.bounding_box()["height"] >= 44
    marker = summaries.first.evaluate("s => getComputedStyle(s, '::marker').content")
    assert marker not in ("none", "")
    assert p.page.locator("#birth_year").get_attribute("autocomplete") == "bday-year"
    assert p.page.locator("#home_municipality_code").get_attribute("autocomplete") == "address-level2"
    for target in p.page.locator("main button, main .button, main input, main select, main summary, .toc a, .to-top a").all():
        if target.is_visible() and target.get_attribute("type") not in ("checkbox", "hidden"):
            assert target.bounding_box()["height"] >= 44, target.evaluate("e => e.outerHTML")
    p.no_sideways_scroll()
    p.shot("resident-03-my")
    p.page.locator("#contents").get_by_role("link", name=re.compile("アカウント設定")).click()
    p.shot("resident-04-my-profile", full_page=False)
    p.goto("/my?lang=en")
    p.shot("resident-05-my-english")
    assert p.errors == []


def test_the_dashboards_growth_chart_has_a_table(signed_in):
    p = signed_in("national")
    p.page.wait_for_url("**/dashboard")
    growth = p.page.locator("section", has=p.page.get_by_role("heading", name="月別の推移"))
    growth.locator("summary").click()
    expect(p.page.get_by_role("table", name="月別の推移")).to_be_visible()
    p.no_sideways_scroll()
    p.shot("resident-06-dashboard-table")
    assert p.errors == []


def test_the_other_pages_pass_axe_core(app, phone):
    """The pages and states the other browser tests do not reach (each is checked on arrival)."""
    p = phone()
    for path in ("/needs", "/verify?token=not-a-token", "/verify-email?token=x", "/set-password?token=bad",
                 "/logout", "/organizations/999999", "/signup?lang=en", "/login?lang=en"):
        p.goto(path)
        p.no_sideways_scroll()
    p.goto("/login")
    p.page.fill("#email", "nobody@example.jp")
    p.page.fill("#password", "wrong-password")
    p.page.click("main button[type=submit]")
    expect(p.page.get_by_role("alert")).to_be_visible()
    p.page.get_by_role("alert").inner_text()  # checked by axe-core before it is read
    assert p.checked >= {"/needs", "/verify", "/verify-email", "/set-password", "/logout", "/organizations/999999",
                         "/signup", "/login"}


def test_axe_core_fails_a_page_with_a_serious_violation(phone):
    """The check is real: a page without a language is refused."""
    p = phone()
    p.goto("/")
    p.page.goto("/needs")
    p.raw.evaluate("() => document.documentElement.removeAttribute('lang')")
    with pytest.raises(AssertionError, match="html-has-lang"):
        p.check_accessibility()
