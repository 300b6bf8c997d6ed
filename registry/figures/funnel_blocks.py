"""A block of the relationship funnel: one cohort's stage (not moved_in) over every 団体, as its
relations R1 and R3 see it (funnel_release.py), reduced to the cells a suppression can touch.

The block's 団体 cells are in no relation but R1 and R3, and both add up ALL of them to a total
published before them (the country's cell, the time series' month). Such a relation only ever
needs a complement when it has a single unknown, and the complement is the smallest cell that may be
one (suppression.py). So a block is published the same from far fewer cells than its ~1,800:

- every cell from 1 to min_cell − 1 (a primary), when there are at most two; when there are more,
  their sum as one never-published count — each relation then has three unknowns that are not 0, so
  none needs a complement and every one of them is suppressed by its size;
- the KEEP smallest cells of min_cell or more, by (value, code): more than a block's complements
  can need (at most one per relation and attacker);
- the first 団体 by code with 0 there (the 0 a relation over every 団体 names);
- the rest as one count published elsewhere (each of those cells is published, so known).

What a `Block` holds depends on the block alone, never on who asks, so each cell comes out the same
in every view. The service reads every 団体's cells in the statement that reads the rest
(funnel_service.py) and keeps only the blocks: the suppression then works on a few cells per block
however many 団体 have someone there.
tests/figures/test_funnel_blocks.py checks that a reduced block publishes every cell as the whole
block would.
"""
import heapq
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from registry.figures.recount import FIELDS
from registry.figures.stages import COLUMN, MOVED_IN, PREFIX, STAGES

KEEP = 3


@dataclass(frozen=True)
class Block:
    total: int  # Σ of every 団体's cell (the PAIRS counter)
    small: tuple  # ((code, value), …): the primaries when at most two, else ()
    small_count: int
    small_sum: int
    least: tuple  # ((code, value), …): the KEEP smallest cells of min_cell or more, by (value, code)
    zero: str | None  # the first 団体 by code with 0 there

    def kept(self) -> list[tuple[str, int]]:
        """The cells published through the block's own release, by code."""
        return sorted(list(self.small) + list(self.least) + ([(self.zero, 0)] if self.zero else []))

    def others(self) -> tuple[int, int]:
        """(the primaries' sum when they are not kept apart, the sum of the cells left out as published)."""
        hidden = self.small_sum if self.small_count > len(self.small) else 0
        return hidden, self.total - sum(value for _, value in self.kept()) - hidden


def summarise(values: Mapping[str, int], codes: Iterable[str], min_cell: int) -> Block:
    """The block of {code: value} (every 団体 whose cell is not 0); `codes`: every 団体, by code."""
    small, large, small_sum = [], [], 0
    for code, value in values.items():
        if not value:
            continue
        if value < min_cell:
            small.append((value, code))
            small_sum += value
        else:
            large.append((value, code))
    return Block(total=small_sum + sum(value for value, _ in large),
                 small=tuple((code, value) for value, code in sorted(small)) if len(small) <= 2 else (),
                 small_count=len(small), small_sum=small_sum,
                 least=tuple((code, value) for value, code in heapq.nsmallest(KEEP, large)),
                 zero=next((code for code in codes if not values.get(code)), None))


def summarise_all(cohorts: list[str], cells: Iterable[tuple[str, str, list]], codes: tuple[str, ...],
                  min_cell: int) -> dict:
    """{(cohort, stage): Block} of every cohort's stage but moved_in, from (metric, code, its counts
    in recount.FIELDS' order) of every 団体 cell."""
    columns = {stage: FIELDS.index(COLUMN[stage]) for stage in STAGES if stage != MOVED_IN}
    values: dict = {(cohort, stage): {} for cohort in cohorts for stage in columns}
    for metric, code, counts in cells:
        cohort = metric[len(PREFIX):]
        for stage, column in columns.items():
            if counts[column]:
                values[(cohort, stage)][code] = int(counts[column])
    return {block: summarise(found, codes, min_cell) for block, found in values.items()}
