"""The resident's own pages through the test client: where you live chosen as an address (the
prefecture, then the municipality by name; without JavaScript in two steps), errors tied to their
fields, and /my in sections under a short table of contents with every form it had."""
import re
from datetime import timedelta

from sqlalchemy import func, select

from registry.accounts.models import User
from registry.common.time import today_tokyo
from registry.extensions import db
from registry.invitations.models import Invitation
from registry.organizations.models import MUNICIPALITY, Organization
from tests.factories import CHIYODA, GIFU, HIDA, TAKAYAMA, TOKYO, add_activities, verify_identity

FORM = {"email": "picker@example.jp", "password": "password-123", "display_name": "住所選び",
        "birth_year": "1990"}


def _options(page: str, select_id: str) -> list[tuple[str, str]]:
    """(value, text) of the options of the <select> with that id."""
    body = re.search(rf'<select id="{select_id}"[^>]*>(.*?)</select>', page, re.S).group(1)
    return re.findall(r'<option value="([^"]*)"[^>]*>([^<]*)</option>', body)


def _selected(page: str, select_id: str) -> str | None:
    body = re.search(rf'<select id="{select_id}"[^>]*>(.*?)</select>', page, re.S).group(1)
    found = re.search(r'<option value="([^"]*)" selected>', body)
    return found.group(1) if found else None


def _tag(page: str, element_id: str) -> str:
    return re.search(rf'<(?:select|input) id="{element_id}"[^>]*>', page, re.S).group(0)


def _municipalities_of(prefecture: str) -> list[str]:
    return list(db.session.scalars(select(Organization.code).where(
        Organization.kind == MUNICIPALITY, Organization.prefecture_code == prefecture).order_by(Organization.code)))


def _users() -> int:
    return db.session.scalar(select(func.count()).select_from(User))


def test_signup_asks_for_the_prefecture_then_lists_its_municipalities_by_name(browser):
    page = browser.get("/signup").get_data(as_text=True)
    prefectures = _options(page, "home_prefecture")
    assert len(prefectures) == 48 and prefectures[0][0] == "" and ("130001", "東京都") in prefectures
    assert _options(page, "home_municipality_code") == [("", "先に都道府県を選んでください")]  # not 1,741 options
    assert 'name="home_municipality_code" type="text"' not in page  # never typed as a code
    assert 'autocomplete="address-level1"' in _tag(page, "home_prefecture")
    assert 'autocomplete="address-level2"' in _tag(page, "home_municipality_code")
    assert 'autocomplete="bday-year"' in _tag(page, "birth_year")

    gifu = browser.get(f"/signup?home_prefecture={GIFU}").get_data(as_text=True)
    listed = _options(gifu, "home_municipality_code")
    assert [code for code, _ in listed[1:]] == _municipalities_of(GIFU)
    assert (HIDA, "飛騨市") in listed and _selected(gifu, "home_prefecture") == GIFU


def test_signup_without_javascript_takes_two_steps_and_keeps_what_was_typed(browser):
    browser.get("/signup")
    step = browser.post("/signup", {**FORM, "home_prefecture": TOKYO, "pick_prefecture": "1"})
    page = step.get_data(as_text=True)
    assert step.status_code == 200 and _users() == 0  # only the list was asked for
    assert 'value="picker@example.jp"' in page and 'value="住所選び"' in page and "password-123" not in page
    assert [code for code, _ in _options(page, "home_municipality_code")[1:]] == _municipalities_of(TOKYO)
    assert 'aria-invalid' not in page and 'role="alert"' not in page
    done = browser.post("/signup", {**FORM, "home_prefecture": TOKYO, "home_municipality_code": CHIYODA})
    assert done.status_code == 302 and done.headers["Location"].endswith("/my")
    assert db.session.scalar(select(User.home_municipality_code).where(User.email_key == "picker@example.jp")) == CHIYODA


def test_enter_in_a_field_without_javascript_signs_up_once_the_municipality_is_chosen(browser):
    """Enter presses the form's first button, the prefecture's: with a municipality of that
    prefecture chosen there is nothing left to list, and the form is sent."""
    browser.get("/signup")
    done = browser.post("/signup", {**FORM, "home_prefecture": GIFU, "home_municipality_code": HIDA,
                                    "pick_prefecture": "1"})
    assert done.status_code == 302 and _users() == 1


def test_a_missing_wrong_or_stale_municipality_is_asked_for_beside_the_field(browser):
    browser.get("/signup")
    for posted in ({}, {"home_municipality_code": "999999"}, {"home_prefecture": GIFU},
                   {"home_prefecture": GIFU, "home_municipality_code": CHIYODA}):  # prefecture changed, list not asked
        response = browser.post("/signup", {**FORM, **posted})
        page = response.get_data(as_text=True)
        assert response.status_code == 422, posted
        select_tag = _tag(page, "home_municipality_code")
        assert 'aria-invalid="true"' in select_tag and 'aria-describedby="home_municipality_code-error"' in select_tag
        error = re.search(r'<p class="field-error" id="home_municipality_code-error">([^<]*)</p>', page).group(1)
        assert error == "お住まいの市区町村を一覧から選んでください。"
        summary = re.search(r'<p class="form-error" role="alert">([^<]*)</p>', page).group(1)
        assert summary == "お住まいはどちらですか。都道府県を選んでから、市区町村を選んでください。"
        assert "該当する団体がありません" not in page
    assert _users() == 0
    gifu = browser.post("/signup", {**FORM, "home_prefecture": GIFU}).get_data(as_text=True)
    assert [code for code, _ in _options(gifu, "home_municipality_code")[1:]] == _municipalities_of(GIFU)


def test_the_password_error_counts_characters(browser):
    browser.get("/signup")
    page = browser.post("/signup", {**FORM, "password": "short", "home_prefecture": TOKYO,
                                    "home_municipality_code": CHIYODA}).get_data(as_text=True)
    assert 'aria-invalid="true" aria-describedby="password-error"' in _tag(page, "password")
    assert "8〜128文字で入力してください。" in page and "件（文字）" not in page
    english = browser.post("/signup?lang=en", {**FORM, "password": "short"}).get_data(as_text=True)
    assert "Use 8 to 128 characters." in english


def test_the_profile_chooses_the_home_like_signup(browser):
    browser.signup()  # lives in 千代田区
    my = browser.get("/my").get_data(as_text=True)
    assert _selected(my, "home_prefecture") == TOKYO and _selected(my, "home_municipality_code") == CHIYODA
    assert [code for code, _ in _options(my, "home_municipality_code")[1:]] == _municipalities_of(TOKYO)
    assert 'name="home_municipality_code" type="text"' not in my and 'autocomplete="bday-year"' in _tag(my, "birth_year")
    profile = {"display_name": "引っ越し予定", "birth_year": "1990", "skills_text": "運転", "consent_scouting": "on"}

    step = browser.post("/my/profile", {**profile, "home_prefecture": GIFU, "home_municipality_code": CHIYODA,
                                        "pick_prefecture": "1"})
    page = step.get_data(as_text=True)
    assert step.status_code == 200 and 'value="引っ越し予定"' in page and 'value="運転"' in page
    assert 'id="consent_scouting" name="consent_scouting" type="checkbox" checked' in page
    assert [code for code, _ in _options(page, "home_municipality_code")[1:]] == _municipalities_of(GIFU)
    user = db.session.scalar(select(User).where(User.email_key == "page-user@example.jp"))
    assert (user.display_name, user.home_municipality_code) == ("ページ太郎", CHIYODA)  # nothing saved yet

    stale = browser.post("/my/profile", {**profile, "home_prefecture": GIFU, "home_municipality_code": CHIYODA})
    assert stale.status_code == 422 and "お住まいはどちらですか。" in stale.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(User, user.id).home_municipality_code == CHIYODA

    saved = browser.post("/my/profile", {**profile, "home_prefecture": GIFU, "home_municipality_code": TAKAYAMA})
    assert saved.status_code == 302 and saved.headers["Location"].endswith("/my#profile")
    db.session.expire_all()
    moved = db.session.get(User, user.id)
    assert (moved.display_name, moved.home_municipality_code, moved.skills) == ("引っ越し予定", TAKAYAMA, ["運転"])
    my = browser.get("/my").get_data(as_text=True)
    assert _selected(my, "home_prefecture") == GIFU and _selected(my, "home_municipality_code") == TAKAYAMA


def _everything_on_my(app, api, browser, make_account):
    """A resident with a registration eligible for premium, an accepted application to a need that
    starts today, a notification, an announcement and a pending invitation."""
    browser.signup()
    browser.get("/organizations/212172")
    assert browser.post("/organizations/212172/register", {"ties": ["family"]}).status_code == 302
    user = db.session.scalar(select(User).where(User.email_key == "page-user@example.jp"))
    user.consent_announcements = True
    add_activities(user, HIDA, 3)
    verify_identity(user)
    db.session.add(Invitation(organization_code=TAKAYAMA, user_id=user.id, ties=["volunteer"]))
    db.session.commit()
    staff = make_account("staff", HIDA)
    today = today_tokyo()
    need = api.post("/needs", token=staff, json={
        "organization_code": HIDA, "kind": "volunteer", "title": "朝市の設営", "description": "テントを並べます",
        "host_name": "朝市組合", "skills": [], "remote": False, "starts_on": today.isoformat(),
        "ends_on": (today + timedelta(days=1)).isoformat(), "apply_by": today.isoformat(), "capacity": 2,
        "reward": "朝食", "counts_as_activity": True}).get_json()
    browser.get(f"/needs/{need['id']}")
    assert browser.post(f"/needs/{need['id']}/apply", {"message": "行きます"}).status_code == 302
    application = api.get(f"/needs/{need['id']}/applications", token=staff).get_json()[0]
    assert api.post(f"/applications/{application['id']}/accept", token=staff).status_code == 200
    assert api.post(f"/organizations/{HIDA}/announcements", token=staff,
                    json={"title": "朝市のお知らせ", "body": "今週も開きます"}).status_code == 201
    return user, need, application


def test_my_is_sections_under_a_table_of_contents_with_every_form_kept(app, api, browser, make_account):
    user, need, application = _everything_on_my(app, api, browser, make_account)
    my = browser.get("/my").get_data(as_text=True)

    contents = re.search(r'<nav class="toc" id="contents"[^>]*>(.*?)</nav>', my, re.S).group(1)
    targets = re.findall(r'<a href="#([\w-]+)">', contents)
    assert targets == ["registrations", "needs-and-activities", "messages", "partners", "account"]
    for target in targets:  # each entry leads to its section, each section back to the contents
        section = my[my.index(f'<section id="{target}"'):]
        assert section.index(f'<h2 id="{target}-title">') < section.index('<a href="#contents">')
    assert "新着2件" in contents and "1件" in contents  # a notification and an announcement unread; one registration

    # Every part the page had keeps its anchor (flash redirects and other pages link to them) …
    for anchor in ("check-in", "invitations", "registrations", "recommendations", "applications", "activities",
                   "notifications", "inbox", "profile", "erase"):
        assert f'id="{anchor}"' in my, anchor
    assert my.index('id="check-in"') < my.index('id="contents"') and my.index('id="invitations"') < my.index('id="contents"')
    # … and every form and role it had.
    registration = re.search(r"/my/registrations/([0-9a-f-]{36})/withdraw", my).group(1)
    notification = re.search(r"/my/notifications/([0-9a-f-]{36})/read", my).group(1)
    announcement = re.search(r"/my/announcements/([0-9a-f-]{36})/read", my).group(1)
    invitation = db.session.scalar(select(Invitation.id).where(Invitation.user_id == user.id))
    for action in (f"/my/registrations/{registration}/withdraw", f"/my/registrations/{registration}/premium-request",
                   f"/my/registrations/{registration}/evidence", f"/my/applications/{application['id']}/cancel",
                   f"/my/notifications/{notification}/read", f"/my/announcements/{announcement}/read",
                   f"/my/invitations/{invitation}/accept", "/my/profile", "/my/erase"):
        assert f'action="{action}"' in my, action
    assert f'href="/my/applications/{application["id"]}/calendar.ics"' in my
    assert f'href="/my/check-in?need={need["id"]}"' in my
    assert 'data-role="certificate-qr"' in my and my.count("<svg") == 1

    # The progress bar is named by the sentence it shows.
    label = re.search(r'<span id="(progress-[0-9a-f-]{36})">([^<]*)</span>', my)
    assert label.group(2) == "過去12か月の活動: 3回中 3回"
    assert f'aria-labelledby="{label.group(1)}"></progress>' in my


def test_my_in_english_names_its_sections(browser):
    browser.signup()
    my = browser.get("/my?lang=en").get_data(as_text=True)
    for title in ("Registrations and certificates", "Needs and activities", "Notifications and announcements",
                  "Connected services", "Profile and account", "On this page", "Back to the contents"):
        assert title in my


def test_the_dashboards_monthly_chart_has_its_table(app, browser, signup, api):
    """The growth chart's text alternative: every month the chart draws, with its figures."""
    from registry.accounts import service as accounts
    from registry.figures import service as figures
    for _ in range(2):
        _, token = signup()
        api.post("/registrations", token=token, json={"organization_code": HIDA, "ties": ["family"]})
    accounts.create_user(email="nat-months@example.jp", password="national-pass-1", role="national")
    db.session.commit()
    browser.login("nat-months@example.jp", "national-pass-1")
    page = browser.get("/dashboard").get_data(as_text=True)
    table = re.search(r'<table data-role="months-table">(.*?)</table>', page, re.S).group(1)
    assert "<caption>" in table
    rows = re.findall(r'<tr><th scope="row">([\d-]+)</th>(.*?)</tr>', table, re.S)
    months = figures.timeseries(interval="month", min_cell=app.config["MIN_CELL"])
    assert rows and today_tokyo().strftime("%Y-%m") in [period for period, _ in rows]
    assert [(period, re.findall(r"<td>([^<]*)</td>", cells)) for period, cells in rows] == [
        (m["period"], ["—" if m[k] is None else str(m[k]) for k in ("actual_people", "cumulative_registrations", "registered")])
        for m in months]
