"""The national figures, read from the maintained counters (cost independent of registrations).

Definitions (DESIGN.md "Counting"): 実人数 `actual_people` = distinct people with at least one active
registration; 延べ `cumulative_registrations` = active explicit registrations. A prefecture's 実人数
counts each person tied to it or any of its municipalities once, leaving out people who live there
(the flows show them); its 延べ counts the explicit registrations with it and its municipalities.
"""
import math
from collections import Counter, defaultdict
from datetime import date, datetime

from sqlalchemy import func, select

from registry.accounts.service import AGE_BANDS
from registry.extensions import db
from registry.figures.models import FigureCounter
from registry.figures.recount import FIELDS
from registry.organizations.models import PREFECTURE, Organization
from registry.registrations.models import ACTIVE, PREMIUM, Registration

GOAL_PEOPLE, GOAL_REGISTRATIONS, GOAL_YEAR = 10_000_000, 100_000_000, 2035


def counter_sums(metric: str, key: str | None = None) -> dict[str, Counter]:
    stmt = select(FigureCounter.key, *[func.sum(getattr(FigureCounter, f)) for f in FIELDS]) \
        .where(FigureCounter.metric == metric).group_by(FigureCounter.key)
    if key is not None:
        stmt = stmt.where(FigureCounter.key == key)
    return {k: Counter({f: int(v or 0) for f, v in zip(FIELDS, values)}) for k, *values in db.session.execute(stmt)}


def suppress(value: int | None, min_cell: int) -> int | None:
    """Counts from 1 to min_cell − 1 are published as null, so no one can be singled out; 0 stays 0."""
    if value is None or value == 0 or value >= min_cell:
        return value
    return None


def _expired_premium(today: date, organization: Organization | None = None) -> int:
    """Premium registrations past their validity that `lapse-premiums` has not lapsed yet: they are
    premium no longer (API.md), so the premium figure leaves them out."""
    stmt = select(func.count()).select_from(Registration).where(
        Registration.status == ACTIVE, Registration.tier == PREMIUM, Registration.premium_valid_until < today)
    if organization is not None:
        column = Registration.prefecture_code if organization.kind == PREFECTURE else Registration.organization_code
        stmt = stmt.where(column == organization.code)
    return db.session.scalar(stmt)


def months_left(today: date) -> int:
    return max(1, (GOAL_YEAR * 12 + 12) - (today.year * 12 + today.month))


def totals(*, today: date, now: datetime, organization: Organization | None = None,
           min_cell: int | None = None) -> dict:
    """National totals, or one 団体's (a prefecture's includes its municipalities). `min_cell` set
    means the caller is not that 団体's staff: small counts are suppressed."""
    if organization is None:
        sums = counter_sums("total", "").get("", Counter())
    elif organization.kind == PREFECTURE:
        sums = counter_sums("prefecture", organization.code).get(organization.code, Counter())
    else:
        sums = counter_sums("organization", organization.code).get(organization.code, Counter())
    people, registrations = sums["people"], sums["registrations"]
    premium = sums["premium"] - _expired_premium(today, organization)
    hide = (lambda v: suppress(v, min_cell)) if min_cell else (lambda v: v)
    result = {
        "actual_people": hide(people), "cumulative_registrations": hide(registrations),
        "premium_registrations": hide(premium), "moved_in": hide(sums["moved_in"]),
        "goal": {"actual_people": GOAL_PEOPLE, "cumulative_registrations": GOAL_REGISTRATIONS,
                 "target_year": GOAL_YEAR},
        "progress": {"actual_people": people / GOAL_PEOPLE,
                     "cumulative_registrations": registrations / GOAL_REGISTRATIONS},
        "required_monthly_growth": {
            "actual_people": math.ceil(max(0, GOAL_PEOPLE - people) / months_left(today)),
            "cumulative_registrations": math.ceil(max(0, GOAL_REGISTRATIONS - registrations) / months_left(today))},
        "as_of": now,
    }
    if organization is not None:
        result["organization_code"] = organization.code
        result["progress"] = None
        result["required_monthly_growth"] = None
        result["goal"] = None
    return result


def by_prefecture(*, min_cell: int) -> list[dict]:
    sums = counter_sums("prefecture")
    rows = []
    for pref in db.session.scalars(select(Organization).where(Organization.kind == PREFECTURE)
                                   .order_by(Organization.code)):
        rows.append({"prefecture_code": pref.code, "name": pref.name,
                     **_published(sums.get(pref.code, Counter()), min_cell)})
    return rows


def _published(c: Counter, min_cell: int) -> dict:
    return {"actual_people": suppress(c["people"], min_cell),
            "cumulative_registrations": suppress(c["registrations"], min_cell),
            "premium_registrations": suppress(c["premium"], min_cell),
            "moved_in": suppress(c["moved_in"], min_cell)}


def by_organization(*, min_cell: int, prefecture: str | None = None) -> list[dict]:
    """Per 団体: explicit registrations with it (a prefecture row counts its direct registrations)."""
    sums = counter_sums("organization")
    stmt = select(Organization).order_by(Organization.code)
    if prefecture:
        stmt = stmt.where(Organization.prefecture_code == prefecture)
    return [{"organization_code": org.code, "name": org.name, "kind": org.kind,
             "prefecture_code": org.prefecture_code, **_published(sums.get(org.code, Counter()), min_cell)}
            for org in db.session.scalars(stmt)]


def timeseries(*, interval: str, min_cell: int) -> list[dict]:
    """Per day or month (Asia/Tokyo): events in the period and the running totals at its end."""
    periods: dict = defaultdict(Counter)
    for day, c in counter_sums("day").items():
        periods[day if interval == "day" else day[:7]].update(c)
    people = registrations = 0
    rows = []
    for period in sorted(periods):
        c = periods[period]
        people += c["people"]
        registrations += c["registrations"]
        rows.append({"period": period, "registered": suppress(c["registered"], min_cell),
                     "withdrawn": suppress(c["withdrawn"], min_cell), "moved_in": suppress(c["moved_in"], min_cell),
                     "actual_people": suppress(people, min_cell),
                     "cumulative_registrations": suppress(registrations, min_cell)})
    return rows


def flows(*, min_cell: int) -> list[dict]:
    """People per (home prefecture → prefecture they are tied to), within-prefecture ties included."""
    rows = []
    for key, c in sorted(counter_sums("flow").items()):
        home, _, pref = key.partition(">")
        if c["people"] and home != "unknown":
            rows.append({"home_prefecture_code": home, "prefecture_code": pref,
                         "people": suppress(c["people"], min_cell)})
    return rows


def dashboard(*, today: date, now: datetime, min_cell: int, top_flows: int = 20) -> dict:
    """The national dashboard: totals, the prefectures by 実人数 (largest first, suppressed cells
    last), the months (the growth chart's text alternative), the largest flows, and the prefectures'
    names by code."""
    national = totals(today=today, now=now)
    prefectures = sorted(by_prefecture(min_cell=min_cell), key=lambda r: (r["actual_people"] or 0), reverse=True)
    return {"totals": national, "prefectures": prefectures, "months": timeseries(interval="month", min_cell=min_cell),
            "flows": sorted(flows(min_cell=min_cell), key=lambda r: (r["people"] or 0), reverse=True)[:top_flows],
            "names": {row["prefecture_code"]: row["name"] for row in prefectures}}


def by_dimension(metric: str, label: str, *, min_cell: int, order: tuple = ()) -> list[dict]:
    sums = counter_sums(metric)
    keys = list(order) + sorted(k for k in sums if k not in order)
    return [{label: k, "actual_people": suppress(sums.get(k, Counter())["people"], min_cell),
             "cumulative_registrations": suppress(sums.get(k, Counter())["registrations"], min_cell)}
            for k in keys]


def by_age_band(*, today: date, min_cell: int) -> list[dict]:
    """Kept per birth year (it never changes with time), banded at read time for this year."""
    bands: dict = {band: Counter() for _, band in AGE_BANDS}
    bands["70_plus"] = Counter()
    for key, c in counter_sums("birth_year").items():
        if key == "unknown":
            band = "unknown"
        else:
            age = today.year - int(key)
            band = next((b for limit, b in AGE_BANDS if age < limit), "70_plus")
        bands.setdefault(band, Counter()).update(c)
    return [{"age_band": band, "actual_people": suppress(c["people"], min_cell),
             "cumulative_registrations": suppress(c["registrations"], min_cell)}
            for band, c in bands.items() if band != "unknown" or any(c.values())]
