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
in every view. `summarise` makes one from every cell (a cohort read whole, the tests); the service
reads the same parts straight from `funnel_cells`, kept in value order as events happen
(funnel_service._block_rows): the suppression then works on a few cells per block, and the read
costs a few index probes per block, however many 団体 have someone there.
tests/figures/test_funnel_blocks.py checks that a reduced block publishes every cell as the whole
block would.
"""
import heapq
from collections.abc import Iterable, Mapping
from dataclasses import dataclass


KEEP = 3
SMALL = 2  # the primaries kept apart when there are no more; more are kept as their sum


@dataclass(frozen=True)
class Block:
    total: int  # Σ of every 団体's cell (the PAIRS counter)
    small: tuple  # ((code, value), …): the primaries when at most SMALL, else ()
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
                 small=tuple((code, value) for value, code in sorted(small)) if len(small) <= SMALL else (),
                 small_count=len(small), small_sum=small_sum,
                 least=tuple((code, value) for value, code in heapq.nsmallest(KEEP, large)),
                 zero=next((code for code in codes if not values.get(code)), None))

