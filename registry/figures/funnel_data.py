"""The relationship funnel's counters as read, and its first step (funnel_release.py): the country's
cells, published on their own before any 団体's.

`FunnelData` holds what the service read (funnel_service.py) or a test built (`make_data`), with the
other figures' cells the funnel's relations reach into, as those figures publish them; it raises
`NeedMore` where a relation reaches counters not read yet.
"""
from collections import Counter
from dataclasses import dataclass, field

from registry.figures.funnel_blocks import Block, summarise
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
    blocks: dict = field(default_factory=dict)  # (cohort, stage) → Block, as read (funnel_blocks.py)
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

    def members(self, cohort: str) -> list[str]:
        """The 団体 with anyone in this cohort's moved_in, by code (the other stages are read as
        blocks: `block`)."""
        if not self.count(PAIRS, cohort, MOVED_IN):
            return []
        if not self.moved_in_read:
            raise NeedMore(moved_in=True)
        if self._members is None:  # every cohort's, in one pass over what was read
            self._members = {}
            for (metric, key), c in self.sums.items():
                if metric.startswith(PREFIX) and key not in (NATIONAL, PAIRS) and c.get("moved_in", 0):
                    self._members.setdefault(metric, []).append(key)
            for found in self._members.values():
                found.sort()
        return list(self._members.get(cohort_metric(cohort), ()))

    def block(self, cohort: str, stage: str, min_cell: int) -> Block:
        """A stage's block (not moved_in): as read, or from the cohort read whole; a block of nobody
        (every cell 0) needs no read."""
        found = self.blocks.get((cohort, stage))
        if found is None:
            metric, column = cohort_metric(cohort), COLUMN[stage]
            if not self.count(PAIRS, cohort, stage):
                values = {}
            elif cohort in self.full:
                values = {code: c.get(column, 0) for (m, code), c in self.sums.items()
                          if m == metric and code not in (NATIONAL, PAIRS)}
            else:
                raise NeedMore(cohorts=[cohort])
            found = self.blocks[(cohort, stage)] = summarise(values, self.codes, min_cell)
        return found

    @property
    def joined(self) -> bool:
        """Whether the country's moved_in cells are in a relation with 団体 cells that are not all 0 (an
        R1 of moved_in holds over someone): then they are published with the moved-in system."""
        return any(self.count(PAIRS, cohort, MOVED_IN) and self.binding(("R1", cohort, MOVED_IN))
                   for cohort in self.cohorts)

    def geography(self) -> None:
        if self.moved_in is None or not self.moved_in_read:
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
    """The geography's relations of moved_in: "" (the country = Σ prefectures), each prefecture (= Σ 団体)."""
    return [""] + sorted(set(data.prefecture_of.values()))


def geography_cells(data: FunnelData) -> list[tuple]:
    return [COUNTRY_MOVED_IN, *(("moved_in_pref", p) for p in geography_subjects(data)[1:]),
            *(("moved_in", code) for code in data.codes)]


def geography_equation(data: FunnelData, subject: str) -> tuple[tuple, list[tuple]]:
    if subject == "":
        return COUNTRY_MOVED_IN, [("moved_in_pref", p) for p in geography_subjects(data)[1:]]
    return ("moved_in_pref", subject), [("moved_in", b) for b in data.codes if data.prefecture_of[b] == subject]


def external_cell(release: Release, data: FunnelData, cell: tuple) -> None:
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
    geography: where an R1 of moved_in holds over someone (`joined`), the country's moved_in cells
    are left out here and published with the moved-in system (funnel_release.py)."""
    release = Release()
    joined = data.joined
    release.cell(COUNTRY_MOVED_IN, data.moved_in_total, public=True)
    for cohort in data.cohorts:
        for stage in STAGES:
            if stage != MOVED_IN or not joined:
                release.cell(key(NATIONAL, cohort, stage), data.count(NATIONAL, cohort, stage))
    for cohort in data.cohorts:
        if data.binding(("R1", cohort, REGISTERED)) and data.binding(("R3", cohort)):
            external_cell(release, data, ("series", cohort))
            release.equal(key(NATIONAL, cohort, REGISTERED), ("series", cohort))
    if not joined:
        if data.binding(("R2", NATIONAL)):
            release.sum_of(COUNTRY_MOVED_IN, [key(NATIONAL, cohort, MOVED_IN) for cohort in data.cohorts])
        for cohort in data.cohorts:  # an R1 over nobody: the 団体' published 0s give the country's 0 away
            if data.binding(("R1", cohort, MOVED_IN)):
                release.relation([(key(NATIONAL, cohort, MOVED_IN), 1)])
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
