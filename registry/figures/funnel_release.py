"""The relationship funnel as published (API.md "Relationship funnel"): a 団体's own staff see its
counts as they are; everyone else (the national office, for one 団体 or the whole country) through a
`suppression.Release` with the relations that hold between its cells and the other published figures.

Cells: ("funnel", scope, cohort, stage), scope a 団体's code or NATIONAL (the country's distinct
people). The relations, by the counting definitions (stages.py), each written only where it holds
exactly — where the count that would close it (never published) is 0, as an attacker may assume:

- R1, per cohort and stage: the 団体' cells add up to the country's cell plus the people counted
  with several 団体 (or, for a stage, at a 団体 they are not registered with). The PAIRS counter is
  the sum, so whether they add up exactly is known without reading every 団体;
- R3, per cohort: the 団体' `registered` cells add up to the month's `registered` of the time series
  (/stats/timeseries) plus the registrations with a 団体 the person had registered with before;
- R2, per 団体: its `moved_in` cells add up to its `moved_in` in /stats/by-organization plus the
  people who moved in twice; and the country's to the national moved_in total (public).

The time series' and the geography's cells enter as they publish them: a published one is known
(public), a suppressed one stays hidden (its own release decided that; this one keeps it unknown).
Where a relation does not hold exactly, it tells an attacker nothing about any single cell (the
count that closes it appears nowhere else), so it is left out. Stages are not nested (evidence
counts as an activity without an application; renewal is not premium's subset once a premium
lapses and is granted again), and nothing adds a 団体's stages or cohorts up to another published
figure but R2: no other relation holds.

A cell's suppression depends on the cells it is connected to through these relations: each request
works out that component from the cells it publishes (reading more counters where a relation pulls
them in, in one statement with everything else it reads, so the relations hold in the snapshot), so
the same cell comes out the same in every view. A 0 takes part only where a relation names every
cell (R2); elsewhere it is published as 0 and hides nothing. The cost is the components, never the
registrations: at most every 団体 of a cohort.
"""
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from registry.figures.recount import FIELDS
from registry.figures.stages import COLUMN, MOVED_IN, NATIONAL, PAIRS, REGISTERED, STAGES, cohort_metric
from registry.figures.suppression import Release


class NeedMore(Exception):
    """The component reaches counters not read yet: read them too (in one statement) and start over."""

    def __init__(self, cohorts=(), scopes=(), geography=False):
        super().__init__("more counters needed")
        self.cohorts, self.scopes, self.geography = set(cohorts), set(scopes), geography


@dataclass
class FunnelData:
    """What has been read: {(metric, key): Counter(field → sum)} of the funnel metrics (every key of
    the cohorts in `full`, the `scopes` in every cohort), and the published cells the relations
    reach into: the time series' months' `registered` (value, suppressed?), the geography's 団体
    `moved_in` (value, suppressed?) when read, the national moved_in total."""
    cohorts: list[str]
    sums: dict
    full: set[str] = field(default_factory=set)
    scopes: set[str] = field(default_factory=set)
    series: dict = field(default_factory=dict)  # month → (registered, hidden)
    moved_in: dict | None = None  # 団体 → (moved_in, hidden); None: not read
    moved_in_total: int = 0

    def count(self, scope: str, cohort: str, stage: str) -> int:
        return self.sums.get((cohort_metric(cohort), scope), {}).get(COLUMN[stage], 0)

    def members(self, cohort: str, stage: str) -> list[str]:
        """The 団体 with anyone in this cohort's stage (the cohort must be read whole)."""
        if cohort not in self.full:
            raise NeedMore(cohorts=[cohort])
        metric = cohort_metric(cohort)
        return sorted(key for (m, key), c in self.sums.items()
                      if m == metric and key not in (NATIONAL, PAIRS) and c.get(COLUMN[stage], 0))

    def own(self, scope: str) -> None:
        """Every cohort's cells of `scope` must be read."""
        if scope != NATIONAL and scope not in self.scopes and not all(c in self.full for c in self.cohorts):
            raise NeedMore(scopes=[scope])


def key(scope: str, cohort: str, stage: str) -> tuple:
    return ("funnel", scope, cohort, stage)


class Component:
    """The binding relations reached from some cells, and the cells they name."""

    def __init__(self, data: FunnelData):
        self.data = data
        self.relations: dict = {}  # relation id → (total cell, parts)
        self.cells: set = set()

    def reach(self, start: list[tuple]) -> None:
        data, todo = self.data, list(start)
        while todo:
            cell = todo.pop()
            if cell in self.cells:
                continue
            self.cells.add(cell)
            for rid in self._relations_of(cell):
                if rid not in self.relations:
                    self.relations[rid] = relation = self._relation(rid)
                    todo.extend(c for c in (relation[0], *relation[1]) if c[0] == "funnel")
        del data

    def _relations_of(self, cell: tuple) -> list:
        _, scope, cohort, stage = cell
        data, out = self.data, []
        national, pairs = data.count(NATIONAL, cohort, stage), data.count(PAIRS, cohort, stage)
        if pairs and national == pairs and (scope == NATIONAL or data.count(scope, cohort, stage)):
            out.append(("R1", cohort, stage))
        if scope != NATIONAL and stage == REGISTERED and data.count(scope, cohort, stage):
            published = data.series.get(cohort, (0, False))[0]
            if pairs and published == pairs:
                out.append(("R3", cohort))
        if stage == MOVED_IN:
            if scope == NATIONAL:
                if data.moved_in_total == sum(data.count(NATIONAL, c, MOVED_IN) for c in data.cohorts):
                    out.append(("R2", NATIONAL))
            else:
                data.own(scope)
                if data.moved_in is None:
                    raise NeedMore(geography=True)
                if data.moved_in.get(scope, (0, False))[0] == sum(data.count(scope, c, MOVED_IN) for c in data.cohorts):
                    out.append(("R2", scope))
        return out

    def _relation(self, rid: tuple) -> tuple:
        data = self.data
        if rid[0] == "R1":
            _, cohort, stage = rid
            return key(NATIONAL, cohort, stage), [key(b, cohort, stage) for b in data.members(cohort, stage)]
        if rid[0] == "R3":
            return ("series", rid[1]), [key(b, rid[1], REGISTERED) for b in data.members(rid[1], REGISTERED)]
        scope = rid[1]
        if scope != NATIONAL:
            data.own(scope)
        total = ("moved_in", "") if scope == NATIONAL else ("moved_in", scope)
        return total, [key(scope, cohort, MOVED_IN) for cohort in data.cohorts]


def release_of(data: FunnelData, component: Component) -> Release:
    """The component's cells and relations, in one order whatever view asked for them."""
    release = Release()
    for cell in sorted(component.cells):
        _, scope, cohort, stage = cell
        release.cell(cell, data.count(scope, cohort, stage))
    for rid in sorted(component.relations, key=repr):
        total, parts = component.relations[rid]
        if total not in release:
            if total[0] == "series":
                value, hidden = data.series.get(total[1], (0, False))
            elif total[1] == "":
                value, hidden = data.moved_in_total, False
            else:
                value, hidden = data.moved_in.get(total[1], (0, False))
            release.cell(total, value, public=not hidden, hidden=hidden)
        release.sum_of(total, parts)
    return release


def published_cells(data: FunnelData, scope: str, min_cell: int, *, complementary: bool = True) -> dict:
    """{(cohort, stage): published value} of `scope`'s cells (None: suppressed)."""
    targets = [key(scope, cohort, stage) for cohort in data.cohorts for stage in STAGES]
    component = Component(data)
    component.reach([cell for cell in targets if data.count(*cell[1:]) or cell[3] == MOVED_IN])
    release = release_of(data, component)
    protected = release.protect(min_cell, complementary=complementary)
    out = {}
    for cell in targets:
        out[(cell[2], cell[3])] = protected.get(cell) if cell in release else data.count(*cell[1:])
    return out


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


def as_counters(sums: dict) -> dict:
    """{(metric, key): Counter} from rows of (metric, key, *FIELDS)."""
    return {k: Counter(dict(zip(FIELDS, v))) for k, v in sums.items()}


def empty_data(cohorts: list[str]) -> FunnelData:
    return FunnelData(cohorts=cohorts, sums=defaultdict(Counter))
