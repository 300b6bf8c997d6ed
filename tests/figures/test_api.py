import codecs
import csv
import io
import uuid

import pytest

from registry.extensions import db
from registry.figures.recount import verify
from tests.factories import GIFU, GIFU_CITY, HIDA, TAKAYAMA, register


@pytest.fixture
def national(make_account):
    return make_account("national")


@pytest.fixture
def everyone(app):
    app.config["MIN_CELL"] = 1
    yield
    app.config["MIN_CELL"] = 10


def test_definitions_actual_vs_cumulative(api, signup, national, everyone):
    _, tokyo_person = signup(home="131016")
    _, gifu_person = signup(home=GIFU_CITY)  # lives in 岐阜市, 岐阜県
    register(api, tokyo_person, HIDA)
    register(api, tokyo_person, GIFU)        # direct prefecture registration beside the derived link
    register(api, tokyo_person, "011002")    # 札幌市
    register(api, gifu_person, HIDA)          # within-prefecture tie
    totals = api.get("/stats/totals", token=national).get_json()
    assert (totals["actual_people"], totals["cumulative_registrations"]) == (2, 4)
    assert totals["goal"] == {"actual_people": 10_000_000, "cumulative_registrations": 100_000_000, "target_year": 2035}
    assert totals["progress"]["actual_people"] == pytest.approx(2 / 10_000_000)
    assert totals["required_monthly_growth"]["actual_people"] > 0 and totals["as_of"].endswith("+09:00")
    prefectures = {r["prefecture_code"]: r for r in api.get("/stats/by-prefecture", token=national).get_json()}
    assert len(prefectures) == 47
    # 岐阜県: the Tokyo person once (two ties), the Gifu resident left out of 実人数; 延べ counts all three.
    assert (prefectures[GIFU]["actual_people"], prefectures[GIFU]["cumulative_registrations"]) == (1, 3)
    assert prefectures["010006"]["actual_people"] == 1 and prefectures["130001"]["actual_people"] == 0
    flows = {(f["home_prefecture_code"], f["prefecture_code"]): f["people"]
             for f in api.get("/stats/flows", token=national).get_json()}
    assert flows == {("130001", GIFU): 1, ("130001", "010006"): 1, (GIFU, GIFU): 1}
    orgs = {r["organization_code"]: r for r in api.get("/stats/by-organization?prefecture=21", token=national).get_json()}
    assert orgs[HIDA]["cumulative_registrations"] == 2 and orgs[GIFU]["cumulative_registrations"] == 1
    assert len(orgs) == 43
    assert verify() == []


def test_breakdowns_by_tier_tie_age(api, signup, national, everyone):
    _, a = signup(birth_year=1990)
    _, b = signup(birth_year=2000)
    register(api, a, HIDA, ["birthplace", "furusato_nozei"])
    register(api, a, GIFU_CITY, ["furusato_nozei"])
    register(api, b, HIDA, ["volunteer"])
    ties = {r["tie"]: r for r in api.get("/stats/by-tie", token=national).get_json()}
    assert (ties["furusato_nozei"]["actual_people"], ties["furusato_nozei"]["cumulative_registrations"]) == (1, 2)
    assert ties["side_job"]["actual_people"] == 0 and len(ties) == 10
    tiers = {r["tier"]: r for r in api.get("/stats/by-tier", token=national).get_json()}
    assert (tiers["basic"]["actual_people"], tiers["basic"]["cumulative_registrations"]) == (2, 3)
    ages = {r["age_band"]: r for r in api.get("/stats/by-age-band", token=national).get_json()}
    assert ages["30_39"]["cumulative_registrations"] == 2 and ages["18_29"]["actual_people"] == 1
    assert list(ages) == ["under_18", "18_29", "30_39", "40_49", "50_59", "60_69", "70_plus"]


def test_timeseries(api, signup, national, everyone):
    _, token = signup()
    first = register(api, token, HIDA)
    register(api, token, GIFU_CITY)
    api.delete(f"/registrations/{first['id']}", token=token)
    days = api.get("/stats/timeseries?interval=day", token=national).get_json()
    assert len(days) == 1
    assert {k: days[0][k] for k in ("registered", "withdrawn", "actual_people", "cumulative_registrations")} == \
        {"registered": 2, "withdrawn": 1, "actual_people": 1, "cumulative_registrations": 1}
    months = api.get("/stats/timeseries?interval=month", token=national).get_json()
    assert months[0]["period"] == days[0]["period"][:7]
    assert api.get("/stats/timeseries?interval=year", token=national).status_code == 422


def test_small_cells_suppressed_but_zero_and_totals_shown(api, signup, national):
    _, token = signup()
    register(api, token, HIDA)
    prefectures = {r["prefecture_code"]: r for r in api.get("/stats/by-prefecture", token=national).get_json()}
    assert prefectures[GIFU]["actual_people"] is None
    # The national totals (1) give it away to anyone who trusts the zeros; one 0 is suppressed with it
    # (API.md), the other 45 are published as 0.
    zeros = [r["actual_people"] for code, r in prefectures.items() if code != GIFU]
    assert zeros.count(0) == 45 and zeros.count(None) == 1
    assert api.get("/stats/totals", token=national).get_json()["actual_people"] == 1  # totals are not suppressed
    one = api.get(f"/stats/totals?organization={HIDA}", token=national).get_json()
    assert one["cumulative_registrations"] is None  # a single 団体's figure, for someone else


def test_csv_by_accept(api, signup, national):
    _, token = signup()
    register(api, token, HIDA)
    response = api.get("/stats/by-prefecture", token=national, headers={"Accept": "text/csv"})
    assert response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert len(rows) == 47 and rows[0]["prefecture_code"] == "010006"
    gifu = next(r for r in rows if r["prefecture_code"] == GIFU)
    assert gifu["actual_people"] == ""  # suppressed → empty cell
    totals = api.get("/stats/totals", token=national, headers={"Accept": "text/csv"}).get_data(as_text=True)
    assert totals.splitlines()[0].startswith("actual_people,") and "goal.actual_people" in totals
    assert "email" not in totals and "display_name" not in totals


def test_who_may_read_figures(api, signup, make_account):
    _, resident = signup()
    staff = make_account("staff", HIDA)
    admin = make_account("admin")
    assert api.get("/stats/totals").status_code == 401
    assert api.get("/stats/totals", token=resident).status_code == 403
    assert api.get("/stats/totals", token=staff).status_code == 403
    assert api.get(f"/stats/totals?organization={GIFU_CITY}", token=staff).status_code == 403
    own = api.get(f"/stats/totals?organization={HIDA}", token=staff)
    assert own.status_code == 200 and own.get_json()["actual_people"] == 0
    for path in ("/stats/by-prefecture", "/stats/by-organization", "/stats/timeseries", "/stats/flows",
                 "/stats/by-tier", "/stats/by-tie", "/stats/by-age-band"):
        assert api.get(path, token=staff).status_code == 403, path
        assert api.get(path, token=resident).status_code == 403, path
        assert api.get(path, token=admin).status_code == 200, path
    assert api.get("/stats/totals?organization=999999", token=admin).get_json()["code"] == "unknown_organization"


def test_staff_sees_own_small_figures_unsuppressed(api, signup, make_account):
    _, token = signup()
    register(api, token, HIDA)
    own = api.get(f"/stats/totals?organization={HIDA}", token=make_account("staff", HIDA)).get_json()
    assert own["actual_people"] == 1 and own["cumulative_registrations"] == 1
    pref = api.get(f"/stats/totals?organization={GIFU}", token=make_account("staff", GIFU)).get_json()
    assert pref["actual_people"] == 1  # a prefecture's figures include its municipalities


# --- complementary suppression through every door ----------------------------------------------------

@pytest.fixture
def min_cell_3(app):
    app.config["MIN_CELL"] = 3
    yield
    app.config["MIN_CELL"] = 10


def _rows(api, path, token, key):
    return {r[key]: r for r in api.get(path, token=token).get_json()}


def test_a_prefecture_minus_its_organizations_gives_nothing_away(api, signup, national, min_cell_3):
    """岐阜県 4 = 飛騨市 3 + 高山市 1: 高山市's 1 is suppressed, and so is 飛騨市 with it (4 − 3 would
    give it away); every door publishes the same."""
    for code in (HIDA, HIDA, HIDA, TAKAYAMA):
        register(api, signup()[1], code)
    prefectures = _rows(api, "/stats/by-prefecture", national, "prefecture_code")
    assert prefectures[GIFU]["cumulative_registrations"] == 4 and prefectures[GIFU]["actual_people"] == 4
    orgs = _rows(api, "/stats/by-organization?prefecture=21", national, "organization_code")
    assert orgs[TAKAYAMA]["cumulative_registrations"] is None and orgs[HIDA]["cumulative_registrations"] is None
    assert orgs[HIDA]["actual_people"] is None  # the same count as its 延べ
    assert orgs[GIFU]["cumulative_registrations"] == 0  # the other 団体 are published as 0
    everywhere = _rows(api, "/stats/by-organization", national, "organization_code")
    assert everywhere[HIDA] == orgs[HIDA] and everywhere[TAKAYAMA] == orgs[TAKAYAMA]
    one = api.get(f"/stats/totals?organization={HIDA}", token=national).get_json()
    assert one["cumulative_registrations"] is None and one["actual_people"] is None
    assert api.get(f"/stats/totals?organization={GIFU}", token=national).get_json()["cumulative_registrations"] == 4
    as_csv = api.get("/stats/by-organization", token=national, headers={"Accept": "text/csv"}).get_data(as_text=True)
    hida = next(r for r in csv.DictReader(io.StringIO(as_csv)) if r["organization_code"] == HIDA)
    assert hida["cumulative_registrations"] == "" and hida["actual_people"] == ""


def test_dashboard_publishes_what_the_api_does(app, api, signup, national, min_cell_3):
    from registry.accounts import service as accounts
    from tests.conftest import Browser

    for code in (HIDA, HIDA, HIDA, TAKAYAMA):
        register(api, signup()[1], code)
    accounts.create_user(email="nat-dash@example.jp", password="national-pass-1", role="national")
    db.session.commit()
    browser = Browser(app.test_client())
    browser.login("nat-dash@example.jp", "national-pass-1")
    identifiers = {"by-prefecture": ["prefecture_code", "name"], "by-organization": ["organization_code", "prefecture_code", "name", "kind"],
                   "timeseries-day": ["period"], "timeseries-month": ["period"], "by-type": ["type"],
                   "flows": ["home_prefecture_code", "prefecture_code"], "funnel": ["cohort"]}
    for name, path in (("by-prefecture", "/stats/by-prefecture"), ("by-organization", "/stats/by-organization"),
                       ("timeseries-day", "/stats/timeseries?interval=day"),
                       ("timeseries-month", "/stats/timeseries?interval=month"), ("flows", "/stats/flows"),
                       ("by-type", "/stats/by-type"), ("funnel", "/stats/funnel")):
        # The download is for spreadsheets (a BOM, CRLF, identifiers first); the API's text/csv for programs
        # (plain UTF-8, the schema's order): the same rows and values.
        page = browser.get(f"/dashboard/{name}.csv").get_data()
        assert page.startswith(codecs.BOM_UTF8) and page.endswith(b"\r\n"), name
        plain = api.get(path, token=national, headers={"Accept": "text/csv"}).get_data()
        assert not plain.startswith(codecs.BOM_UTF8), name
        spreadsheet = list(csv.DictReader(io.StringIO(page.decode("utf-8-sig"), newline="")))
        program = list(csv.DictReader(io.StringIO(plain.decode("utf-8"), newline="")))
        assert spreadsheet == program and spreadsheet, name
        header = page.decode("utf-8-sig").split("\r\n", 1)[0].split(",")
        assert header[:len(identifiers[name])] == identifiers[name], name
    assert "—" in browser.get("/dashboard").get_data(as_text=True)


def test_small_totals_of_a_series_follow_from_the_totals(api, signup, national, min_cell_3):
    """The last running totals are the national totals (never suppressed), so they are published;
    the day's registered count of 2 is not (the running totals would give it)."""
    for code in (HIDA, TAKAYAMA):
        register(api, signup()[1], code)
    (day,) = api.get("/stats/timeseries?interval=day", token=national).get_json()
    assert (day["actual_people"], day["cumulative_registrations"]) == (2, 2)
    assert day["registered"] is None and day["withdrawn"] is None  # the 0 hides it: 2 − 0 = 2 otherwise
    (tier_basic, tier_premium) = api.get("/stats/by-tier", token=national).get_json()
    assert tier_basic["cumulative_registrations"] == 2 and tier_premium["cumulative_registrations"] == 0


# --- an expired premium is basic in every figure --------------------------------------------------------

def _grant_premium(user_json, code):
    from registry.accounts import service as accounts
    from registry.registrations import service as registrations
    from tests.factories import add_activities, user_of, verify_identity

    person = user_of(user_json)
    if not registrations.identity_verified(person.id):
        verify_identity(person)
    add_activities(person, code)
    reg = next(r for r in registrations.active_registrations(person) if r.organization_code == code)
    settings = {"PREMIUM_LIMIT": 3, "PREMIUM_ACTIVITIES_REQUIRED": 3}
    request = registrations.request_premium(person, reg.id, settings=settings)
    staff = accounts.create_user(email=f"staff-{uuid.uuid4().hex[:10]}@example.jp", password="staff-password-1",
                                 role="staff", organization_code=code)
    registrations.approve_premium(staff, request.id, settings=settings)
    db.session.commit()
    return reg


def _everything(api, token):
    tiers = _rows(api, "/stats/by-tier", token, "tier")
    return {
        "totals": api.get("/stats/totals", token=token).get_json()["premium_registrations"],
        "tiers": {t: (r["actual_people"], r["cumulative_registrations"]) for t, r in tiers.items()},
        "prefecture": _rows(api, "/stats/by-prefecture", token, "prefecture_code")[GIFU]["premium_registrations"],
        "organizations": {c: r["premium_registrations"] for c, r in
                          _rows(api, "/stats/by-organization?prefecture=21", token, "organization_code").items()
                          if c in (HIDA, TAKAYAMA)},
        "one": [api.get(f"/stats/totals?organization={c}", token=token).get_json()["premium_registrations"]
                for c in (GIFU, HIDA, TAKAYAMA)],
    }


def test_an_expired_premium_is_basic_in_every_figure(app, api, signup, national, everyone):
    """A: 飛騨市 premium (expires) + 高山市 basic; B: 飛騨市 premium only (expires); C: 飛騨市 premium
    (valid) + 高山市 premium (expires). Before and after `lapse-premiums` alike: premium is C's 飛騨市
    alone, basic everyone else's; the tiers' 実人数 follow the people (B becomes basic, A and B leave
    premium, C stays in both)."""
    from datetime import timedelta

    from registry.common.time import today_tokyo
    from registry.registrations.models import Registration

    people = {name: signup() for name in "ABC"}
    for name, codes in (("A", (HIDA, TAKAYAMA)), ("B", (HIDA,)), ("C", (HIDA, TAKAYAMA))):
        for code in codes:
            register(api, people[name][1], code)
    expiring = [_grant_premium(people["A"][0], HIDA), _grant_premium(people["B"][0], HIDA),
                _grant_premium(people["C"][0], TAKAYAMA)]
    _grant_premium(people["C"][0], HIDA)
    before_expiry = _everything(api, national)
    assert before_expiry["totals"] == 4 and before_expiry["tiers"]["premium"] == (3, 4)
    for reg in expiring:
        db.session.get(Registration, reg.id).premium_valid_until = today_tokyo() - timedelta(days=1)
    db.session.commit()
    expected = {"totals": 1, "tiers": {"basic": (3, 4), "premium": (1, 1)}, "prefecture": 1,
                "organizations": {HIDA: 1, TAKAYAMA: 0}, "one": [1, 1, 0]}
    assert _everything(api, national) == expected
    result = app.test_cli_runner().invoke(args=["lapse-premiums"])
    assert result.exit_code == 0 and "lapsed 3" in result.output
    assert _everything(api, national) == expected
    assert verify() == []


# --- the typology (GET /stats/by-type) --------------------------------------------------------------------

TYPES = ["kinship", "leisure", "participation", "work", "two_region", "contribution", "other"]


def test_by_type_counts_a_person_once_per_type_and_a_registration_once_per_type(api, signup, national, everyone):
    _, a = signup()
    _, b = signup()
    register(api, a, HIDA, ("birthplace", "family"))        # two ties of one type: once
    register(api, a, TAKAYAMA, ("volunteer", "side_job"))  # participation and work
    register(api, b, HIDA, ("family", "furusato_nozei"))
    rows = api.get("/stats/by-type", token=national).get_json()
    assert [r["type"] for r in rows] == TYPES
    got = {r["type"]: (r["actual_people"], r["cumulative_registrations"]) for r in rows}
    assert got == {"kinship": (2, 2), "leisure": (0, 0), "participation": (1, 1), "work": (1, 1),
                   "two_region": (0, 0), "contribution": (1, 1), "other": (0, 0)}
    table = api.get("/stats/by-type", token=national, headers={"Accept": "text/csv"})
    assert table.mimetype == "text/csv" and not table.get_data().startswith(codecs.BOM_UTF8)
    assert [r["type"] for r in csv.DictReader(io.StringIO(table.get_data(as_text=True)))] == TYPES
    assert verify() == []


def test_by_type_is_for_the_national_office_only(api, signup, make_account):
    _, resident = signup()
    assert api.get("/stats/by-type", token=resident).status_code == 403
    assert api.get("/stats/by-type", token=make_account("staff", HIDA)).status_code == 403
    assert api.get("/stats/by-type", token=make_account("host", HIDA)).status_code == 403
    assert api.get("/stats/by-type").status_code == 401
    assert api.get("/stats/by-type", token=make_account("admin")).status_code == 200


def test_by_type_suppresses_small_counts_and_what_would_give_them_away(api, signup, national, min_cell_3):
    """Five people with kinship ties, one of them also volunteering: participation (1) is suppressed, and
    so is the same count published with it in /stats/by-tie (volunteer): one release, suppressed alike;
    0 stays 0. tests/figures/test_suppression.py's attacker covers the typology's relations."""
    for ties in [("family",)] * 4 + [("family", "volunteer")]:
        register(api, signup()[1], HIDA, ties)
    types = {r["type"]: r for r in api.get("/stats/by-type", token=national).get_json()}
    ties = {r["tie"]: r for r in api.get("/stats/by-tie", token=national).get_json()}
    assert types["participation"]["actual_people"] is None and ties["volunteer"]["actual_people"] is None
    assert types["kinship"]["actual_people"] == 5 and types["leisure"]["actual_people"] == 0
