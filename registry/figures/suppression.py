"""Small-cell suppression that holds against subtraction (API.md "Trust rules (v1.1)").

Every published figure goes through a `Release`: its cells (the published counts, the unsuppressed
totals they add up to, and counts that are never published but take part in a relation) and the
linear relations that hold between them by the counting definitions (a prefecture's 延べ is the sum
of its 団体', the national one the sum of the prefectures', a running total minus the previous one
is the period's net change, …). `Release.protect(min_cell)` then decides which cells to publish as
null:

- primary: every published count from 1 to min_cell − 1;
- complementary, repeated until nothing changes: wherever a hidden cell could be worked out from
  what is published — through one relation (a row minus its other cells) or any combination of
  them (exact rational Gaussian elimination over all the relations, which also gives the
  combination) — the smallest non-zero cell that combination rests on is hidden with it. The test
  is made against two attackers: one who knows only that hidden cells are unknowns, and one who
  also knows which hidden cells are 0. A 0 hidden beside a count protects it against subtraction,
  not against someone who guesses the 0 (and counts are never negative, so two relations can pin a
  count between a hidden 0 above and one below); against the second attacker only non-zero cells
  protect. A 0 is suppressed with a count (API.md: "a 0 beside a suppressed cell is then suppressed
  too") where nothing else can be: where the totals and the zeros alone give the count away, as for
  the only prefecture with premium registrations, the national premium total being published;
- a cell that follows from the unsuppressed totals alone (the by-tier 延べ, the time series' last
  running totals) is the totals' figure and published like them.

It works on the published cells only (the 47 prefectures, the ~1,900 団体, the periods of a
series), never on registrations: its cost does not grow with the registry. The same inputs always
give the same result, so a figure published in two places (the API's JSON and CSV, the dashboard and
its downloads, a later release built from the same cells) is suppressed the same way in each.

To publish something new (a monthly open-data release, a funnel per 団体): add its cells and their
relations to the `Release` of the figures they relate to (or build one), `protect()` it, and read
the rows through `Protected.get`. Cells a release shares with another must be built in the same
release, or the two suppressions can differ and be subtracted from each other — or, where a release
only relates its own cells to cells another publishes (the funnel to the time series and the
geography), enter those as the other publishes them: public, or `hidden` (kept unknown here too).
"""
import copy
import heapq
import logging
from collections import defaultdict
from collections.abc import Hashable, Iterable, Mapping
from fractions import Fraction

log = logging.getLogger(__name__)

PUBLISHED, PUBLIC, INTERNAL = "published", "public", "internal"


def suppress(value: int | None, min_cell: int) -> int | None:
    """The primary rule for one count: 1 … min_cell − 1 is published as null; 0 stays 0. On its own
    it can be undone by subtraction: publish through a `Release`."""
    if value is None or value == 0 or value >= min_cell:
        return value
    return None


class Release:
    """Cells and the relations between them; `protect()` says which cells are published as null.

    Keys are any hashable values (the figures use tuples such as ("organization", "212172",
    "registrations")). A relation is a list of (key, coefficient) whose weighted sum of values is 0;
    one that does not hold on the values given is left out (logged, and listed in `broken`): a
    subtraction over it does not give a hidden value.
    """

    def __init__(self):
        self._index: dict[Hashable, int] = {}
        self.keys: list[Hashable] = []
        self.values: list[int] = []
        self.kinds: list[str] = []
        self.rel_cells: list[list[int]] = []  # relation → its cells
        self.rel_coefs: list[list[int]] = []  # relation → their coefficients
        self.cell_rels: list[list[int]] = []  # cell → the relations it is in
        self.broken: list[list[tuple[Hashable, int]]] = []
        self._derived: list[tuple[int, int]] = []  # (overlap cell, the relation that defines it)
        self.forced: set[int] = set()  # cells suppressed by another release, to be kept unknown here
        self.strong_knows: set[int] = set()  # of those, the ones an attacker who knows the zeros works out
        self.elsewhere: set[int] = set()  # public cells another release has published (not totals)

    def __contains__(self, key) -> bool:
        return key in self._index

    def cell(self, key: Hashable, value: int, *, public: bool = False, internal: bool = False,
             hidden: bool = False, strong_knows: bool = False, elsewhere: bool = False) -> Hashable:
        """A count. `public`: published whatever its size (a national total, or a cell another
        release has published). `internal`: never published (a count other figures add up to, e.g.
        people without a known home), so unknown unless it is 0 — an attacker is assumed to know
        where nothing is. `hidden`: suppressed by the release that publishes it (this one relates
        its own cells to it and must not let it be worked out; `strong_knows`: there, only zeros
        could hide it, so an attacker who knows which suppressed cells are 0 knows it). `elsewhere`
        (with `public`): published by another release, so known, but not a total: a cell this
        release's relations give away from such cells and the zeros is never hidden as a
        complement (it would protect nothing against an attacker who knows the zeros)."""
        if key in self._index:
            raise ValueError(f"cell {key!r} given twice")
        if public and elsewhere:
            self.elsewhere.add(len(self.keys))
        if hidden:
            self.forced.add(len(self.keys))
            if strong_knows:
                self.strong_knows.add(len(self.keys))
        self._index[key] = len(self.keys)
        self.keys.append(key)
        self.values.append(int(value))
        self.kinds.append(PUBLIC if public else INTERNAL if internal else PUBLISHED)
        self.cell_rels.append([])
        return key

    def cells(self, keys: Iterable[Hashable], values: Iterable[int], *, public: bool = False,
              internal: bool = False) -> None:
        """Several counts at once (as `cell`)."""
        keys, values = list(keys), [int(v) for v in values]
        if len(keys) != len(values):
            raise ValueError("as many values as keys")
        index, start = self._index, len(self.keys)
        for n, key in enumerate(keys, start):
            if key in index:
                raise ValueError(f"cell {key!r} given twice")
            index[key] = n
        self.keys.extend(keys)
        self.values.extend(values)
        self.kinds.extend([PUBLIC if public else INTERNAL if internal else PUBLISHED] * len(keys))
        self.cell_rels.extend([] for _ in keys)

    def alias(self, key: Hashable, of: Hashable) -> Hashable:
        """`key` names the same count as `of` (published in two places, suppressed alike)."""
        if key in self._index:
            raise ValueError(f"cell {key!r} given twice")
        self._index[key] = self._index[of]
        return key

    def value(self, key: Hashable) -> int:
        return self.values[self._index[key]]

    @property
    def relations(self) -> list[list[tuple[int, int]]]:
        return [list(zip(cells, coefs)) for cells, coefs in zip(self.rel_cells, self.rel_coefs)]

    def relation(self, terms: Iterable[tuple[Hashable, int]]) -> None:
        """Σ coefficient × cell = 0 over `terms` (cells named twice have their coefficients added)."""
        index, values = self._index, self.values
        merged: dict[int, int] = {}
        for key, coefficient in terms:
            i = index[key]
            merged[i] = merged.get(i, 0) + coefficient
        cells = [i for i, c in merged.items() if c]
        if not cells:
            return
        coefs = [merged[i] for i in cells]
        if sum(c * values[i] for i, c in zip(cells, coefs)):
            self.broken.append([(self.keys[i], c) for i, c in zip(cells, coefs)])
            log.error("figures relation does not hold, left out of suppression: %s",
                      " + ".join(f"{c}×{self.keys[i]}={values[i]}" for i, c in zip(cells, coefs)))
            return
        r = len(self.rel_cells)
        self.rel_cells.append(cells)
        self.rel_coefs.append(coefs)
        for i in cells:
            self.cell_rels[i].append(r)

    def sum_of(self, total: Hashable, parts: Iterable[Hashable]) -> None:
        """total = Σ parts."""
        self.relation([(total, 1), *((p, -1) for p in parts)])

    def equal(self, a: Hashable, b: Hashable) -> None:
        self.relation([(a, 1), (b, -1)])

    def overlap(self, key: Hashable, parts: Iterable[Hashable], whole: Iterable[Hashable]) -> None:
        """Σ parts = Σ whole + `key`, a new internal cell: how many the parts count more than once
        (people in several prefectures, a person's second registration in a tier). Never published,
        but where it is 0 the parts add up to the whole exactly."""
        parts, whole = list(parts), list(whole)
        self.cell(key, sum(map(self.value, parts)) - sum(map(self.value, whole)), internal=True)
        self.relation([*((p, 1) for p in parts), *((w, -1) for w in whole), (key, -1)])
        if self.rel_cells and self._index[key] in self.rel_cells[-1]:
            self._derived.append((self._index[key], len(self.rel_cells) - 1))

    def with_values(self, values: list[int]) -> "Release":
        """The same cells and relations with other values (one per cell, in order; overlap cells'
        are worked out again): a release's shape is built once, its values per request. Relations
        that do not hold on the new values are left out (and logged) as in `relation`."""
        if len(values) != len(self.values):
            raise ValueError("one value per cell")
        new = copy.copy(self)
        new.values = values = [int(v) for v in values]
        new.broken = []
        for cell, r in self._derived:  # its coefficient is −1
            values[cell] = sum(c * values[i] for i, c in zip(self.rel_cells[r], self.rel_coefs[r]) if i != cell)
        holds = [not sum(c * values[i] for i, c in zip(cells, coefs))
                 for cells, coefs in zip(self.rel_cells, self.rel_coefs)]
        if all(holds):
            return new
        new.rel_cells, new.rel_coefs, new.cell_rels, new._derived = [], [], [[] for _ in self.keys], []
        for cells, coefs, ok in zip(self.rel_cells, self.rel_coefs, holds):
            if not ok:
                new.broken.append([(self.keys[i], c) for i, c in zip(cells, coefs)])
                log.error("figures relation does not hold, left out of suppression: %s",
                          " + ".join(f"{c}×{self.keys[i]}={values[i]}" for i, c in zip(cells, coefs)))
                continue
            for i in cells:
                new.cell_rels[i].append(len(new.rel_cells))
            new.rel_cells.append(cells)
            new.rel_coefs.append(coefs)
        return new

    def protect(self, min_cell: int, *, complementary: bool = True) -> "Protected":
        """Which cells to publish as null (`complementary=False`: the primary rule alone, which
        subtraction undoes — kept for the tests that show it)."""
        primary = [i for i, (kind, value) in enumerate(zip(self.kinds, self.values))
                   if kind == PUBLISHED and (0 < value < min_cell or i in self.forced)]
        if complementary and primary:
            protection = _Protection(self, min_cell)
            hidden = protection.run()
            return Protected(self, hidden, protection.inherent & hidden)
        return Protected(self, set(primary))


class Protected:
    """A release's published values: `get(key)` is the count, or None where it is suppressed."""

    def __init__(self, release: Release, hidden: set[int], inherent: set[int] = frozenset()):
        self.release = release
        self._hidden = hidden
        self._inherent = inherent

    @property
    def strong_knows(self) -> frozenset:
        """The keys of suppressed cells an attacker who knows which suppressed cells are 0 works
        out anyway (from the totals and the zeros alone: no complement could help)."""
        return frozenset(self.release.keys[i] for i in self._inherent)

    @property
    def hidden(self) -> frozenset:
        """The keys of the suppressed cells (aliases left out)."""
        return frozenset(self.release.keys[i] for i in self._hidden)

    def get(self, key: Hashable) -> int | None:
        i = self.release._index[key]
        if self.release.kinds[i] == INTERNAL:
            raise KeyError(f"{key!r} is never published")
        return None if i in self._hidden else self.release.values[i]

    def values(self, keys: Mapping[str, Hashable]) -> dict:
        """{name: published value} for a row's cells given as {name: key}."""
        return {name: self.get(key) for name, key in keys.items()}


class _Protection:
    """The complementary suppression of one release (see the module's docstring).

    Two attackers: the weak one knows every published value and relation; the strong one also
    knows which hidden cells are 0. Each round (`_settle`) works against one of them: `unknown`
    holds the cells unknown to it."""

    def __init__(self, release: Release, min_cell: int):
        self.values, self.kinds = release.values, release.kinds
        self.strong_knows = release.strong_knows
        self.rel_cells, self.rel_coefs, self.cell_rels = release.rel_cells, release.rel_coefs, release.cell_rels
        # Known to every attacker: the totals, what follows from them, and the never-published zeros.
        self.known = [kind == PUBLIC or (kind == INTERNAL and value == 0) for kind, value in zip(self.kinds, self.values)]
        for i in self._follows_from_public():
            self.known[i] = True
        self.hidden = {i for i, (kind, value, known) in enumerate(zip(self.kinds, self.values, self.known))
                       if kind == PUBLISHED and not known and (0 < value < min_cell or i in release.forced)}
        self.secret = {i for i, (kind, known) in enumerate(zip(self.kinds, self.known)) if kind == INTERNAL and not known}
        self.inherent: set[int] = set()  # given away by the totals and the zeros alone
        # Given away by the cells other releases publish and the zeros (beyond what the totals and
        # the zeros give away): never a complement.
        self.avoid = self._given_with_zeros(release, True) - self._given_with_zeros(release, False) \
            if release.elsewhere or release.strong_knows else set()
        self.unknown: set[int] = set()

    def run(self) -> set[int]:
        while self.hidden:
            if self._settle(strong=True):
                continue
            if self._settle(strong=False):
                continue
            break
        return self.hidden

    def _is_unknown(self, i: int, strong: bool) -> bool:
        if self.known[i]:
            return False
        if self.kinds[i] == INTERNAL:
            return True
        if strong and i in self.strong_knows:
            return False
        return i in self.hidden and (not strong or self.values[i] != 0)

    def _given_with_zeros(self, release: Release, elsewhere: bool) -> set[int]:
        """The cells an attacker who knows the zeros and the totals works out (with `elsewhere`,
        also the cells other releases publish or give away)."""
        def unknown(i: int) -> bool:
            if self.kinds[i] == PUBLIC:
                return not elsewhere and i in release.elsewhere
            if elsewhere and i in release.strong_knows:
                return False
            return self.values[i] != 0
        rows = [{i: c for i, c in zip(cells, coefs) if unknown(i)} for cells, coefs in zip(self.rel_cells, self.rel_coefs)]
        return set(eliminate([row for row in rows if row]))

    def _candidate(self, i: int, strong: bool) -> bool:
        """A cell that may be suppressed as a complement. Against the strong attacker only a
        non-zero one protects anything, and none that other releases' cells and the zeros give
        away; against the weak one, who does not know which hidden cells are 0, any may."""
        return (self.kinds[i] == PUBLISHED and not self.known[i] and i not in self.hidden
                and (not strong or (i not in self.avoid and self.values[i] != 0)))

    def _hide(self, i: int, strong: bool) -> None:
        self.hidden.add(i)
        if self._is_unknown(i, strong):
            self.unknown.add(i)

    def _follows_from_public(self) -> set[int]:
        """Cells the unsuppressed totals determine through single relations (repeatedly)."""
        known = self.known
        fixed: set[int] = set()
        unknown = [sum(1 for i in cells if not known[i]) for cells in self.rel_cells]
        queue = [r for r, n in enumerate(unknown) if n == 1]
        while queue:
            r = queue.pop()
            if unknown[r] != 1:
                continue
            for i in self.rel_cells[r]:
                if not known[i] and i not in fixed:
                    fixed.add(i)
                    for s in self.cell_rels[i]:
                        unknown[s] -= 1
                        if unknown[s] == 1:
                            queue.append(s)
        return fixed

    # --- one round ----------------------------------------------------------------------------------

    def _settle(self, strong: bool) -> bool:
        """One round against one attacker: complements where one relation gives a hidden cell
        away, then an exact audit of all relations together. True if anything changed."""
        hidden = self.hidden
        self.unknown = self.secret | {i for i in hidden if self._is_unknown(i, strong)}
        changed = self._sweep(strong)
        unknown = self.unknown
        # Relations with a never-published cell that is in no other relation tell nothing.
        rels = sorted({r for i in unknown for r in self.cell_rels[i]}
                      - {r for i in self.secret if len(self.cell_rels[i]) == 1 for r in self.cell_rels[i]})
        rows = [{i: c for i, c in zip(self.rel_cells[r], self.rel_coefs[r]) if i in unknown} for r in rels]
        exempt = self.inherent if strong else set()
        solved = eliminate(rows)
        touched: set[int] = set()  # relations given a complement this round
        exhausted = []
        for i in sorted(solved.keys() & hidden - exempt):
            used = [rels[k] for k in solved[i]]
            if touched.intersection(used):
                continue  # a complement of this round may already hide it: audited again next round
            complement = self._breaking(i, used, solved[i].values(), strong)
            if complement is None:
                exhausted.append(i)
                continue
            self._hide(complement, strong)
            touched.update(self.cell_rels[complement])
            changed = True
        if changed:
            return True  # the next round audits again before anything is judged beyond help
        for i in exhausted:
            if strong:
                self.inherent.add(i)  # only zeros can hide it: the weak round does
            else:
                self.hidden.discard(i)  # it follows from the published totals: published like them
                self.known[i] = True
        return bool(exhausted)

    def _sweep(self, strong: bool) -> bool:
        """Relations with exactly one unknown cell, followed as they appear: a hidden one gets the
        smallest complement of that relation. True if any complement was added."""
        changed = False
        unknown = self.unknown
        count: dict[int, int] = defaultdict(int)
        for i in unknown:
            for r in self.cell_rels[i]:
                count[r] += 1
        determined: set[int] = set()
        queue = [r for r, n in count.items() if n == 1]
        while queue:
            r = queue.pop()
            if count[r] != 1:
                continue
            (i,) = [i for i in self.rel_cells[r] if i in unknown and i not in determined]
            if i in self.hidden and not (strong and i in self.inherent):
                complement = self._smallest(self.rel_cells[r], strong)
                if complement is not None:
                    self._hide(complement, strong)
                    changed = True
                    if complement in unknown:
                        for s in self.cell_rels[complement]:
                            count[s] += 1
                            if count[s] == 1:
                                queue.append(s)
                    continue
            determined.add(i)  # given away here: relations with it may give another one away
            for s in self.cell_rels[i]:
                count[s] -= 1
                if count[s] == 1:
                    queue.append(s)
        return changed

    def _smallest(self, cells: list[int], strong: bool) -> int | None:
        options = [i for i in cells if self._candidate(i, strong)]
        return min(options, key=lambda i: (self.values[i], i)) if options else None

    def _breaking(self, start: int, rels: list[int], multipliers, strong: bool) -> int | None:
        """The smallest candidate among the cells the combination of `rels` that gives `start`
        away rests on (any of them, suppressed, breaks that subtraction); None if it rests on the
        totals (and, for the strong attacker, zeros) alone."""
        net: dict[int, Fraction | int] = defaultdict(int)
        for r, multiplier in zip(rels, multipliers):
            for i, c in zip(self.rel_cells[r], self.rel_coefs[r]):
                net[i] += multiplier * c
        return self._smallest([i for i, c in net.items() if c and i != start], strong)


def determined_cells(rows: list[dict[int, int]]) -> set[int]:
    """The variables the linear system `rows` (each {variable: coefficient}, = a known constant)
    determines: those whose unit vector lies in the row space."""
    return set(eliminate(rows))


def eliminate(rows: list[dict[int, int]]) -> dict[int, dict[int, Fraction]]:
    """{variable: {row index: multiplier}} for each variable the system `rows` determines: the
    combination of the rows that gives it alone. Exact: sparse Gauss-Jordan elimination over the
    rationals, pivoting on short rows and rare columns (Markowitz) so that the hierarchies and
    chains of the figures stay sparse; each row carries the combination of input rows it is."""
    rows = [dict(row) for row in rows]
    combos: list[dict[int, Fraction | int]] = [{r: 1} for r in range(len(rows))]
    col_rows: dict[int, set[int]] = defaultdict(set)
    for r, row in enumerate(rows):
        for c in row:
            col_rows[c].add(r)
    heap = [(len(row), r) for r, row in enumerate(rows) if row]
    heapq.heapify(heap)
    pivoted: dict[int, int] = {}
    while heap:
        length, r = heapq.heappop(heap)
        row = rows[r]
        if r in pivoted or length != len(row) or not row:
            continue
        c = min(row, key=lambda k: (len(col_rows[k]), k))
        pivot = row[c]
        if pivot != 1:
            inverse = -1 if pivot == -1 else Fraction(1) / pivot
            row = rows[r] = {k: v * inverse for k, v in row.items()}
            combos[r] = {k: v * inverse for k, v in combos[r].items()}
        combo = combos[r]
        for s in list(col_rows[c]):
            if s == r:
                continue
            other, other_combo = rows[s], combos[s]
            factor = other[c]
            for k, v in row.items():
                value = other.get(k, 0) - factor * v
                if value:
                    if k not in other:
                        col_rows[k].add(s)
                    other[k] = value
                elif k in other:
                    del other[k]
                    col_rows[k].discard(s)
            for k, v in combo.items():
                value = other_combo.get(k, 0) - factor * v
                if value:
                    other_combo[k] = value
                else:
                    other_combo.pop(k, None)
            if s not in pivoted:
                heapq.heappush(heap, (len(other), s))
        pivoted[r] = c
    return {c: combos[r] for r, c in pivoted.items() if len(rows[r]) == 1}
