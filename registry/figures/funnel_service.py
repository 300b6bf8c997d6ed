"""The relationship funnel's service (GET /stats/funnel, the staff console, the dashboard): a 団体's
own staff get its cells as they are; others get them published through
funnel_release.py, which says which further counters a suppression needs. Every counter a response
rests on is read in ONE statement, so the relations between them hold exactly even while events
commit; when the component reaches counters not read yet, the next statement reads it all again.

What it costs: the country's funnel (the national dashboard) reads one counter per cohort (months
since the registry's first registration), the national total and the time series' days — whatever
the number of 団体 or registrations — and where an R1 of moved_in holds (a handful of moved-in
people), the moved-in figures. One 団体's, as the national office reads it, reads in one statement
its cohorts, the country's and every 団体's cells of every cohort (for the blocks of
funnel_blocks.py) and the moved-in figures: its cost grows with the number of 団体 that have anyone
in a cohort, up to every 団体, never with the registrations beyond that.
"""
from collections import Counter
from datetime import date
from typing import NamedTuple

from sqlalchemy import and_, func, literal, or_, select, union_all

from registry.extensions import db
from registry.figures.funnel_blocks import summarise_all
from registry.figures.funnel_data import FunnelData, NeedMore, make_data
from registry.figures.funnel_release import published_cells
from registry.figures.models import FigureCounter
from registry.figures.recount import FIELDS
from registry.figures.service import GEOGRAPHY
from registry.figures.stages import COLUMN, NATIONAL, PAIRS, REGISTERED, STAGES, cohort_metric, month_of
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
        sums = _read(months, {scope}, set(), (), moved_in=False).sums
        return rows({(c, s): sums.get((cohort_metric(c), scope), Counter())[COLUMN[s]] for c in months for s in STAGES},
                    months)
    # A 団体's view nearly always reaches the moved-in system: read it in the first statement.
    scopes, full, moved_in = {NATIONAL, PAIRS, scope}, set(), scope != NATIONAL
    while True:  # each time in one statement, with everything the last try found missing
        try:
            return rows(published_cells(_data(months, scopes, full, moved_in, min_cell, today, blocks=scope != NATIONAL),
                                        scope, min_cell), months)
        except NeedMore as more:
            if more.cohorts:  # a block of every 団体: read every cohort whole rather than one at a time
                full = set(months)
            scopes |= more.scopes
            moved_in = moved_in or more.moved_in


def rows(values: dict, cohorts: list[str]) -> list[dict]:
    """One row per cohort with anyone registered in it, each stage's conversion from the one before."""
    out = []
    for cohort in cohorts:
        counts = {stage: values[(cohort, stage)] for stage in STAGES}
        if counts[REGISTERED] == 0:
            continue
        conversion = {}
        for before, stage in zip(STAGES, STAGES[1:]):
            a, b = counts[before], counts[stage]
            conversion[stage] = round(b / a, 4) if a and b is not None else None
        out.append({"cohort": cohort, **counts, "conversion": conversion})
    return out


class Read(NamedTuple):
    sums: dict  # (metric, key) → Counter(field → sum)
    blocks: dict  # (cohort, stage) → funnel_blocks.Block


def _read(months: list[str], scopes: set[str], full: set[str], metrics: tuple, *, moved_in: bool,
          blocks: int | None = None, codes: tuple[str, ...] = ()) -> Read:
    """In one statement: `scopes` in every cohort, every key of the `full` cohorts and of `metrics`,
    with `moved_in` every key of any cohort whose moved_in is not 0, and with `blocks` (min_cell)
    every cohort's stage's block (not moved_in; funnel_blocks.py) among `codes`, every 団体 by code."""
    funnel = [cohort_metric(c) for c in months]
    partial = [cohort_metric(c) for c in months if c not in full]
    whole = [cohort_metric(c) for c in months if c in full] + list(metrics)
    wanted = or_(and_(FigureCounter.metric.in_(partial), FigureCounter.key.in_(sorted(scopes))),
                 FigureCounter.metric.in_(whole))
    sums_of = [func.sum(getattr(FigureCounter, f)) for f in FIELDS]
    stmt = select(literal(0), FigureCounter.metric, FigureCounter.key, *sums_of) \
        .group_by(FigureCounter.metric, FigureCounter.key)
    if moved_in and blocks is None:  # a key's counts are summed over its slots before its moved_in is looked at
        stmt = stmt.where(or_(wanted, FigureCounter.metric.in_(funnel))) \
            .having(or_(wanted, func.sum(FigureCounter.moved_in) != 0))
    else:
        stmt = stmt.where(wanted)
    if blocks is not None:  # every 団体's cells, for the blocks (and the moved-in ones): no Counter per row
        stmt = union_all(stmt, select(literal(1), FigureCounter.metric, FigureCounter.key, *sums_of)
                         .where(FigureCounter.metric.in_(funnel), FigureCounter.key.not_in([NATIONAL, PAIRS]))
                         .group_by(FigureCounter.metric, FigureCounter.key))
    sums, cells = {}, []
    moved = FIELDS.index("moved_in")
    for for_blocks, metric, key, *values in db.session.connection().execute(stmt).all():  # Core: no ORM rows
        if for_blocks:
            cells.append((metric, key, values))
        if not for_blocks or (moved_in and values[moved]):
            sums[(metric, key)] = Counter(dict(zip(FIELDS, map(int, values))))
    return Read(sums, summarise_all(months, cells, codes, blocks) if blocks is not None else {})


def _data(months, scopes, full, moved_in: bool, min_cell: int, today: date, *, blocks: bool) -> FunnelData:
    metrics = ("total", "day") + (tuple(m for m in GEOGRAPHY if m != "total") if moved_in else ())
    organizations = tuple(value for row in db.session.execute(  # reference data: the same in every snapshot
        select(Organization.code, Organization.kind, Organization.prefecture_code).order_by(Organization.code))
        for value in row)
    read = _read(months, scopes, full, metrics, moved_in=moved_in, blocks=min_cell if blocks else None,
                 codes=organizations[0::3])
    sums = read.sums
    counted = None
    if moved_in:
        counted = CounterSums.of({metric: {key: c for (m, key), c in sums.items() if m == metric}
                                  for metric in GEOGRAPHY})
        for (metric, key), deltas in expired_premium_corrections(today).items():  # as /stats/by-organization reads
            if metric in counted.at:
                for field, delta in deltas.items():
                    counted.add(metric, key, field, delta)
    data = make_data(months, sums, full=full, scopes=scopes, min_cell=min_cell, geography=counted,
                     organizations=organizations, moved_in=moved_in)
    data.blocks.update(read.blocks)
    return data
