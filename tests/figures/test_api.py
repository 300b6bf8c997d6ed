import csv
import io

import pytest

from registry.figures.recount import verify
from tests.factories import GIFU, GIFU_CITY, HIDA, register


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
    assert prefectures[GIFU]["actual_people"] is None and prefectures["010006"]["actual_people"] == 0
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
