"""The relationship funnel as published (API.md "Relationship funnel"): a 団体's own staff see its
counts as they are; everyone else (the national office, for one 団体 or the whole country) through
`suppression.Release`s, in two steps, coarse before fine — the usual order for linked tables:

1. the country's cells, published on their own (`published_country`): they relate to nothing but
   the national moved_in total (public), so their release is the country's cohorts and nothing
   else, whatever the number of 団体 or registrations;
2. a 団体's cells, with the relations that hold between them and the other published figures,
   the country's cells entering as step 1 published them: known where published, kept unknown
   where suppressed — like the time series' and the geography's cells below.

Cells: ("funnel", scope, cohort, stage), scope a 団体's code or NATIONAL (the country's distinct
people). The relations, by the counting definitions (stages.py), each written only where it holds
exactly — where the count that would close it (never published) is 0, as an attacker may assume:

- R1, per cohort and stage: the 団体' cells add up to the country's cell plus the people counted
  with several 団体 (or, for a stage, at a 団体 they are not registered with). The PAIRS counter is
  the sum, so whether they add up exactly is known without reading every 団体;
- R3, per cohort: the 団体' `registered` cells add up to the month's `registered` of the time series
  (/stats/timeseries) plus the registrations with a 団体 the person had registered with before;
- R2, per 団体: its `moved_in` cells add up to its `moved_in` in /stats/by-organization plus the
  people who moved in twice; the country's to the national moved_in total (public) plus the same
  (the one relation of step 1).

Where a relation does not hold exactly, it tells an attacker nothing about any single cell (the
count that closes it appears nowhere else), so it is left out. Stages are not nested (evidence
counts as an activity without an application; renewal is not premium's subset once a premium
lapses and is granted again), and nothing adds a 団体's stages or cohorts up to another published
figure but R2: no other relation holds.

The other figures' cells (the country's included) enter as they publish them: a published one is
known (public, but `elsewhere`: not a total), a suppressed one stays hidden (its own release decided
that; this one keeps it unknown). A funnel cell that those published cells and the zeros give away
(a 団体 whose people all moved in within one cohort: that cohort's moved_in is its published
moved_in) is never hidden as a complement — an attacker who knows which suppressed cells are 0
would read it off anyway — so the complement is taken elsewhere (suppression.py,
`Release.cell(elsewhere=True)`). A month's `registered` is the only series cell the funnel reaches,
and no funnel relation links two months: it enters alone. The 団体' moved_in are linked to each
other by the funnel (R1 over a cohort's 団体, R2 per 団体) and by the geography (a prefecture = Σ its
団体, the country = Σ prefectures): once R2 is reached, the geography's moved_in cells and relations
enter too, with every 団体's R2 — the moved-in figures are protected as one system.

A 団体 cell's suppression depends on the cells it is connected to through these relations (its
component): each request works out the components of the cells it publishes, reading more counters
where a relation pulls them in (in one statement with everything else it reads, so the relations
hold in the snapshot), and the same cell comes out the same in every view. Zeros: a relation over
every cohort of one 団体 (R2) names all its cells; a relation over every 団体 (R1, R3) names those
that are not 0 and, for all its zeros, the first 団体 by code with 0 there — the one a 0 would be
hidden as when nothing else can hide a count (suppression.py; any 0 there hides alike, and that one
is the one the full relation would pick). Every other 0 is published as 0. The cost of a 団体's view
is its components, never the registrations: at most every 団体 of a cohort, and the moved-in figures;
the country's is its cohorts.
"""
from collections import Counter
from dataclasses import dataclass, field

from registry.figures.service import Geography, series_release
from registry.figures.stages import COLUMN, MOVED_IN, NATIONAL, PAIRS, PREFIX, REGISTERED, STAGES, cohort_metric
from registry.figures.suppression import Release
from registry.figures.sums import CounterSums

COUNTRY_MOVED_IN = ("moved_in", "")  # the national moved_in total (public)


class NeedMore(Exception):
    """The component reaches counters not read yet: read them too (in one statement) and start over.
    `moved_in`: every 団体's moved_in in every cohort, with the geography they relate to."""

    def __init__(self, cohorts=(), scopes=(), moved_in=False):
        super().__init__("more counters needed")
        self.cohorts, self.scopes, self.moved_in = set(cohorts), set(scopes), moved_in


@dataclass
class FunnelData:
    """What has been read: {(metric, key): Counter(field → sum)} of the funnel metrics (every key of
    the cohorts in `full`, the `scopes` in every cohort, with `moved_in_read` every key whose
    moved_in is not 0, and then the geography), and the cells of other figures the
    relations reach into, as they are published — (value, suppressed?, worked out anyway?): the
    country's cells ({(cohort, stage): …}, step 1), the time series' months' `registered`, and when
    the geography was read, each 団体's and prefecture's moved_in. `codes`: every 団体 by code;
    `prefecture_of`: a 団体's prefecture."""
    cohorts: list[str]
    sums: dict
    full: set[str] = field(default_factory=set)
    scopes: set[str] = field(default_factory=set)
    moved_in_read: bool = False
    country: dict = field(default_factory=dict)
    series: dict = field(default_factory=dict)
    moved_in: dict | None = None
    moved_in_prefectures: dict | None = None
    moved_in_total: int = 0
    codes: tuple = ()
    prefecture_of: dict = field(default_factory=dict)
    _members: dict | None = field(default=None, repr=False)

    def count(self, scope: str, cohort: str, stage: str) -> int:
        if scope not in (NATIONAL, PAIRS) and scope not in self.scopes and cohort not in self.full \
                and not (stage == MOVED_IN and self.moved_in_read):
            raise NeedMore(scopes=[scope])
        return self.sums.get((cohort_metric(cohort), scope), {}).get(COLUMN[stage], 0)

    def members(self, cohort: str, stage: str) -> list[str]:
        """The 団体 with anyone in this cohort's stage (the cohort must be read whole)."""
        if not self.count(PAIRS, cohort, stage):
            return []
        if stage == MOVED_IN and not self.moved_in_read:
            raise NeedMore(moved_in=True)
        if cohort not in self.full and stage != MOVED_IN:
            raise NeedMore(cohorts=[cohort])
        if self._members is None:  # every (cohort, stage)'s, in one pass over what was read
            self._members = {}
            for (metric, key), c in self.sums.items():
                if metric.startswith(PREFIX) and key not in (NATIONAL, PAIRS):
                    for name in STAGES:
                        if c.get(COLUMN[name], 0):
                            self._members.setdefault((metric, name), []).append(key)
            for found in self._members.values():
                found.sort()
        return list(self._members.get((cohort_metric(cohort), stage), ()))

    def zero(self, cohort: str, stage: str) -> str | None:
        """The first 団体 by code with 0 in this cohort's stage."""
        taken = set(self.members(cohort, stage))
        return next((code for code in self.codes if code not in taken), None)

    @property
    def joined(self) -> bool:
        """Whether the country's moved_in cells are in a relation with the 団体' (an R1 of moved_in
        holds): then they are published with the moved-in system, not on their own."""
        return any(self.binding(("R1", cohort, MOVED_IN)) for cohort in self.cohorts)

    def geography(self) -> None:
        if self.moved_in is None:
            raise NeedMore(moved_in=True)

    def external(self, cell: tuple) -> tuple[int, bool, bool]:
        """(value, suppressed?, worked out anyway by an attacker who knows the zeros?) of another
        figure's cell."""
        if cell[0] == "funnel":  # the country's, as step 1 published it
            return self.country[(cell[2], cell[3])]
        if cell[0] == "series":
            return self.series.get(cell[1], (0, False, False))
        if cell == COUNTRY_MOVED_IN:
            return self.moved_in_total, False, False
        self.geography()
        if cell[0] == "moved_in_pref":
            return self.moved_in_prefectures.get(cell[1], (0, False, False))
        return self.moved_in.get(cell[1], (0, False, False))

    def binding(self, rid: tuple) -> bool:
        """Whether relation `rid` holds exactly (the count that would close it is 0; an R2 of a 団体
        nobody moved in with names only zeros and is left out)."""
        kind, subject = rid[0], rid[1]
        if kind == "R1":
            return self.count(NATIONAL, subject, rid[2]) == self.count(PAIRS, subject, rid[2])
        if kind == "R3":
            return self.series.get(subject, (0, False, False))[0] == self.count(PAIRS, subject, REGISTERED)
        if kind == "G":
            self.geography()
            return True
        if subject == NATIONAL:
            return self.moved_in_total == sum(self.count(NATIONAL, c, MOVED_IN) for c in self.cohorts)
        total = self.external(("moved_in", subject))[0]
        return total > 0 and total == sum(self.count(subject, c, MOVED_IN) for c in self.cohorts)


def key(scope: str, cohort: str, stage: str) -> tuple:
    return ("funnel", scope, cohort, stage)


def geography_subjects(data: FunnelData) -> list[str]:
    """The geography's relations between moved_in cells: "" (the country = Σ prefectures) and each
    prefecture (= Σ its 団体)."""
    return [""] + sorted(set(data.prefecture_of.values()))


def geography_cells(data: FunnelData) -> list[tuple]:
    return [COUNTRY_MOVED_IN, *(("moved_in_pref", p) for p in geography_subjects(data)[1:]),
            *(("moved_in", code) for code in data.codes)]


def geography_equation(data: FunnelData, subject: str) -> tuple[tuple, list[tuple]]:
    if subject == "":
        return COUNTRY_MOVED_IN, [("moved_in_pref", p) for p in geography_subjects(data)[1:]]
    return ("moved_in_pref", subject), [("moved_in", b) for b in data.codes if data.prefecture_of[b] == subject]


class Component:
    """The binding relations reached from some cells, and the cells they name. Two kinds:

    - a cohort's stage other than moved_in is a block of its own: R1 (and for `registered` R3)
      over the country's cell (the series' month), the 団体 that are not 0, and the first 0;
    - moved_in is one system (the geography links every 団体's moved_in): the geography's moved_in
      cells and relations, every R2 that holds with all the cells of its 団体 (or of the country),
      and every R1 of a cohort's moved_in that holds, with the 団体 not 0 there and the first 0 of
      a 団体 whose moved_in says nothing of it (R2 not holding, or a published total that is not 0).

    A cell is in no relation that holds, or in one of these: either way the same whatever view
    asked, so each cell comes out the same everywhere."""

    def __init__(self, data: FunnelData):
        self.data = data
        self.relations: set = set()
        self.cells: set = set()
        self.moved_in = False
        self._blocks: dict | None = None  # built by `equation` once the component is whole

    def zero(self, cohort: str, stage: str) -> str | None:
        """The first 0 a relation over every 団体 names (see the class docstring)."""
        data = self.data
        taken = set(data.members(cohort, stage))
        for code in data.codes:
            if code in taken:
                continue
            if stage == MOVED_IN and not self._free_zero(code):
                continue
            return code
        return None

    def _free_zero(self, code: str) -> bool:
        """A 団体's 0 in a cohort's moved_in that its R2 does not give away: its R2 does not hold, or
        holds over a published total that is not 0 (then it names that 0 itself)."""
        total, hidden, _ = self.data.external(("moved_in", code))
        return not (total == 0 and not hidden) or not self._r2(code)

    def _r2(self, scope: str) -> bool:
        """R2 of a 団体 (or NATIONAL) holds exactly."""
        data = self.data
        if scope == NATIONAL:
            return data.moved_in_total == sum(data.count(NATIONAL, c, MOVED_IN) for c in data.cohorts)
        total = data.external(("moved_in", scope))[0]
        return total == sum(data.count(scope, c, MOVED_IN) for c in data.cohorts)

    def _r2_names(self, scope: str) -> bool:
        """R2 holds and can say something: its total is not a published 0 (then all its cells are
        0 and stay published as 0)."""
        if not self._r2(scope):
            return False
        if scope == NATIONAL:
            return True
        total, hidden, _ = self.data.external(("moved_in", scope))
        return total > 0 or hidden

    def reach(self, targets: list[tuple]) -> None:
        """Add the components of a 団体's cells, or of the country's moved_in cells where they are
        `joined` (the country's others are published on their own)."""
        data = self.data
        for cell in targets:
            _, scope, cohort, stage = cell
            if scope == NATIONAL:
                self._moved_in_system()
                continue
            value = data.count(scope, cohort, stage)
            if stage == MOVED_IN:
                if self._in_moved_in_system(cell, value):
                    self._moved_in_system()
                elif value:
                    self.cells.add(cell)
                continue
            block = self._block_relations(cohort, stage)
            if block and (value > 0 or self.zero(cohort, stage) == scope):
                self._block(cohort, stage, block)
            elif value:
                self.cells.add(cell)  # in no relation that holds: suppressed by its own size only

    def _block_relations(self, cohort: str, stage: str) -> set:
        data, out = self.data, set()
        if data.binding(("R1", cohort, stage)):
            out.add(("R1", cohort, stage))
        if stage == REGISTERED and data.binding(("R3", cohort)):
            out.add(("R3", cohort))
        return out

    def _block(self, cohort: str, stage: str, relations: set) -> None:
        data = self.data
        self.relations |= relations
        zero = self.zero(cohort, stage)
        self.cells.update(key(b, cohort, stage) for b in data.members(cohort, stage) + ([zero] if zero else []))
        if ("R1", cohort, stage) in relations:
            self.cells.add(key(NATIONAL, cohort, stage))
        if ("R3", cohort) in relations:
            self.cells.add(("series", cohort))

    def _in_moved_in_system(self, cell: tuple, value: int) -> bool:
        _, scope, cohort, _ = cell
        if self._r2_names(scope):
            return True
        return self.data.binding(("R1", cohort, MOVED_IN)) and (value > 0 or self.zero(cohort, MOVED_IN) == scope)

    def _moved_in_system(self) -> None:
        if self.moved_in:
            return
        self.moved_in = True
        data = self.data
        data.geography()
        self.relations.update(("G", subject) for subject in geography_subjects(data))
        self.cells.update(geography_cells(data))
        if data.joined:  # every one of the country's moved_in cells is published here
            self.cells.update(key(NATIONAL, cohort, MOVED_IN) for cohort in data.cohorts)
        for scope in (NATIONAL, *data.codes):
            if self._r2_names(scope):
                self.relations.add(("R2", scope))
                self.cells.update(key(scope, cohort, MOVED_IN) for cohort in data.cohorts)
        for cohort in data.cohorts:
            if data.binding(("R1", cohort, MOVED_IN)):
                self._block(cohort, MOVED_IN, {("R1", cohort, MOVED_IN)})

    def equation(self, rid: tuple) -> tuple[tuple, list[tuple]]:
        """(total, parts) of a relation, once the component is whole (the 0s it leaves out are
        published as 0 and add nothing)."""
        data = self.data
        if rid[0] == "G":
            return geography_equation(data, rid[1])
        if rid[0] == "R2":
            total = COUNTRY_MOVED_IN if rid[1] == NATIONAL else ("moved_in", rid[1])
            return total, [key(rid[1], cohort, MOVED_IN) for cohort in data.cohorts]
        cohort, stage = rid[1], (rid[2] if rid[0] == "R1" else REGISTERED)
        total = key(NATIONAL, cohort, stage) if rid[0] == "R1" else ("series", cohort)
        if self._blocks is None:  # the 団体' cells of each (cohort, stage), in one pass
            self._blocks = {}
            for c in sorted(self.cells, key=repr):
                if c[0] == "funnel" and c[1] != NATIONAL:
                    self._blocks.setdefault((c[2], c[3]), []).append(c)
        return total, self._blocks.get((cohort, stage), [])


def release_of(data: FunnelData, component: Component) -> Release:
    """The component's cells and relations, in one order whatever view asked for them."""
    release = Release()
    for cell in sorted(component.cells, key=repr):
        if cell[0] == "funnel" and (cell[1] != NATIONAL or (cell[3] == MOVED_IN and data.joined)):
            release.cell(cell, data.count(*cell[1:]))
        else:
            _external(release, data, cell)
    for rid in sorted(component.relations, key=repr):
        total, parts = component.equation(rid)
        release.sum_of(total, parts)
    return release


def _external(release: Release, data: FunnelData, cell: tuple) -> None:
    """Another release's cell, as it published it (the national moved_in total: a public total)."""
    value, hidden, strong_knows = data.external(cell)
    release.cell(cell, value, public=not hidden, hidden=hidden, strong_knows=strong_knows,
                 elsewhere=cell != COUNTRY_MOVED_IN)


def country_release(data: FunnelData) -> Release:
    """Step 1: the country's cells, with what relates them to other published figures once the 団体'
    cells (published after them) are taken out of the relations:

    - a cohort whose R1 and R3 both hold for `registered`: the country's cell is the time series'
      month (both are the 団体' cells' sum);
    - R2 of the country, where it holds: its moved_in cells add up to the national moved_in total.

    Nothing else: the other stages' R1 are the only relations their 団体' cells are in, so a 団体's
    cell can only be worked out from the country's when it is the one that is not 0 there, and then
    it is the country's, suppressed alike. Not so for moved_in, where R1 and R2 chain through the
    geography: where an R1 of moved_in holds (`joined`), the country's moved_in cells are left out
    here and published with the moved-in system (`Component`)."""
    release = Release()
    joined = data.joined
    release.cell(COUNTRY_MOVED_IN, data.moved_in_total, public=True)
    for cohort in data.cohorts:
        for stage in STAGES:
            if stage != MOVED_IN or not joined:
                release.cell(key(NATIONAL, cohort, stage), data.count(NATIONAL, cohort, stage))
    for cohort in data.cohorts:
        if data.binding(("R1", cohort, REGISTERED)) and data.binding(("R3", cohort)):
            _external(release, data, ("series", cohort))
            release.equal(key(NATIONAL, cohort, REGISTERED), ("series", cohort))
    if not joined and data.binding(("R2", NATIONAL)):
        release.sum_of(COUNTRY_MOVED_IN, [key(NATIONAL, cohort, MOVED_IN) for cohort in data.cohorts])
    return release


def published_country(data: FunnelData, min_cell: int, *, complementary: bool = True) -> dict:
    """{(cohort, stage): (value, suppressed?, worked out anyway by an attacker who knows the zeros?)}
    of the country's cells."""
    release = country_release(data)
    return _as_published(release, release.protect(min_cell, complementary=complementary),
                         {(cohort, stage): key(NATIONAL, cohort, stage) for cohort in data.cohorts
                          for stage in STAGES if key(NATIONAL, cohort, stage) in release})


def country_cells(country: dict) -> dict:
    """{(cohort, stage): published value} (None: suppressed) of `published_country`'s result."""
    return {cell: None if hidden else value for cell, (value, hidden, _) in country.items()}


def published_cells(data: FunnelData, scope: str, min_cell: int, *, complementary: bool = True) -> dict:
    """{(cohort, stage): published value} of `scope`'s cells (None: suppressed)."""
    targets = [key(scope, cohort, stage) for cohort in data.cohorts for stage in STAGES]
    if scope == NATIONAL:
        values = country_cells(data.country if complementary else
                               published_country(data, min_cell, complementary=False))
        targets = [cell for cell in targets if (cell[2], cell[3]) not in values]  # the moved-in system's
        if not targets:
            return values
    else:
        values = {}
    component = Component(data)
    component.reach(targets)
    release = release_of(data, component)
    protected = release.protect(min_cell, complementary=complementary)
    return values | {(cell[2], cell[3]): protected.get(cell) if cell in release else data.count(*cell[1:])
                     for cell in targets}


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


def make_data(cohorts: list[str], sums: dict, *, full, scopes, min_cell: int, organizations: tuple[str, ...],
              geography: CounterSums | None = None, moved_in: bool = False) -> FunnelData:
    """FunnelData from the counters read ({(metric, key): Counter}: the funnel's, "total" and "day"):
    the country's cells as step 1 publishes them, the time series' months as /stats/timeseries
    publishes them; `organizations`: every 団体
    (`service.directory`); with `geography` (the counters of service.GEOGRAPHY as
    /stats/by-organization reads them), the 団体' and prefectures' moved_in as published there;
    `moved_in`: `sums` has every key whose moved_in is not 0 (so has every cohort in `full`)."""
    total = sums.get(("total", ""), Counter())
    series = series_release({key: c for (metric, key), c in sums.items() if metric == "day"}, total)
    codes = organizations[0::3]
    data = FunnelData(cohorts=cohorts, sums=sums, full=set(full), scopes=set(scopes), moved_in_total=total["moved_in"],
                      moved_in_read=moved_in or set(cohorts) <= set(full),
                      series=_as_published(series, series.protect(min_cell),
                                           {m: ("month", m, "registered") for m in {k[1] for k in series.keys
                                                                                     if k[0] == "month"}}),
                      codes=tuple(codes), prefecture_of=dict(zip(codes, organizations[2::3])))
    if geography is not None:
        published = Geography(geography, organizations, {}, min_cell)
        data.moved_in = _as_published(published.release, published.published,
                                      {code: ("organization", code, "moved_in") for code in codes})
        data.moved_in_prefectures = _as_published(published.release, published.published,
                                                  {p: ("prefecture", p, "moved_in") for p in set(organizations[2::3])})
    data.country = published_country(data, min_cell)
    return data


def _as_published(release: Release, protected, cells: dict) -> dict:
    """{name: (value, suppressed?, worked out anyway by an attacker who knows the zeros?)}."""
    hidden, strong = protected.hidden, protected.strong_knows
    return {name: (release.value(cell), cell in hidden, cell in strong) for name, cell in cells.items()}
