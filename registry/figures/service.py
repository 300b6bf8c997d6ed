"""The national figures, read from the maintained counters (cost independent of registrations).

Definitions (DESIGN.md "Counting"): 実人数 `actual_people` = distinct people with at least one active
registration; 延べ `cumulative_registrations` = active explicit registrations. A prefecture's 実人数
counts each person tied to it or any of its municipalities once, leaving out people who live there
(the flows show them); its 延べ counts the explicit registrations with it and its municipalities.

A premium past its `premium_valid_until` is basic in every figure before `lapse-premiums` lapses it:
`expired_premium_corrections()` applies to the counters read the deltas its lapse will.

Every breakdown is published through a `suppression.Release` holding the cells that relate to each
other, so that no suppressed count can be worked out by subtraction (API.md "Trust rules (v1.1)").
The relations that hold by the counting definitions (an internal cell is never published; where it
is 0 an attacker is assumed to know it):

- geography (by-prefecture, by-organization, flows, one 団体's totals for others than its staff):
  for 延べ, premium and moved_in, national = Σ prefectures and a prefecture = Σ its 団体 (its own
  row, the direct registrations, included); a 団体's 実人数 is its 延べ (one active registration per
  person and 団体: the same cell); a prefecture's 実人数 = Σ the flows into it from other prefectures
  + the people tied to it without a known home (internal); its 実人数 + its residents' flow = its 延べ
  − the second registrations there (internal); Σ over prefectures of (実人数 + residents' flow) =
  the national 実人数 + the people tied to several prefectures (internal);
- the time series (day and month together): a running 延べ minus the previous one = registered −
  withdrawn − moved_in of the period; a running 実人数 minus the previous one = the period's net
  change in people (internal); the months add up their days and their running totals are their
  last day's (the same cells); the last running totals are the national totals; the moved_in add up
  to the national;
- by-age-band: the bands (and unknown birth years) add up to the national 実人数 and 延べ (a person
  has one birth year); a band's 延べ = its 実人数 + their further registrations (internal);
- by-tier and by-tie: a key's 延べ = its 実人数 + the further registrations (internal); Σ 実人数 =
  the national + the people in several (internal). The tiers' 延べ add up to the national and
  premium's is the national premium total (so both follow from the totals and are published like
  them); the ties' 延べ add up to the national + the further ties of registrations (internal).

Not relations: 実人数 over 団体 or prefectures (one person counts in each, residents are left
out of their prefecture's), over ties or tiers, flows over home prefectures; inequalities (実人数 ≤
延べ, premium ≤ 延べ) are not used.
"""
import math
from collections import Counter, defaultdict
from collections.abc import Mapping
from datetime import date, datetime
from functools import lru_cache

from sqlalchemy import select

from registry.accounts.service import AGE_BANDS
from registry.common.time import today_tokyo
from registry.extensions import db
from registry.figures.recount import FIELDS
from registry.figures.sums import CounterSums, counter_sums_of, read, read_rows
from registry.figures.sums import counter_sums  # noqa: F401  (operations/metrics.py reads it through here)
from registry.figures.suppression import Release, suppress  # noqa: F401  (suppress: the primary rule alone)
from registry.figures.typology import typology_rows
from registry.organizations.models import PREFECTURE, Organization
from registry.registrations.models import PREMIUM, TIES

GOAL_PEOPLE, GOAL_REGISTRATIONS, GOAL_YEAR = 10_000_000, 100_000_000, 2035
# Published name → counter field.
COUNTS = {"actual_people": "people", "cumulative_registrations": "registrations",
          "premium_registrations": "premium", "moved_in": "moved_in"}
GEOGRAPHY = ("total", "prefecture", "organization", "flow")
SERIES = ("registered", "withdrawn", "moved_in", "actual_people", "cumulative_registrations")


def months_left(today: date) -> int:
    return max(1, (GOAL_YEAR * 12 + 12) - (today.year * 12 + today.month))


def totals(*, today: date, now: datetime, organization: Organization | None = None,
           min_cell: int | None = None) -> dict:
    """National totals, or one 団体's (a prefecture's includes its municipalities). `min_cell` set
    means the caller is not that 団体's staff: its figures are published as in the breakdowns."""
    if organization is None:
        sums = read(today, "total")["total"].get("", Counter())
        values = {name: sums[field] for name, field in COUNTS.items()}
    elif min_cell:
        geography = published_geography(today=today, min_cell=min_cell)
        values = geography.prefecture(organization.code) if organization.kind == PREFECTURE \
            else geography.organization(organization.code)
    else:
        metric = "prefecture" if organization.kind == PREFECTURE else "organization"
        sums = read(today, metric)[metric].get(organization.code, Counter())
        values = {name: sums[field] for name, field in COUNTS.items()}
    people, registrations = values["actual_people"] or 0, values["cumulative_registrations"] or 0
    result = {
        **values,
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


# --- geography: prefectures, 団体, flows ----------------------------------------------------------------

class Geography:
    """The published geography: by-prefecture, by-organization, flows, and one 団体's totals, all
    cut from one protected release (`geography_release`)."""

    def __init__(self, sums: CounterSums, organizations: tuple[str, ...], names: Mapping[str, str], min_cell: int,
                 *, complementary: bool = True):
        """`sums`: the counters of GEOGRAPHY (`CounterSums.read`, or `.of` a mapping);
        `organizations`: every 団体 as (code, kind, prefecture_code), by code, one after the other in
        one tuple (`directory`); `names`: {code: name} of those whose rows are asked for."""
        self.organizations, self.names = organizations, names
        self.release = geography_release(sums, organizations)
        self.published = self.release.protect(min_cell, complementary=complementary)

    def prefecture(self, code: str) -> dict:
        return self.published.values({name: ("prefecture", code, f) for name, f in COUNTS.items()})

    def organization(self, code: str) -> dict:
        return self.published.values({name: ("organization", code, f) for name, f in COUNTS.items()})

    def by_prefecture(self) -> list[dict]:
        return [{"prefecture_code": code, "name": self.names[code], **self.prefecture(code)}
                for code, kind, _ in _triples(self.organizations) if kind == PREFECTURE]

    def by_organization(self, prefecture: str | None = None) -> list[dict]:
        return [{"organization_code": code, "name": self.names[code], "kind": kind, "prefecture_code": pref,
                 **self.organization(code)}
                for code, kind, pref in _triples(self.organizations) if not prefecture or pref == prefecture]

    def flows(self) -> list[dict]:
        """Pairs with people (or suppressed); a pair published as absent has none."""
        rows = []
        for key in sorted(k for k in self.release.keys if k[0] == "flow" and k[1] != "unknown"):
            people = self.published.get(key)
            if people != 0:
                rows.append({"home_prefecture_code": key[1], "prefecture_code": key[2], "people": people})
        return rows


def directory(organizations) -> tuple[str, ...]:
    """(code, kind, prefecture_code) rows as the one flat tuple the geography takes."""
    return tuple(value for row in organizations for value in row)


def _triples(flat: tuple[str, ...]):
    return zip(flat[0::3], flat[1::3], flat[2::3])


def geography_release(sums: CounterSums, organizations: tuple[str, ...]) -> Release:
    """The cells of the geography and their relations (module docstring). `sums`: counters of the
    metrics in GEOGRAPHY; `organizations`: every 団体 as (code, kind, prefecture_code), by code,
    flat (`directory`). The shape (cells, relations) depends on the 団体 only: built once, filled
    in per call."""
    people, registrations = FIELDS.index("people"), FIELDS.index("registrations")
    at, data = sums.at, sums.data
    if any(data[start + people] != data[start + registrations] for start in at["organization"].values()):
        return _geography(organizations, sums.get)[0]
    shape, sources = _geography_shape(organizations)
    return shape.with_values([data[at[metric][key] + field] if key in at[metric] else 0
                              for metric, key, field in sources])


OVERLAP = ("total", None, 0)  # the source of an overlap cell: none (worked out from the others)


@lru_cache(maxsize=4)
def _geography_shape(flat: tuple[str, ...]) -> tuple[Release, list]:
    return _geography(flat, lambda metric, key, field: 0)


def _geography(flat: tuple[str, ...], count) -> tuple[Release, list]:
    """The release, and for each cell where its value comes from: (metric, key, position in
    FIELDS) of the counters, or OVERLAP. `count(metric, key, field)` gives the values."""
    organizations = list(_triples(flat))
    release = Release()
    sources: list = []

    def cells(keys, where, **kind):
        release.cells(keys, [count(*source) for source in where], **kind)
        sources.extend((metric, key, FIELDS.index(field)) for metric, key, field in where)

    cells([("total", f) for f in COUNTS.values()], [("total", "", f) for f in COUNTS.values()], public=True)
    prefectures = [code for code, kind, _ in organizations if kind == PREFECTURE]
    members: dict[str, list[str]] = defaultdict(list)
    for code, _, pref in organizations:
        members[pref].append(code)
    cells([("prefecture", pref, f) for pref in prefectures for f in COUNTS.values()],
          [("prefecture", pref, f) for pref in prefectures for f in COUNTS.values()])
    fields = ("registrations", "premium", "moved_in")
    cells([("organization", code, f) for code, _, _ in organizations for f in fields],
          [("organization", code, f) for code, _, _ in organizations for f in fields])
    for code, _, _ in organizations:
        if count("organization", code, "people") == count("organization", code, "registrations"):
            # one active registration per person and 団体: the same count
            release.alias(("organization", code, "people"), ("organization", code, "registrations"))
        else:  # (never, unless the counters drift: then published as they are)
            cells([("organization", code, "people")], [("organization", code, "people")])
            release.equal(("organization", code, "people"), ("organization", code, "registrations"))
    for field in fields:
        release.sum_of(("total", field), [("prefecture", pref, field) for pref in prefectures])
        for pref in prefectures:
            release.sum_of(("prefecture", pref, field), [("organization", code, field) for code in members[pref]])
    homes = [*prefectures, "unknown"]
    cells([("flow", home, pref) for pref in prefectures for home in prefectures],
          [("flow", f"{home}>{pref}", "people") for pref in prefectures for home in prefectures])
    cells([("flow", "unknown", pref) for pref in prefectures],
          [("flow", f"unknown>{pref}", "people") for pref in prefectures], internal=True)
    for pref in prefectures:
        release.sum_of(("prefecture", pref, "people"), [("flow", home, pref) for home in homes if home != pref])
        # everyone tied to it (residents too) = its 延べ less second registrations there
        release.overlap(("more than one", pref), [("prefecture", pref, "registrations")],
                        [("prefecture", pref, "people"), ("flow", pref, pref)])
        sources.append(OVERLAP)
    # everyone tied to each prefecture = the national 実人数 + people tied to several
    release.overlap(("several prefectures",), [x for pref in prefectures
                                               for x in (("prefecture", pref, "people"), ("flow", pref, pref))],
                    [("total", "people")])
    sources.append(OVERLAP)
    return release, sources


def published_geography(*, today: date | None = None, min_cell: int, names: str = PREFECTURE) -> Geography:
    """The geography as published now; `names` of the prefectures, or of every 団体 ("all")."""
    rows = db.session.connection().execute(
        select(Organization.code, Organization.kind, Organization.prefecture_code).order_by(Organization.code))
    organizations = tuple(value for row in rows for value in row)  # one object, however many 団体
    named = select(Organization.code, Organization.name)
    if names == PREFECTURE:
        named = named.where(Organization.kind == PREFECTURE)
    return Geography(read_rows(today or today_tokyo(), *GEOGRAPHY), organizations,
                     {code: name for code, name in db.session.execute(named)}, min_cell)


def by_prefecture(*, min_cell: int, today: date | None = None) -> list[dict]:
    return published_geography(today=today, min_cell=min_cell).by_prefecture()


def by_organization(*, min_cell: int, prefecture: str | None = None, today: date | None = None) -> list[dict]:
    """Per 団体: explicit registrations with it (a prefecture row counts its direct registrations)."""
    return published_geography(today=today, min_cell=min_cell, names="all").by_organization(prefecture)


def flows(*, min_cell: int, today: date | None = None) -> list[dict]:
    """People per (home prefecture → prefecture they are tied to), within-prefecture ties included."""
    return published_geography(today=today, min_cell=min_cell).flows()


# --- the time series ----------------------------------------------------------------------------------

def series_release(days: dict[str, Counter], total: Counter) -> Release:
    """Day and month rows (module docstring): cells ("day"|"month", period, name) for SERIES, and
    the internal net change in people ("day", day, "net_people")."""
    release = Release()
    for field in ("people", "registrations", "moved_in"):
        release.cell(("total", field), total[field], public=True)
    months: dict[str, list[str]] = defaultdict(list)
    people = registrations = 0
    previous = None
    for day in sorted(days):
        c = days[day]
        people += c["people"]
        registrations += c["registrations"]
        for name, value in (("registered", c["registered"]), ("withdrawn", c["withdrawn"]),
                            ("moved_in", c["moved_in"]), ("actual_people", people),
                            ("cumulative_registrations", registrations)):
            release.cell(("day", day, name), value)
        release.cell(("day", day, "net_people"), c["people"], internal=True)
        release.relation([(("day", day, "cumulative_registrations"), 1), (("day", day, "registered"), -1),
                          (("day", day, "withdrawn"), 1), (("day", day, "moved_in"), 1),
                          *([((*previous, "cumulative_registrations"), -1)] if previous else [])])
        release.relation([(("day", day, "actual_people"), 1), (("day", day, "net_people"), -1),
                          *([((*previous, "actual_people"), -1)] if previous else [])])
        previous = ("day", day)
        months[day[:7]].append(day)
    if previous:
        release.equal((*previous, "cumulative_registrations"), ("total", "registrations"))
        release.equal((*previous, "actual_people"), ("total", "people"))
        release.sum_of(("total", "moved_in"), [("day", day, "moved_in") for day in days])
    for month, in_month in months.items():
        for name in ("registered", "withdrawn", "moved_in"):
            release.cell(("month", month, name), sum(days[day][name] for day in in_month))
            release.sum_of(("month", month, name), [("day", day, name) for day in in_month])
        for name in ("actual_people", "cumulative_registrations"):  # the month's last day's
            release.alias(("month", month, name), ("day", in_month[-1], name))
    return release


def timeseries(*, interval: str, min_cell: int) -> list[dict]:
    """Per day or month (Asia/Tokyo): events in the period and the running totals at its end."""
    sums = counter_sums_of("day", "total")
    return series_rows(sums["day"], sums["total"].get("", Counter()), interval=interval, min_cell=min_cell)


def series_rows(days: dict[str, Counter], total: Counter, *, interval: str, min_cell: int,
                complementary: bool = True) -> list[dict]:
    """The published rows of one interval (the days and the months are protected together)."""
    release = series_release(days, total)
    published = release.protect(min_cell, complementary=complementary)
    periods = sorted({key[1] for key in release.keys if key[0] == interval})
    return [{"period": period, **published.values({name: (interval, period, name) for name in SERIES})}
            for period in periods]


def dashboard(*, today: date, now: datetime, min_cell: int, top_flows: int = 20) -> dict:
    """The national dashboard: totals, the prefectures by 実人数 (largest first, suppressed cells
    last), the months (the growth chart's text alternative), the largest flows, and the prefectures'
    names by code."""
    national = totals(today=today, now=now)
    prefectures = sorted(by_prefecture(min_cell=min_cell), key=lambda r: (r["actual_people"] or 0), reverse=True)
    return {"totals": national, "prefectures": prefectures, "months": timeseries(interval="month", min_cell=min_cell),
            "flows": sorted(flows(min_cell=min_cell), key=lambda r: (r["people"] or 0), reverse=True)[:top_flows],
            "names": {row["prefecture_code"]: row["name"] for row in prefectures}}


# --- by tier, tie, age band -------------------------------------------------------------------------

def dimension_release(metric: str, sums: dict[str, Counter], keys: list[str], total: Counter) -> Release:
    """People and registrations per key of `metric` (tier or tie). A key's 延べ = its 実人数 + the
    people's further registrations with it; the keys' 実人数 = the national + the people in several.
    Tiers: the 延べ add up to the national and premium's is the national premium total (so both
    follow from the totals); ties: a registration has several, so the 延べ add up to the national +
    the further ties."""
    release = Release()
    for field in ("people", "registrations", "premium"):
        release.cell(("total", field), total[field], public=True)
    for key in keys:
        for field in ("people", "registrations"):
            release.cell((key, field), sums.get(key, Counter())[field])
        release.overlap(("more than one", key), [(key, "registrations")], [(key, "people")])
    release.overlap(("several", "people"), [(key, "people") for key in keys], [("total", "people")])
    if metric == "tier":
        release.sum_of(("total", "registrations"), [(key, "registrations") for key in keys])
        release.equal(("total", "premium"), (PREMIUM, "registrations"))
    else:
        release.overlap(("several", "registrations"), [(key, "registrations") for key in keys],
                        [("total", "registrations")])
    return release


def by_dimension(metric: str, label: str, *, min_cell: int, order: tuple = (), today: date | None = None) -> list[dict]:
    sums = read(today or today_tokyo(), metric, "total")
    return dimension_rows(metric, label, sums[metric], sums["total"].get("", Counter()), order=order,
                          min_cell=min_cell)


def dimension_rows(metric: str, label: str, sums: dict[str, Counter], total: Counter, *, order: tuple = (),
                   min_cell: int, complementary: bool = True) -> list[dict]:
    keys = list(order) + sorted(k for k in sums if k not in order)
    published = dimension_release(metric, sums, keys, total).protect(min_cell, complementary=complementary)
    return [{label: k, "actual_people": published.get((k, "people")),
             "cumulative_registrations": published.get((k, "registrations"))} for k in keys]


def age_bands(birth_years: dict[str, Counter], today: date) -> dict[str, Counter]:
    """Birth-year counters banded for this year (unknown birth years as "unknown")."""
    bands: dict = {band: Counter() for _, band in AGE_BANDS}
    bands["70_plus"] = Counter()
    bands["unknown"] = Counter()
    for key, c in birth_years.items():
        if key == "unknown":
            band = "unknown"
        else:
            age = today.year - int(key)
            band = next((b for limit, b in AGE_BANDS if age < limit), "70_plus")
        bands[band].update(c)
    return bands


def age_band_release(bands: dict[str, Counter], total: Counter) -> Release:
    """The bands, unknown birth years included, add up to the national 実人数 and 延べ (a person
    has one birth year)."""
    release = Release()
    for field in ("people", "registrations"):
        release.cell(("total", field), total[field], public=True)
        for band, c in bands.items():
            release.cell((band, field), c[field])
        release.sum_of(("total", field), [(band, field) for band in bands])
    for band in bands:  # a band's 延べ = its 実人数 + their further registrations
        release.overlap(("more than one", band), [(band, "registrations")], [(band, "people")])
    return release


def by_age_band(*, today: date, min_cell: int) -> list[dict]:
    """Kept per birth year (it never changes with time), banded at read time for this year."""
    sums = read(today, "birth_year", "total")
    return age_band_rows(sums["birth_year"], sums["total"].get("", Counter()), today=today, min_cell=min_cell)


def age_band_rows(birth_years: dict[str, Counter], total: Counter, *, today: date, min_cell: int,
                  complementary: bool = True) -> list[dict]:
    """The unknown birth years are a row when they have anyone (or are suppressed)."""
    bands = age_bands(birth_years, today)
    published = age_band_release(bands, total).protect(min_cell, complementary=complementary)
    rows = [{"age_band": band, "actual_people": published.get((band, "people")),
             "cumulative_registrations": published.get((band, "registrations"))} for band in bands]
    return [row for row in rows if row["age_band"] != "unknown"
            or row["actual_people"] != 0 or row["cumulative_registrations"] != 0]


def typology(*, min_cell: int, today: date | None = None) -> dict[str, list[dict]]:
    """{"types": /stats/by-type, "ties": /stats/by-tie}: one release (a type of one tie is that tie's
    count; typology.py)."""
    sums = read(today or today_tokyo(), "tie", "type", "total")
    return typology_rows(sums["type"], sums["total"].get("", Counter()), min_cell=min_cell, ties=sums["tie"],
                         tie_order=TIES)
