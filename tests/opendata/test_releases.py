"""Open-data releases (API.md "Open data"): `publish-open-data --month` through the CLI, the files
(CSV for spreadsheets, JSON, metadata.json), the list and the files over HTTP, and the figures as
they stood at the month's end whatever happened since."""
import codecs
import csv
import hashlib
import io
import json
from collections import Counter
from datetime import datetime, time, timedelta

import pytest
from sqlalchemy import func, select

from registry.common.time import TOKYO, today_tokyo, utcnow
from registry.errors import Problem
from registry.extensions import db
from registry.figures import recount
from registry.figures.month_end import METRICS, counters_at_month_end, month_span
from registry.figures.recount import FIELDS
from registry.opendata import service
from registry.opendata.models import OpenDataFile, OpenDataRelease
from registry.organizations import service as organizations
from registry.registrations import service as registrations
from registry.registrations.models import Registration
from tests.factories import (
    GIFU, HACHIOJI, HIDA, PREMIUM_SETTINGS, TAKAYAMA, TOKYO as TOKYO_PREF, account, add_activities, person, verify_identity,
)

TABLES = ("by-organization", "by-prefecture", "flows", "by-type")
IDENTIFIERS = {"by-organization": ["organization_code", "prefecture_code", "name"],
               "by-prefecture": ["prefecture_code", "name"], "flows": ["home_prefecture_code", "prefecture_code"],
               "by-type": ["type", "name"]}


def month_back(n: int) -> str:
    day = today_tokyo().replace(day=1)
    for _ in range(n):
        day = (day - timedelta(days=1)).replace(day=1)
    return f"{day.year:04d}-{day.month:02d}"


def moment(month: str, day: int = 10) -> datetime:
    """A moment in `month` (noon, Japan time)."""
    first, _, _ = month_span(month)
    return datetime.combine(first.replace(day=day), time(12), TOKYO)


def after(month: str, days: int = 1) -> datetime:
    return month_span(month)[2] + timedelta(days=days, hours=1)


@pytest.fixture
def cli(app):
    runner = app.test_cli_runner()
    return lambda *args: runner.invoke(args=list(args))


@pytest.fixture
def last_month():
    """Twelve people registered two months ago and last month with 飛騨市 and 高山市."""
    month, earlier = month_back(1), month_back(2)
    people = [person() for _ in range(12)]
    for i, user in enumerate(people):
        registrations.register(user, HIDA, ["family", "volunteer"] if i % 2 else ["furusato_nozei"],
                               now=moment(earlier if i < 6 else month))
        if i % 3 == 0:
            registrations.register(user, TAKAYAMA, ["repeat_visit"], now=moment(month, 20))
    db.session.commit()
    return month, people


def files_of(release: str) -> dict:
    return {f.name: f.content for f in db.session.scalars(select(OpenDataFile).where(OpenDataFile.release == release))}


def rows_of(content: bytes) -> list[dict]:
    return list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"), newline="")))


# --- the CLI -------------------------------------------------------------------------------------------

def test_publish_stores_every_file_once_and_a_second_run_changes_nothing(cli, last_month):
    month, _ = last_month
    result = cli("publish-open-data", "--month", month)
    assert result.exit_code == 0, result.output
    assert f"published {month} as of {month_span(month)[1].isoformat()}" in result.output
    stored = files_of(month)
    assert set(stored) == {f"{t}.{ext}" for t in TABLES for ext in ("csv", "json")} | {"metadata.json"}
    published_at = db.session.get(OpenDataRelease, month).published_at

    again = cli("publish-open-data", "--month", month)
    assert again.exit_code == 1 and "already published" in again.output
    db.session.expire_all()
    assert files_of(month) == stored and db.session.get(OpenDataRelease, month).published_at == published_at
    assert db.session.scalar(select(func.count()).select_from(OpenDataRelease)) == 1


def test_last_month_publishes_the_month_that_has_just_ended(cli, last_month):
    """What cron runs on the 1st (deploy/cron/registry); one of --month and --last-month, never both."""
    month, _ = last_month
    result = cli("publish-open-data", "--last-month")
    assert result.exit_code == 0, result.output
    assert f"published {month} as of" in result.output and len(files_of(month)) == 9
    assert cli("publish-open-data", "--last-month").exit_code == 1  # published already: nothing changes
    for args in ((), ("--month", month, "--last-month")):
        refused = cli("publish-open-data", *args)
        assert refused.exit_code == 2 and "either --month YYYY-MM or --last-month" in refused.output
    assert db.session.scalar(select(func.count()).select_from(OpenDataRelease)) == 1


def test_the_month_ended_last_turns_at_midnight_japan_time():
    end = month_span("2027-01")[2]  # 2027-02-01 00:00 JST
    assert service.month_ended_last(end - timedelta(seconds=1)) == "2026-12"
    assert service.month_ended_last(end) == "2027-01"
    assert service.month_ended_last(month_span("2026-12")[2]) == "2026-12"  # over the new year


@pytest.mark.parametrize("month", ["this", "next", "2026-13", "26-01", ""])
def test_a_month_not_over_or_not_a_month_exits_1_and_stores_nothing(cli, month):
    today = today_tokyo()
    following = (today.replace(day=28) + timedelta(days=4)).replace(day=1)
    month = {"this": f"{today.year:04d}-{today.month:02d}", "next": f"{following.year:04d}-{following.month:02d}"} \
        .get(month, month)
    result = cli("publish-open-data", "--month", month)
    assert result.exit_code == 1, result.output
    assert db.session.scalar(select(func.count()).select_from(OpenDataRelease)) == 0
    assert db.session.scalar(select(func.count()).select_from(OpenDataFile)) == 0


def test_a_month_is_over_five_minutes_after_midnight_japan_time():
    month = month_back(1)
    end = month_span(month)[2]
    with pytest.raises(Problem) as refused:
        service.check_month(month, end + timedelta(minutes=4))
    assert refused.value.code == "invalid_state"
    assert service.check_month(month, end + timedelta(minutes=5)) == (month_span(month)[1], end)


def test_csv_files_open_in_spreadsheets_and_hold_the_json_rows(cli, last_month):
    month, _ = last_month
    assert cli("publish-open-data", "--month", month).exit_code == 0
    stored = files_of(month)
    for table in TABLES:
        content = stored[f"{table}.csv"]
        assert content.startswith(codecs.BOM_UTF8), table
        assert content.endswith(b"\r\n") and b"\n" not in content.replace(b"\r\n", b""), table
        header = content.decode("utf-8-sig").split("\r\n", 1)[0].split(",")
        assert header[:len(IDENTIFIERS[table])] == IDENTIFIERS[table], table
        as_json = json.loads(stored[f"{table}.json"])
        as_csv = rows_of(content)
        assert len(as_csv) == len(as_json) and as_csv, table
        for from_csv, from_json in zip(as_csv, as_json):
            assert from_csv == {k: "" if from_json[k] is None else str(from_json[k]) for k in header}, table
    by_type = {row["type"]: row for row in json.loads(stored["by-type.json"])}
    assert by_type["kinship"]["name"] == "地縁・血縁型" and set(by_type) == {
        "kinship", "leisure", "participation", "work", "two_region", "contribution", "other"}


def test_metadata_names_the_licence_the_month_the_columns_and_each_files_sha256(cli, last_month):
    month, _ = last_month
    assert cli("publish-open-data", "--month", month).exit_code == 0
    stored = files_of(month)
    metadata = json.loads(stored["metadata.json"])
    assert metadata["license"] == "CC-BY-4.0" and "creativecommons.org/licenses/by/4.0" in metadata["license_url"]
    assert metadata["month"] == month and metadata["as_of"] == month_span(month)[1].isoformat()
    assert metadata["title"] and metadata["publisher"] and datetime.fromisoformat(metadata["issued"])
    described = {f["name"]: f for f in metadata["files"]}
    assert set(described) == set(stored) - {"metadata.json"}
    for name, entry in described.items():
        assert entry["sha256"] == hashlib.sha256(stored[name]).hexdigest() and entry["bytes"] == len(stored[name])
        assert entry["sha256"] == entry["sha256"].lower() and len(entry["sha256"]) == 64
        for column in entry["columns"]:
            assert column["ja"] and column["en"] and column["name"]
        if name.endswith(".csv"):
            header = stored[name].decode("utf-8-sig").split("\r\n", 1)[0].split(",")
            assert [c["name"] for c in entry["columns"]] == header
        assert entry["description"]["ja"] and entry["description"]["en"]


# --- over HTTP ------------------------------------------------------------------------------------------

def test_releases_are_listed_newest_first_and_files_served_with_immutable_caching(cli, api, client, last_month):
    month = last_month[0]
    earlier = month_back(2)
    assert cli("publish-open-data", "--month", earlier).exit_code == 0
    assert cli("publish-open-data", "--month", month).exit_code == 0
    listed = api.get("/open-data/releases")
    assert listed.status_code == 200
    body = listed.get_json()
    assert [r["release"] for r in body] == [month, earlier]
    assert body[0]["as_of"] == month_span(month)[1].isoformat()
    stored = files_of(month)
    for entry in body[0]["files"]:
        assert entry["url"].endswith(f"/open-data/{month}/{entry['name']}")
        served = client.get(f"/open-data/{month}/{entry['name']}")
        assert served.status_code == 200
        assert served.get_data() == stored[entry["name"]]
        assert served.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert hashlib.sha256(served.get_data()).hexdigest() == entry["sha256"]
    assert client.get(f"/open-data/{month}/by-type.csv").mimetype == "text/csv"
    assert client.get(f"/open-data/{month}/metadata.json").mimetype == "application/json"
    for path in (f"/open-data/{month}/nothing.csv", "/open-data/1999-01/by-type.csv", "/open-data/x/y"):
        missing = client.get(path)
        assert missing.status_code == 404 and missing.mimetype == "application/problem+json", path
        assert missing.get_json()["code"] == "not_found"
    page = client.get("/open-data")
    assert page.status_code == 200 and f"/open-data/{month}/metadata.json" in page.get_data(as_text=True)


# --- the month's end -------------------------------------------------------------------------------------

def mine(user, code):
    return db.session.scalar(select(Registration).where(Registration.user_id == user.id,
                                                        Registration.organization_code == code))


def nonzero(sums) -> dict:
    """{(metric, key): Counter} of CounterSums, zeros left out."""
    return {(metric, key): Counter({f: n for f in FIELDS if (n := sums.get(metric, key, f))})
            for metric, keys in sums.at.items() for key in keys if any(sums.get(metric, key, f) for f in FIELDS)}


def test_what_happens_after_the_months_end_changes_nothing_in_its_figures(last_month):
    """The counters at the month's end, worked out later, equal a recount taken at that moment."""
    month, people = last_month
    at_end = {key: Counter({f: n for f, n in c.items() if n}) for key, c in recount.expected_counters().items()
              if key[0] in METRICS and any(c.values())}
    built, _ = service.build(month, min_cell=1, now=after(month))
    staff = account("staff", HIDA)
    later = after(month, 2)
    # After the end: new people, a withdrawal, a premium granted, a move in, a new home elsewhere.
    for _ in range(3):
        registrations.register(person(), TAKAYAMA, ["side_job"], now=later)
    registrations.withdraw(people[0], mine(people[0], HIDA).id, now=later)
    user = people[7]
    verify_identity(user, now=later)
    add_activities(user, HIDA, today=today_tokyo(later))
    request = registrations.request_premium(user, mine(user, HIDA).id, settings=PREMIUM_SETTINGS, now=later)
    registrations.approve_premium(staff, request.id, settings=PREMIUM_SETTINGS, now=later)
    registrations.move_home(people[3], organizations.get(TAKAYAMA), now=later + timedelta(hours=2))
    registrations.move_home(people[5], organizations.get(HACHIOJI), now=later + timedelta(hours=3))
    db.session.commit()
    assert recount.verify() == []
    now_counts = {key: c for key, c in recount.expected_counters().items() if key[0] in METRICS and any(c.values())}
    assert now_counts != at_end  # the changes did change today's figures
    worked_back, changed = counters_at_month_end(month)
    assert changed == 3 + 4
    assert nonzero(worked_back) == at_end
    assert service.build(month, min_cell=1, now=after(month, 3))[0][:-1] == built[:-1]  # metadata: issued differs


def test_a_release_publishes_the_figures_the_api_did_at_the_months_end(app, cli, api, make_account, last_month):
    """The same suppression as the national figures: the release's by-organization and by-prefecture
    rows are /stats/by-organization's and /stats/by-prefecture's as they stood (nothing changed since)."""
    month, _ = last_month
    national = make_account("national")
    live_org = {r["organization_code"]: r for r in api.get("/stats/by-organization", token=national).get_json()}
    live_pref = {r["prefecture_code"]: r for r in api.get("/stats/by-prefecture", token=national).get_json()}
    live_types = api.get("/stats/by-type", token=national).get_json()
    assert cli("publish-open-data", "--month", month).exit_code == 0
    stored = files_of(month)
    for row in json.loads(stored["by-organization.json"]):
        live = live_org[row["organization_code"]]
        assert {k: row[k] for k in ("actual_people", "cumulative_registrations", "moved_in")} == \
            {k: live[k] for k in ("actual_people", "cumulative_registrations", "moved_in")}
    takayama = next(r for r in json.loads(stored["by-organization.json"]) if r["organization_code"] == TAKAYAMA)
    assert takayama["actual_people"] is None  # 4 people, under MIN_CELL (10)
    for row in json.loads(stored["by-prefecture.json"]):
        assert row["actual_people"] == live_pref[row["prefecture_code"]]["actual_people"]
    assert GIFU in {r["prefecture_code"] for r in json.loads(stored["by-prefecture.json"])}
    assert [{k: r[k] for k in ("type", "actual_people", "cumulative_registrations")}
            for r in json.loads(stored["by-type.json"])] == live_types
    assert any(r["actual_people"] is None for r in live_types)  # 6 kinship, 6 contribution: under 10
    live_flows = api.get("/stats/flows", token=national).get_json()
    assert json.loads(stored["flows.json"]) == [{k: f[k] for k in ("home_prefecture_code", "prefecture_code", "people")}
                                                for f in live_flows]
    assert (TOKYO_PREF, GIFU) in {(f["home_prefecture_code"], f["prefecture_code"]) for f in live_flows}


@pytest.mark.committing
def test_the_command_as_cron_runs_it_publishes_in_its_own_snapshot(app):
    """Outside a test's transaction: the command's own session (REPEATABLE READ on PostgreSQL)."""
    month = month_back(1)
    with app.app_context():
        registrations.register(person(), HIDA, ["family"], now=moment(month))
        db.session.commit()
    runner = app.test_cli_runner()
    result = runner.invoke(args=["publish-open-data", "--month", month])
    assert result.exit_code == 0, result.output
    assert runner.invoke(args=["publish-open-data", "--month", month]).exit_code == 1
    with app.app_context():
        assert len(files_of(month)) == 9
