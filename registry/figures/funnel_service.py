"""The relationship funnel's service (GET /stats/funnel, the staff console, the dashboard): a 団体's
own staff get its cells as they are; others get them published through
funnel_release.py, which says which further counters a suppression needs. Every counter a response
rests on is read in ONE statement, so the relations between them hold exactly even while events
commit; when the component reaches counters not read yet, a second statement reads all it could reach.

What it costs: the country's funnel (the national dashboard), one counter per cohort (months since
the registry's first registration) and the national total — whatever the number of 団体 or
registrations. One 団体's, as the national office reads it: the cohorts of that 団体 and of the
country, the time series' days, and where a relation pulls them in, the 団体 of a cohort and the
geography — never the registrations. At most two statements: the first reads what the asked-for
cells need when no relation pulls in more; where one does (NeedMore), the second reads everything a
relation could reach (every cohort's 団体, the geography) instead of finding it out one statement at
a time.
"""
from collections import Counter
from datetime import date

from sqlalchemy import and_, func, or_, select

from registry.extensions import db
from registry.figures.funnel_release import FunnelData, NeedMore, make_data, published_cells, rows
from registry.figures.models import FigureCounter
from registry.figures.recount import FIELDS
from registry.figures.service import GEOGRAPHY
from registry.figures.stages import COLUMN, NATIONAL, PAIRS, STAGES, cohort_metric, month_of
from registry.figures.sums import CounterSums, expired_premium_corrections
from registry.organizations.models import Organization



def cohorts(today: date) -> list[str]:
    """Every month from the registry's first registration to this one."""
    first = db.session.scalar(select(func.min(FigureCounter.key)).where(FigureCounter.metric == "day"))
    if first is None:
        return []
    year, month = int(first[:4]), int(first[5:7])
    last = month_of(today)
    out = []
    while f"{year:04d}-{month:02d}" <= last:
        out.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


def funnel(scope: str, *, own: bool, min_cell: int, today: date) -> list[dict]:
    """Rows of `scope` (a 団体's code, or NATIONAL): as they are when `own` (its staff), else published."""
    months = cohorts(today)
    if own:
        sums = _read(months, {scope}, set(), (), moved_in=False)
        return rows({(c, s): sums.get((cohort_metric(c), scope), Counter())[COLUMN[s]] for c in months for s in STAGES},
                    months)
    scopes, full, moved_in = {NATIONAL, PAIRS, scope}, set(), False
    while True:  # each time in one statement, with everything the last try found missing
        try:
            return rows(published_cells(_data(months, scopes, full, moved_in, min_cell, today), scope, min_cell),
                        months)
        except NeedMore as more:
            if more.cohorts:  # a block of every 団体: read every cohort whole rather than one at a time
                full = set(months)
            scopes |= more.scopes
            moved_in = moved_in or more.moved_in


def _read(months: list[str], scopes: set[str], full: set[str], metrics: tuple, *, moved_in: bool) -> dict:
    """{(metric, key): Counter} in one statement: `scopes` in every cohort, every key of the `full`
    cohorts and of `metrics`, and with `moved_in` every key of any cohort whose moved_in is not 0."""
    funnel = [cohort_metric(c) for c in months]
    partial = [cohort_metric(c) for c in months if c not in full]
    whole = [cohort_metric(c) for c in months if c in full] + list(metrics)
    wanted = or_(and_(FigureCounter.metric.in_(partial), FigureCounter.key.in_(sorted(scopes))),
                 FigureCounter.metric.in_(whole))
    stmt = select(FigureCounter.metric, FigureCounter.key, *[func.sum(getattr(FigureCounter, f)) for f in FIELDS]) \
        .group_by(FigureCounter.metric, FigureCounter.key)
    if moved_in:  # a key's counts are summed over its slots before its moved_in is looked at
        stmt = stmt.where(or_(wanted, FigureCounter.metric.in_(funnel))) \
            .having(or_(wanted, func.sum(FigureCounter.moved_in) != 0))
    else:
        stmt = stmt.where(wanted)
    return {(metric, key): Counter(dict(zip(FIELDS, map(int, values))))
            for metric, key, *values in db.session.connection().execute(stmt)}  # Core: no ORM rows


def _data(months, scopes, full, moved_in: bool, min_cell: int, today: date) -> FunnelData:
    metrics = ("total", "day") + (tuple(m for m in GEOGRAPHY if m != "total") if moved_in else ())
    sums = _read(months, scopes, full, metrics, moved_in=moved_in)
    organizations = tuple(value for row in db.session.execute(  # reference data: the same in every snapshot
        select(Organization.code, Organization.kind, Organization.prefecture_code).order_by(Organization.code))
        for value in row)
    counted = None
    if moved_in:
        counted = CounterSums.of({metric: {key: c for (m, key), c in sums.items() if m == metric}
                                  for metric in GEOGRAPHY})
        for (metric, key), deltas in expired_premium_corrections(today).items():  # as /stats/by-organization reads
            if metric in counted.at:
                for field, delta in deltas.items():
                    counted.add(metric, key, field, delta)
    return make_data(months, sums, full=full, scopes=scopes, min_cell=min_cell, geography=counted,
                     organizations=organizations, moved_in=moved_in)
