"""The relationship funnel's service (GET /stats/funnel, the staff console, the dashboard): a 団体's
own staff get its cells as they are; others get them published through
funnel_release.py, which says which further counters a suppression needs. Every counter a response
rests on is read in ONE statement, so the relations between them hold exactly even while events
commit; when the component reaches counters not read yet, a second statement reads all it could reach.

What it costs: the cohorts (months since the registry's first registration) of the 団体 asked for
and of the country, the time series' days, and where a relation pulls them in, the 団体 of a
cohort and the geography — never the registrations. At most two statements: the first reads what the
asked-for cells need when no relation pulls in more; where one does (NeedMore), the second reads
everything a relation could reach (every cohort's 団体, the geography) instead of finding it out one
statement at a time.
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
        sums = _read(months, {scope}, set(), ())
        return rows({(c, s): sums.get((cohort_metric(c), scope), Counter())[COLUMN[s]] for c in months for s in STAGES},
                    months)
    scopes = {NATIONAL, PAIRS, scope}
    try:  # what the asked-for cells need when no relation pulls in more (the usual case at scale)
        return rows(published_cells(_data(months, scopes, set(), False, min_cell, today), scope, min_cell), months)
    except NeedMore:  # a relation reaches further: read everything it could reach, in one statement
        return rows(published_cells(_data(months, scopes, set(months), True, min_cell, today), scope, min_cell),
                    months)


def _read(months: list[str], scopes: set[str], full: set[str], metrics: tuple) -> dict:
    """{(metric, key): Counter} in one statement: `scopes` in every cohort, every key of the `full`
    cohorts and of `metrics`."""
    partial = [cohort_metric(c) for c in months if c not in full]
    whole = [cohort_metric(c) for c in months if c in full] + list(metrics)
    stmt = select(FigureCounter.metric, FigureCounter.key, *[func.sum(getattr(FigureCounter, f)) for f in FIELDS]) \
        .where(or_(and_(FigureCounter.metric.in_(partial), FigureCounter.key.in_(sorted(scopes))),
                   FigureCounter.metric.in_(whole))) \
        .group_by(FigureCounter.metric, FigureCounter.key)
    return {(metric, key): Counter(dict(zip(FIELDS, map(int, values))))
            for metric, key, *values in db.session.connection().execute(stmt)}  # Core: no ORM rows


def _data(months, scopes, full, geography: bool, min_cell: int, today: date) -> FunnelData:
    metrics = ("total", "day") + (tuple(m for m in GEOGRAPHY if m != "total") if geography else ())
    sums = _read(months, scopes, full, metrics)
    organizations = tuple(value for row in db.session.execute(  # reference data: the same in every snapshot
        select(Organization.code, Organization.kind, Organization.prefecture_code).order_by(Organization.code))
        for value in row)
    counted = None
    if geography:
        counted = CounterSums.of({metric: {key: c for (m, key), c in sums.items() if m == metric}
                                  for metric in GEOGRAPHY})
        for (metric, key), deltas in expired_premium_corrections(today).items():  # as /stats/by-organization reads
            if metric in counted.at:
                for field, delta in deltas.items():
                    counted.add(metric, key, field, delta)
    return make_data(months, sums, full=full, scopes=scopes, min_cell=min_cell, geography=counted,
                     organizations=organizations)
