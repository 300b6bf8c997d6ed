"""The relationship funnel as published (API.md "Relationship funnel"): a 団体's own staff see its
counts as they are; everyone else (the national office, for one 団体 or the whole country) through
`suppression.Release`s, coarse before fine — the usual order for linked tables:

1. the country's cells (`country_release`), with what relates them to other published figures once
   the 団体' cells are taken out: whatever the number of 団体 or registrations. Only where an R1 of
   moved_in holds over someone are the country's moved_in cells published with the moved-in system;
2. a 団体's cells, with the relations between them and the other published figures, the country's
   cells entering as step 1 published them, like the time series' and the geography's cells.

Cells: ("funnel", scope, cohort, stage), scope a 団体's code or NATIONAL (the country's distinct
people). The relations, by the counting definitions (stages.py), each written only where it holds
exactly — where the count that would close it (never published) is 0, as an attacker may assume:

- R1, per cohort and stage: the 団体' cells add up to the country's cell plus the people counted
  with several 団体 (or, for a stage, at a 団体 they are not registered with). The PAIRS counter is
  the sum, so whether they add up exactly is known without reading every 団体;
- R3, per cohort: the 団体' `registered` cells add up to the month's `registered` of the time series
  (/stats/timeseries) plus the registrations with a 団体 the person had registered with before;
- R2, per 団体: its `moved_in` cells add up to its `moved_in` in /stats/by-organization plus the
  people who moved in twice; the country's to the national moved_in total (public) plus the same.

A relation that does not hold exactly tells an attacker nothing about any single cell (the count
that closes it appears nowhere else), so it is left out. Stages are not nested (evidence counts as
an activity without an application; renewal is not premium's subset once a premium lapses and is
granted again), and nothing adds a 団体's stages or cohorts up to another published figure but R2.

Other figures' cells enter as they publish them: a published one is known (public, `elsewhere`: not
a total), a suppressed one stays hidden (this release keeps it unknown). A funnel cell that those and
the zeros give away (a 団体 whose people all moved in within one cohort: that cohort's moved_in is
its published moved_in) is never a complement against the attacker who knows the zeros
(suppression.py). No funnel relation links two months of the series: a month enters alone. The
団体' moved_in are linked by the funnel (R1 over a cohort's 団体, R2 per 団体) and by the geography
(a prefecture = Σ its 団体, the country = Σ prefectures): once R2 is reached, the geography's
moved_in cells and relations enter too, with every 団体's R2 — protected as one system.

A 団体 cell's suppression depends on the cells its relations connect it to (its component), read in
one statement so the relations hold in the snapshot; the same cell comes out the same in every view.
Zeros: R2 names all of its 団体's cells; R1 and R3 name those that are not 0 and the first 団体 by
code with 0 there (the one a 0 would be hidden as when nothing else can hide a count). Every other
0 is published as 0. A block of R1/R3 (a stage but moved_in) is reduced to the cells a suppression
can touch (funnel_blocks.py), so a 団体's view costs a few cells per block and the moved-in system.
"""
from registry.figures.funnel_data import (COUNTRY_MOVED_IN, FunnelData, country_cells, external_cell,
                                          geography_cells, geography_equation, geography_subjects, key,
                                          published_country)
from registry.figures.stages import MOVED_IN, NATIONAL, PREFIX, REGISTERED, STAGES
from registry.figures.suppression import Release, suppress


class Component:
    """The binding relations reached from some cells, and the cells they name. Two kinds:

    - a cohort's stage other than moved_in is a block of its own: R1 (and for `registered` R3)
      over the country's cell (the series' month), the 団体 that are not 0, and the first 0 —
      reduced to the cells a suppression can touch (funnel_blocks.py);
    - moved_in is one system (the geography links every 団体's moved_in): the geography's moved_in
      cells and relations, every R2 that holds with all the cells of its 団体 (or of the country),
      and every R1 of a cohort's moved_in that holds, with the 団体 not 0 there and the first 0 of
      a 団体 whose moved_in says nothing of it (R2 not holding, or a published total that is not 0).

    A cell is in no relation that holds, or in one of these: either way the same whatever view
    asked, so each cell comes out the same everywhere."""

    def __init__(self, data: FunnelData, min_cell: int):
        self.data, self.min_cell = data, min_cell
        self.relations: set = set()
        self.cells: set = set()
        self.values: dict = {}  # the reduced blocks' cells → value
        self.reduced: dict = {}  # (cohort, stage) → the reduced block's parts
        self.moved_in = False
        self._blocks: dict | None = None  # built by `equation` once the component is whole

    def zero(self, cohort: str) -> str | None:
        """The first 0 an R1 of moved_in names (see the class docstring)."""
        taken = set(self.data.members(cohort))
        return next((code for code in self.data.codes if code not in taken and self._free_zero(code)), None)

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
        """Add the components of a 団体's cells but moved_in (published with the moved-in system, or
        alone when no relation that holds names them: `published_cells`)."""
        data = self.data
        for cell in targets:
            _, scope, cohort, stage = cell
            value = data.count(scope, cohort, stage)
            block = self._block_relations(cohort, stage)
            if block:
                self._reduced_block(cohort, stage, block)
            elif value:
                self.cells.add(cell)  # in no relation that holds: suppressed by its own size only

    def _block_relations(self, cohort: str, stage: str) -> set:
        data, out = self.data, set()
        if data.binding(("R1", cohort, stage)):
            out.add(("R1", cohort, stage))
        if stage == REGISTERED and data.binding(("R3", cohort)):
            out.add(("R3", cohort))
        return out

    def _moved_in_block(self, cohort: str) -> None:
        """An R1 of moved_in, whole: in the moved-in system with the geography and R2."""
        zero = self.zero(cohort)
        self.relations.add(("R1", cohort, MOVED_IN))
        self.cells.update(key(b, cohort, MOVED_IN) for b in self.data.members(cohort) + ([zero] if zero else []))
        self.cells.add(key(NATIONAL, cohort, MOVED_IN))

    def _reduced_block(self, cohort: str, stage: str, relations: set) -> None:
        """A stage's block (not moved_in), reduced (funnel_blocks.py): its kept cells, the primaries it
        does not keep as one never-published count, the rest as one count published elsewhere."""
        if (cohort, stage) in self.reduced:
            return
        block = self.data.block(cohort, stage, self.min_cell)
        parts = []
        for code, value in block.kept():
            parts.append(key(code, cohort, stage))
            self.values[parts[-1]] = value
        hidden, published = block.others()
        for name, value in (("primaries", hidden), ("published", published)):
            if value:
                parts.append(("others", cohort, stage, name))
                self.values[parts[-1]] = value
        self.reduced[(cohort, stage)] = parts
        self.cells.update(parts)
        self.relations |= relations
        if ("R1", cohort, stage) in relations:
            self.cells.add(key(NATIONAL, cohort, stage))
        if ("R3", cohort) in relations:
            self.cells.add(("series", cohort))

    def in_moved_in_system(self, cell: tuple) -> bool:
        _, scope, cohort, _ = cell
        if scope == NATIONAL:
            return True  # asked for only where it is `joined`
        value = self.data.count(*cell[1:])
        if self._r2_names(scope):
            return True
        return self.data.binding(("R1", cohort, MOVED_IN)) and (value > 0 or self.zero(cohort) == scope)

    def add_moved_in_system(self) -> None:
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
                self._moved_in_block(cohort)

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
        if stage != MOVED_IN:
            return total, self.reduced[(cohort, stage)]
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
        if cell in component.values:  # a reduced block's
            if cell[0] != "others":
                release.cell(cell, component.values[cell])
            elif cell[3] == "primaries":
                release.cell(cell, component.values[cell], internal=True)
            else:
                release.cell(cell, component.values[cell], public=True, elsewhere=True)
        elif cell[0] == "funnel" and (cell[1] != NATIONAL or (cell[3] == MOVED_IN and data.joined)):
            release.cell(cell, data.count(*cell[1:]))
        else:
            external_cell(release, data, cell)
    for rid in sorted(component.relations, key=repr):
        total, parts = component.equation(rid)
        release.sum_of(total, parts)
    return release


def published_cells(data: FunnelData, scope: str, min_cell: int, *, complementary: bool = True) -> dict:
    """{(cohort, stage): published value} of `scope`'s cells (None: suppressed)."""
    targets = [key(scope, cohort, stage) for cohort in data.cohorts for stage in STAGES]
    if scope == NATIONAL:
        values = country_cells(data.country if complementary else
                               published_country(data, min_cell, complementary=False))
        targets = [cell for cell in targets if (cell[2], cell[3]) not in values]  # the moved-in system's
    else:
        values = {}
    component = Component(data, min_cell)
    component.reach([cell for cell in targets if cell[3] != MOVED_IN])
    release = release_of(data, component)
    protected = release.protect(min_cell, complementary=complementary)
    system = [cell for cell in targets if cell[3] == MOVED_IN and component.in_moved_in_system(cell)]
    decided = {cell: protected.get(cell) for cell in targets if cell in release}
    if system:
        published = moved_in_system(data, min_cell, complementary)
        decided |= {cell: published[cell] for cell in system}
    # Any other cell is a 0 no relation names, one a reduced block left out, or in no relation that
    # holds: its size decides.
    return values | {(cell[2], cell[3]): decided[cell] if cell in decided
                     else suppress(data.count(*cell[1:]), min_cell) if complementary else data.count(*cell[1:])
                     for cell in targets}


_SYSTEMS: dict = {}  # the moved-in system's published cells, by everything they were worked out from


def moved_in_system(data: FunnelData, min_cell: int, complementary: bool = True) -> dict:
    """{cell: published value} of every funnel cell in the moved-in system. It changes only when
    someone moves in, and the same inputs always give the same result: it is kept for the last few
    inputs (looked up by all of them: never a result of other counts) in each process."""
    data.geography()
    ident = (min_cell, complementary, tuple(data.cohorts), data.codes, data.moved_in_total, data.joined,
             tuple(sorted((metric, code, c["moved_in"]) for (metric, code), c in data.sums.items()
                          if metric.startswith(PREFIX) and c.get("moved_in"))),
             tuple(sorted(data.moved_in.items())), tuple(sorted(data.moved_in_prefectures.items())),
             tuple(sorted(item for item in data.country.items() if item[0][1] == MOVED_IN)))
    found = _SYSTEMS.get(ident)
    if found is None:
        component = Component(data, min_cell)
        component.add_moved_in_system()
        release = release_of(data, component)
        protected = release.protect(min_cell, complementary=complementary)
        found = {cell: protected.get(cell) for cell in component.cells if cell[0] == "funnel"}
        while len(_SYSTEMS) >= 4:
            _SYSTEMS.pop(next(iter(_SYSTEMS)))
        _SYSTEMS[ident] = found
    return found


