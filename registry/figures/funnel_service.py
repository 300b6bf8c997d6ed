"""The relationship funnel's service (GET /stats/funnel, the staff console, the dashboard): a 団体's
own staff get its cells as they are; others get them published through
funnel_release.py, which says which further counters a suppression needs. Every counter a response
rests on is read in ONE statement, so the relations between them hold exactly even while events
commit; when the component reaches counters not read yet, the next statement reads it all again.

What it costs: the country's funnel (the national dashboard) reads one counter per cohort (months
since the registry's first registration), the national total and the time series' days — whatever
the number of 団体 or registrations — and where an R1 of moved_in holds (a handful of moved-in
people), the moved-in figures. One 団体's, as the national office reads it, reads in one statement
its cohorts, the country's, the moved-in figures (through the partial index of the counter rows
someone moved in with) and the blocks that bind (funnel_blocks.py): each block as a few probes of
`funnel_cells`' value order (models.FunnelCell) — the primaries' count and sum, the first few cells,
the first 団体 with 0 there — never a read of the block's ~1,800 cells.
"""
from collections import Counter
from datetime import date
from typing import NamedTuple

from sqlalchemy import (BigInteger, String, and_, case, cast, exists, func, literal, null, or_, select, tuple_, union,
                        union_all)
from sqlalchemy.orm import aliased

from registry.extensions import db
from registry.figures.funnel_blocks import KEEP, SMALL, Block
from registry.figures.funnel_data import FunnelData, NeedMore, make_data
from registry.figures.funnel_release import published_cells
from registry.figures.models import FigureCounter, FunnelCell
from registry.figures.recount import FIELDS
from registry.figures.service import GEOGRAPHY
from registry.figures.stages import (COLUMN, MOVED_IN, NATIONAL, PAIRS, PREFIX, REGISTERED, STAGES, cohort_metric,
                                     month_of)
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
    blocks: dict  # (cohort, stage) → funnel_blocks.Block, of the blocks that bind over someone


SUMS, MOVED, BLOCK = 0, 1, 2  # the kinds of row `_read`'s statement answers


def _read(months: list[str], scopes: set[str], full: set[str], metrics: tuple, *, moved_in: bool,
          blocks: int | None = None) -> Read:
    """In one statement: `scopes` in every cohort, every key of the `full` cohorts and of `metrics`,
    with `moved_in` every key of any cohort whose moved_in is not 0, and with `blocks` (min_cell)
    each block (a cohort's stage but moved_in, over every 団体) that binds over someone, as
    funnel_blocks.Block, from a few probes of `funnel_cells`' value order."""
    funnel = [cohort_metric(c) for c in months]
    partial = [cohort_metric(c) for c in months if c not in full]
    whole = [cohort_metric(c) for c in months if c in full] + list(metrics)
    wanted = or_(and_(FigureCounter.metric.in_(partial), FigureCounter.key.in_(sorted(scopes))),
                 FigureCounter.metric.in_(whole))
    parts = [select(literal(SUMS), FigureCounter.metric, FigureCounter.key,
                    *_padded([cast(func.sum(getattr(FigureCounter, f)), BigInteger) for f in FIELDS]))
             .where(wanted).group_by(FigureCounter.metric, FigureCounter.key)]
    if moved_in:  # from the partial index of the counter rows whose moved_in is not 0: their sum is the key's
        parts.append(select(literal(MOVED), FigureCounter.metric, FigureCounter.key,
                            *_padded([cast(func.sum(FigureCounter.moved_in), BigInteger)]))
                     .where(FigureCounter.metric.in_(funnel), FigureCounter.moved_in != 0)
                     .group_by(FigureCounter.metric, FigureCounter.key))
    if blocks is not None:
        parts.append(_block_rows(funnel, blocks))
    stmt = union_all(*parts) if len(parts) > 1 else parts[0]
    sums, moved_in_only, found = {}, {}, []
    for kind, metric, key, *values in db.session.connection().execute(stmt).all():  # Core: no ORM rows
        if kind == SUMS:
            # dict.update: Counter's own tests isinstance(…, Mapping), an ABC check, on each of
            # the thousands of rows a 団体's view reads at 1 M people
            dict.update(counts := Counter(), zip(FIELDS, values))
            sums[(metric, key)] = counts
        elif kind == MOVED:
            dict.update(counts := Counter(), moved_in=values[0])
            moved_in_only[(metric, key)] = counts
        else:
            found.append((metric, key, dict(zip(_NUMBERS + _TEXTS, values))))
    for cell, counts in moved_in_only.items():  # a key read whole as well has it all already
        sums.setdefault(cell, counts)
    return Read(sums, {(metric[len(PREFIX):], stage): _block(row, sums[(metric, PAIRS)][COLUMN[stage]])
                       for metric, stage, row in found})


# A block's row: its numbers, then its codes (the 団体 of the kept cells and the first 0).
_NUMBERS = ("small_count", "small_sum", *(f"small{n}_value" for n in range(1, SMALL + 1)),
            *(f"least{n}_value" for n in range(1, KEEP + 1)))
_TEXTS = ("zero", *(f"small{n}_key" for n in range(1, SMALL + 1)), *(f"least{n}_key" for n in range(1, KEEP + 1)))


def _padded(numbers: list) -> list:
    """A row's columns as the statement's every part has them: `numbers`, then NULLs."""
    return numbers + [cast(null(), BigInteger)] * (len(_NUMBERS) - len(numbers)) + [cast(null(), String)] * len(_TEXTS)


def _block(row: dict, total: int) -> Block:
    def cells(kind, n):
        return tuple((row[f"{kind}{i}_key"], row[f"{kind}{i}_value"]) for i in range(1, n + 1)
                     if row[f"{kind}{i}_key"] is not None)
    small_count = row["small_count"]
    return Block(total=total, small=cells("small", SMALL) if small_count <= SMALL else (), small_count=small_count,
                 small_sum=row["small_sum"], least=cells("least", KEEP), zero=row["zero"])


def _block_rows(funnel: list[str], min_cell: int):
    """One row per block that binds (`_binding`): how many primaries and their sum, the first SMALL
    of them and the first KEEP cells of min_cell or more by (value, code), and the first 団体 by
    code with 0 there, from `funnel_cells`' value order: the k-th cell is one index probe, the
    first after the (k−1)-th; the count and sum step through the block's primaries only, the first
    0 through the 団体 before it. So a block costs a few probes, not a read of its ~1,800 cells."""
    cell = FunnelCell
    blocks = _binding(funnel).subquery()

    def in_block(f, of, small: bool) -> list:
        return [f.metric == of.c.metric, f.stage == of.c.stage, f.value < min_cell if small else f.value >= min_cell]

    def primaries(aggregate):
        f = aliased(cell)
        return select(aggregate(f)).where(*in_block(f, blocks, True)).scalar_subquery()

    def first(of, kind: str, n: int) -> list:
        probes = []
        for column in ("value", "key"):
            f = aliased(cell)
            where = in_block(f, of, kind == "small")
            if n > 1:
                where.append(tuple_(f.value, f.key) > tuple_(of.c[f"{kind}{n - 1}_value"], of.c[f"{kind}{n - 1}_key"]))
            probes.append(select(getattr(f, column)).where(*where).order_by(f.value, f.key).limit(1)
                          .scalar_subquery().label(f"{kind}{n}_{column}"))
        return probes

    # The first 0: the first 団体 by code without a row there, by walking the 団体 in code order
    # until one has none (a few steps where 0s are many) — not at all once every 団体 has one.
    f = aliased(cell)
    taken = exists().where(f.metric == blocks.c.metric, f.stage == blocks.c.stage, f.key == Organization.code) \
        .correlate_except(f)
    f = aliased(cell)
    counted = select(func.count()).where(f.metric == blocks.c.metric, f.stage == blocks.c.stage).scalar_subquery()
    zero = case((counted >= select(func.count()).select_from(Organization).scalar_subquery(), null()),
                else_=select(Organization.code).where(~taken).order_by(Organization.code).limit(1).scalar_subquery())
    level = select(blocks.c.metric, blocks.c.stage,
                   primaries(lambda f: func.count()).label("small_count"),
                   primaries(lambda f: func.coalesce(func.sum(f.value), 0)).label("small_sum"),
                   zero.label("zero")).subquery()
    for n in range(1, max(SMALL, KEEP) + 1):  # the n-th of each kind, after the (n−1)-th found before
        probes = [probe for kind, most in (("small", SMALL), ("least", KEEP)) if n <= most
                  for probe in first(level, kind, n)]
        level = select(level, *probes).subquery()
    return select(literal(BLOCK), level.c.metric, level.c.stage, *[cast(level.c[name], BigInteger) for name in _NUMBERS],
                  *[cast(level.c[name], String) for name in _TEXTS])


def _binding(funnel: list[str]):
    """(metric, stage) of each block among the cohorts `funnel` whose relation holds over someone,
    as FunnelData.binding decides it: R1, the country's cell = PAIRS; for `registered` also R3, the
    time series' month's `registered` = PAIRS — either one not 0 (a block of nobody needs no read)."""
    fc = FigureCounter

    def at(column, scope):
        return func.sum(case((fc.key == scope, column), else_=0))
    r1 = [select(fc.metric, literal(stage).label("stage"))
          .where(fc.metric.in_(funnel), fc.key.in_([NATIONAL, PAIRS])).group_by(fc.metric)
          .having(and_(at(column, NATIONAL) == at(column, PAIRS), at(column, PAIRS) > 0))
          for stage in STAGES if stage != MOVED_IN for column in [getattr(fc, COLUMN[stage])]]
    month = literal(PREFIX).concat(func.substr(fc.key, 1, 7))
    series = select(month.label("metric"), func.sum(fc.registered).label("registered")) \
        .where(fc.metric == "day").group_by(month).subquery()
    pairs = aliased(FigureCounter)
    r3 = select(series.c.metric, literal(REGISTERED).label("stage")).where(
        series.c.metric.in_(funnel), series.c.registered > 0, series.c.registered == (
            select(func.sum(pairs.registered)).where(pairs.metric == series.c.metric, pairs.key == PAIRS)
            .scalar_subquery()))
    return union(*r1, r3)


def _data(months, scopes, full, moved_in: bool, min_cell: int, today: date, *, blocks: bool) -> FunnelData:
    metrics = ("total", "day") + (tuple(m for m in GEOGRAPHY if m != "total") if moved_in else ())
    organizations = tuple(value for row in db.session.execute(  # reference data: the same in every snapshot
        select(Organization.code, Organization.kind, Organization.prefecture_code).order_by(Organization.code))
        for value in row)
    read = _read(months, scopes, full, metrics, moved_in=moved_in, blocks=min_cell if blocks else None)
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
