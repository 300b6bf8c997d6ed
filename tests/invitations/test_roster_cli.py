"""`import-roster`: rows checked one by one, invitations not registrations, links for new people only,
re-runs that create nothing, and links that set the password and register in one step."""
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text

from registry.accounts.models import User
from registry.common.time import today_tokyo, utcnow
from registry.extensions import db
from registry.figures import recount
from registry.accounts.models import ROSTER_INVITATION, SetPasswordToken
from registry.invitations.models import Invitation
from registry.registrations.models import Registration
from tests.factories import CHIYODA, GIFU, HIDA, SAPPORO, SAPPORO_CHUO
from tests.invitations.conftest import bad_lines, read_links, token_of


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def _user(email: str) -> User:
    return db.session.scalar(select(User).where(User.email_key == email.lower()))


def _totals(api, national) -> dict:
    body = api.get("/stats/totals", token=national).get_json()
    return {k: body[k] for k in ("actual_people", "cumulative_registrations")}


def test_good_rows_import_and_every_bad_row_is_reported_by_line(roster_file, import_roster, tmp_path):
    this_year = today_tokyo().year
    path = roster_file(
        "taro@example.jp,山田太郎,131016,family;volunteer,1980",           # 2 good
        "not-an-email,誰か,131016,,1990",                                 # 3
        f"jiro@example.jp,次郎,{HIDA},,1990",                              # 4 lives in 飛騨市
        "saburo@example.jp,三郎,999999,other,1990",                        # 5 unknown code
        "shiro@example.jp,四郎,131016,family;bogus,1990",                  # 6 unknown tie
        f"goro@example.jp,五郎,131016,,{this_year + 1}",                   # 7 future birth year
        "rokuro@example.jp,六郎,131016,,19x0",                             # 8 not a year
        "TARO@example.jp,太郎また,131016,,1990",                            # 9 duplicate of line 2
        "shichi@example.jp,,131016,,1990",                                 # 10 no display name
        "hachi@example.jp,八郎,131016,other",                              # 11 four fields
        f"kyu@example.jp,九子,{SAPPORO_CHUO},,",                            # 12 good: a ward, no birth year
        ",名無し,,,1800",                                                   # 13 three reasons
    )
    out = tmp_path / "links.csv"
    result = import_roster(path, invites=out)
    assert result.exit_code == 1, result.output
    assert bad_lines(result) == [
        "line 3: email is not a valid e-mail address",
        f"line 4: lives in 飛騨市 ({HIDA}) itself: nobody registers where they live",
        "line 5: home_municipality_code '999999' names no municipality",
        "line 6: ties: unknown tie 'bogus' (known: birthplace, family, furusato_nozei, repeat_visit, "
        "product_purchase, two_region_living, volunteer, side_job, work_or_study, other)",
        f"line 7: birth_year {this_year + 1} is not between 1900 and {this_year}",
        "line 8: birth_year '19x0' is not a year",
        "line 9: email is already on line 2",
        "line 10: display_name is empty",
        "line 11: expected 5 fields, found 4",
        "line 13: email is empty; home_municipality_code is empty; "
        f"birth_year 1800 is not between 1900 and {this_year}",
    ]
    assert "12 rows: 2 invitations (2 new accounts" in result.stdout
    assert [row["email"] for row in read_links(out)] == ["taro@example.jp", "kyu@example.jp"]
    taro, kyu = _user("taro@example.jp"), _user("kyu@example.jp")
    assert taro.password_hash is None and taro.role == "resident" and taro.display_name == "山田太郎"
    assert taro.home_municipality_code == CHIYODA and taro.birth_year == 1980
    assert kyu.home_municipality_code == SAPPORO and kyu.birth_year is None  # a ward is stored as its city
    invitations = {i.user_id: i for i in db.session.scalars(select(Invitation))}
    assert set(invitations) == {taro.id, kyu.id}
    assert invitations[taro.id].ties == ["family", "volunteer"] and invitations[kyu.id].ties == ["other"]
    assert {i.organization_code for i in invitations.values()} == {HIDA}
    assert {i.status for i in invitations.values()} == {"pending"}
    for email in ("jiro@example.jp", "saburo@example.jp", "shiro@example.jp", "goro@example.jp"):
        assert _user(email) is None  # a bad row changes nothing


def test_a_clean_file_with_a_bom_and_crlf_exits_0(roster_file, import_roster, tmp_path):
    path = roster_file("a@example.jp,エー,131016,repeat_visit,1990", "b@example.jp,ビー,11002,,1985",
                       bom=True, newline="\r\n")
    out = tmp_path / "links.csv"
    result = import_roster(path, invites=out)
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    links = read_links(out)
    assert list(links[0]) == ["email", "link"]
    assert [row["email"] for row in links] == ["a@example.jp", "b@example.jp"]
    for row in links:
        assert row["link"].startswith("http://localhost:5000/set-password?token=")
    assert _user("b@example.jp").home_municipality_code == SAPPORO  # a leading zero a spreadsheet dropped


def test_a_wrong_header_imports_nothing(roster_file, import_roster, tmp_path):
    path = roster_file("a@example.jp,エー,131016,,1990", header="mail,name,home,ties,year")
    result = import_roster(path, invites=tmp_path / "links.csv")
    assert result.exit_code == 1
    assert bad_lines(result) == ["line 1: the header must be email,display_name,home_municipality_code,ties,birth_year"]
    assert _count(Invitation) == 0 and _user("a@example.jp") is None


def test_a_line_that_is_not_utf8_is_a_bad_row(tmp_path, import_roster):
    path = tmp_path / "latin1.csv"
    path.write_bytes(b"email,display_name,home_municipality_code,ties,birth_year\n"
                     b"a@example.jp,Ren\xe9,131016,,1990\nb@example.jp,B,131016,,1990\n")
    result = import_roster(path, invites=tmp_path / "links.csv")
    assert result.exit_code == 1 and bad_lines(result) == ["line 2: not UTF-8 text"]
    assert _user("a@example.jp") is None and _user("b@example.jp") is not None


def test_a_prefecture_refuses_its_own_residents(roster_file, import_roster, tmp_path):
    path = roster_file("gifu@example.jp,岐阜の人,212032,,1990", "tokyo@example.jp,東京の人,131016,,1990")
    result = import_roster(path, code=GIFU, invites=tmp_path / "links.csv")
    assert bad_lines(result) == [
        f"line 2: lives in 岐阜県 ({GIFU}): nobody registers directly with their own prefecture"]
    assert [i.organization_code for i in db.session.scalars(select(Invitation))] == [GIFU]


def test_an_existing_account_finds_the_invitation_in_its_inbox_and_gets_no_link(
        api, signup, roster_file, import_roster, tmp_path):
    user, token = signup(email="Mixed.Case@Example.jp", display_name="本人の名前")
    path = roster_file("mixed.case@example.JP,名簿の名前,272272,family,1950",
                       "new@example.jp,新しい人,131016,,1990")
    out = tmp_path / "links.csv"
    result = import_roster(path, invites=out)
    assert result.exit_code == 0, result.output
    assert [row["email"] for row in read_links(out)] == ["new@example.jp"]
    assert "1 in existing accounts' inboxes" in result.stdout
    me = api.get("/me", token=token).get_json()
    assert me["display_name"] == "本人の名前" and me["birth_year"] == 1990  # a list never overwrites a person
    inbox = api.get("/me/invitations", token=token).get_json()
    assert [(i["organization_code"], i["ties"], i["status"]) for i in inbox] == [(HIDA, ["family"], "pending")]
    assert _count(SetPasswordToken) == 1  # the new person's link only


def test_accounts_that_cannot_register_are_bad_rows(make_account, roster_file, import_roster, tmp_path):
    make_account("staff", HIDA)
    staff = db.session.scalar(select(User).where(User.role == "staff"))
    path = roster_file(f"{staff.email.upper()},職員,131016,,1990")
    result = import_roster(path, invites=tmp_path / "links.csv")
    assert result.exit_code == 1
    assert bad_lines(result) == ["line 2: the account with this email is a staff account, which cannot register"]
    assert _count(Invitation) == 0


def test_new_people_need_a_links_file_else_nothing_changes(signup, roster_file, import_roster):
    signup(email="known@example.jp")
    mixed = roster_file("known@example.jp,既知,131016,,1990", "unknown@example.jp,未知,131016,,1990")
    result = import_roster(mixed)
    assert result.exit_code == 2 and "--invites" in result.stderr
    assert _count(Invitation) == 0 and _user("unknown@example.jp") is None
    known_only = roster_file("known@example.jp,既知,131016,,1990")
    assert import_roster(known_only).exit_code == 0  # existing accounts need no links
    assert _count(Invitation) == 1


def test_running_the_same_file_again_creates_nothing_and_writes_no_link(
        signup, roster_file, import_roster, tmp_path):
    signup(email="known@example.jp")
    path = roster_file("known@example.jp,既知,131016,,1990", "a@example.jp,エー,131016,,1990",
                       "b@example.jp,ビー,131016,other,", "bad,悪い,131016,,1990")
    out = tmp_path / "links.csv"
    first = import_roster(path, invites=out)
    assert first.exit_code == 1 and bad_lines(first) == ["line 5: email is not a valid e-mail address"]
    written = out.read_bytes()
    counts = [_count(model) for model in (User, Invitation, SetPasswordToken)]
    second = import_roster(path, invites=out)
    assert second.exit_code == 1 and bad_lines(second) == bad_lines(first)
    assert "0 invitations" in second.stdout and "3 invited before" in second.stdout
    assert [_count(model) for model in (User, Invitation, SetPasswordToken)] == counts
    assert out.read_bytes() == written  # appended to, never overwritten: still each link once
    elsewhere = tmp_path / "second.csv"
    assert import_roster(path, invites=elsewhere).exit_code == 1
    assert read_links(elsewhere) == []
    assert not list(tmp_path.glob("*.partial"))


def test_a_new_file_is_appended_to_the_links_file(roster_file, import_roster, tmp_path):
    out = tmp_path / "links.csv"
    import_roster(roster_file("a@example.jp,エー,131016,,1990"), invites=out)
    import_roster(roster_file("a@example.jp,エー,131016,,1990", "b@example.jp,ビー,131016,,1990"), invites=out)
    assert [row["email"] for row in read_links(out)] == ["a@example.jp", "b@example.jp"]


def test_invitations_count_in_no_figure_until_the_link_is_used(
        api, browser, make_account, roster_file, import_roster, tmp_path):
    national = make_account("national")
    before = _totals(api, national)
    out = tmp_path / "links.csv"
    result = import_roster(roster_file("a@example.jp,エー,131016,family;furusato_nozei,"), invites=out)
    assert result.exit_code == 0
    assert _totals(api, national) == before
    assert recount.verify() == []
    token = token_of(read_links(out)[0]["link"])

    page = browser.get(f"/set-password?token={token}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'name="birth_year"' in html and "飛騨市" in html

    missing = api.post("/auth/set-password", json={"token": token, "password": "roster-pass-1"})
    assert missing.status_code == 422 and "birth_year" in missing.get_json()["errors"]
    assert _totals(api, national) == before  # a refused attempt spends nothing
    used = api.post("/auth/set-password", json={"token": token, "password": "roster-pass-1", "birth_year": 1988})
    assert used.status_code == 200, used.get_json()
    bearer = used.get_json()["token"]
    regs = api.get("/registrations", token=bearer).get_json()
    assert [(r["organization_code"], r["ties"], r["status"]) for r in regs] == [
        (HIDA, ["family", "furusato_nozei"], "active")]
    invitation = api.get("/me/invitations", token=bearer).get_json()[0]
    assert invitation["status"] == "accepted" and invitation["registration_id"] == regs[0]["id"]
    after = _totals(api, national)
    assert after == {"actual_people": before["actual_people"] + 1,
                     "cumulative_registrations": before["cumulative_registrations"] + 1}
    assert recount.verify() == []
    again = api.post("/auth/set-password", json={"token": token, "password": "other-pass-12", "birth_year": 1988})
    assert again.status_code == 422 and again.get_json()["code"] == "invalid_token"
    assert api.post("/auth/login", json={"email": "a@example.jp", "password": "roster-pass-1"}).status_code == 200


def test_the_link_lasts_14_days(api, roster_file, import_roster, tmp_path):
    out = tmp_path / "links.csv"
    import_roster(roster_file("a@example.jp,エー,131016,,1990"), invites=out)
    token = token_of(read_links(out)[0]["link"])
    row = db.session.scalar(select(SetPasswordToken))
    invitation = db.session.scalar(select(Invitation))
    assert row.purpose == ROSTER_INVITATION and row.subject_id == invitation.id
    assert row.user_id == invitation.user_id and row.expires_at - row.created_at == timedelta(days=14)
    row.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    expired = api.post("/auth/set-password", json={"token": token, "password": "roster-pass-1"})
    assert expired.status_code == 422 and expired.get_json()["code"] == "invalid_token"
    db.session.refresh(invitation)
    assert invitation.status == "pending" and _count(Registration) == 0


def test_a_rule_that_refuses_the_registration_still_lets_the_password_be_set(
        api, roster_file, import_roster, tmp_path):
    out = tmp_path / "links.csv"
    import_roster(roster_file("a@example.jp,エー,131016,,1990"), invites=out)
    _user("a@example.jp").home_municipality_code = HIDA  # they moved there meanwhile
    db.session.commit()
    response = api.post("/auth/set-password", json={"token": token_of(read_links(out)[0]["link"]),
                                                   "password": "roster-pass-1"})
    assert response.status_code == 200
    inbox = api.get("/me/invitations", token=response.get_json()["token"]).get_json()
    assert [(i["status"], i["refusal"], i["registration_id"]) for i in inbox] == [
        ("pending", "home_municipality", None)]
    assert _count(Registration) == 0 and recount.verify() == []


def test_a_minor_on_the_list_needs_a_guardians_consent_when_setting_the_password(
        api, browser, roster_file, import_roster, tmp_path):
    out = tmp_path / "links.csv"
    year = today_tokyo().year - 12
    import_roster(roster_file(f"kid@example.jp,子ども,131016,family,{year}"), invites=out)
    token = token_of(read_links(out)[0]["link"])
    html = browser.get(f"/set-password?token={token}").get_data(as_text=True)
    assert 'name="guardian_consent"' in html and 'name="birth_year"' not in html
    refused = api.post("/auth/set-password", json={"token": token, "password": "roster-pass-1"})
    assert refused.status_code == 422 and refused.get_json()["code"] == "guardian_consent_required"
    ok = api.post("/auth/set-password", json={"token": token, "password": "roster-pass-1", "guardian_consent": True})
    assert ok.status_code == 200 and ok.get_json()["user"]["guardian_consent"] is True
    assert _count(Registration) == 1


def test_an_adult_on_the_list_is_asked_for_nothing_more(browser, roster_file, import_roster, tmp_path):
    out = tmp_path / "links.csv"
    import_roster(roster_file("adult@example.jp,大人,131016,,1980"), invites=out)
    html = browser.get(f"/set-password?token={token_of(read_links(out)[0]['link'])}").get_data(as_text=True)
    assert 'name="birth_year"' not in html and 'name="guardian_consent"' not in html


def test_the_set_password_page_registers_through_the_link(browser, roster_file, import_roster, tmp_path):
    out = tmp_path / "links.csv"
    import_roster(roster_file("page@example.jp,ページ,131016,volunteer,"), invites=out)
    token = token_of(read_links(out)[0]["link"])
    browser.get(f"/set-password?token={token}")
    response = browser.post("/set-password", {"token": token, "password": "roster-pass-1",
                                              "password_again": "roster-pass-1", "birth_year": "1975"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/my")
    html = browser.get("/my").get_data(as_text=True)
    assert "飛騨市" in html
    reg = db.session.scalar(select(Registration))
    assert reg.organization_code == HIDA and reg.ties == ["volunteer"] and reg.user_id == _user("page@example.jp").id


def test_unknown_organization_is_a_usage_error(roster_file, import_roster):
    result = import_roster(roster_file("a@example.jp,エー,131016,,1990"), code="999999")
    assert result.exit_code == 2 and "names no 団体" in result.stderr


@pytest.mark.postgres_only
def test_the_foreign_key_triggers_are_back_on_after_an_import(roster_file, import_roster, tmp_path):
    import_roster(roster_file("a@example.jp,エー,131016,,1990"), invites=tmp_path / "links.csv")
    assert db.session.scalar(text("SHOW session_replication_role")) == "origin"


@pytest.mark.postgres_only
def test_the_import_ends_by_analysing_the_tables_it_filled(roster_file, import_roster, tmp_path, signup):
    """Fresh planner statistics for the first requests after an import: the command ANALYZEs every
    table it filled once it has committed."""
    signup(email="known@example.jp")
    started = db.session.scalar(text("SELECT clock_timestamp()"))
    result = import_roster(roster_file("new@example.jp,新人,131016,,1990", "known@example.jp,既知,131016,,1990"),
                           invites=tmp_path / "links.csv")
    assert result.exit_code == 0, result.output
    db.session.execute(text("SELECT pg_stat_clear_snapshot()"))  # this transaction's cached statistics
    analysed = dict(db.session.execute(text(
        "SELECT relname, last_analyze >= :started FROM pg_stat_user_tables "
        "WHERE relname IN ('users', 'invitations', 'set_password_tokens')"), {"started": started}).all())
    assert analysed == {"users": True, "invitations": True, "set_password_tokens": True}


def test_codes_as_spreadsheets_write_them(roster_file, import_roster, tmp_path):
    """Full-width digits and a dropped leading zero are read as the code; anything else is not."""
    path = roster_file("wide@example.jp,全角,１３１０１６,,1990", f"ward@example.jp,区,{SAPPORO_CHUO},,1990",
                       "jis5@example.jp,五桁,21217,,1990", "four@example.jp,四桁,1310,,1990")
    result = import_roster(path, code=GIFU, invites=tmp_path / "links.csv")
    assert bad_lines(result) == ["line 4: home_municipality_code '21217' names no municipality",
                                 "line 5: home_municipality_code '1310' names no municipality"]
    assert _user("wide@example.jp").home_municipality_code == CHIYODA
    assert _user("ward@example.jp").home_municipality_code == SAPPORO


def test_free_text_meets_the_same_rule_at_every_door(api, roster_file, import_roster, tmp_path):
    """A display name holding an Individual Number (or control characters, or too long) is refused by
    the roster exactly as by sign-up: one validator (registry.common.schemas.text_validators)."""
    number = "1234 5678 9018"  # a valid Individual Number, as the card prints it
    path = roster_file(
        f"ok@example.jp,番号なし,{CHIYODA},,1980",
        f"num@example.jp,山田 {number},{CHIYODA},,1980",
        f"bell@example.jp,鈴\x07木,{CHIYODA},,1980",
        f"long@example.jp,{'長' * 101},{CHIYODA},,1980",
    )
    result = import_roster(path, invites=tmp_path / "links.csv")
    assert result.exit_code == 1, result.output
    assert bad_lines(result) == [
        "line 3: display_name: Do not enter an Individual Number (マイナンバー).",
        "line 4: display_name: Control characters are not allowed.",
        "line 5: display_name: Longer than maximum length 100.",
    ]
    assert _user("num@example.jp") is None and _user("ok@example.jp") is not None
    signed_up = api.post("/auth/signup", json={
        "email": "num@example.jp", "password": "correct-horse-9", "display_name": f"山田 {number}",
        "home_municipality_code": CHIYODA, "birth_year": 1980}, headers={"Accept-Language": "en"})
    assert signed_up.status_code == 422
    assert signed_up.get_json()["errors"]["display_name"] == ["Do not enter an Individual Number (マイナンバー)."]
