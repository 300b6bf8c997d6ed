"""A funnel block reduced to the cells a suppression can touch (registry/figures/funnel_blocks.py)
publishes every 団体's cell as the whole block does, and the service reads the same block as the
cohort read whole gives."""
from collections import Counter

from hypothesis import HealthCheck, given, settings, strategies as st
from sqlalchemy import select

from registry.common.time import today_tokyo
from registry.extensions import db

from registry.figures import funnel_service
from registry.figures.funnel_blocks import summarise
from registry.figures.funnel_data import external_cell, key, make_data
from registry.figures.funnel_release import published_cells
from registry.figures.service import GEOGRAPHY, directory
from registry.figures.sums import CounterSums
from registry.figures.stages import COLUMN, NATIONAL, PAIRS, REGISTERED, STAGES, cohort_metric
from registry.figures.suppression import Release
from registry.organizations.models import Organization
from registry.registrations import service as registrations
from tests.factories import person

COHORT, DAY, MIN_CELL = "2026-01", "2026-01-20", 10
BLOCK_STAGES = [stage for stage in STAGES if stage != "moved_in"]


@st.composite
def blocks(draw):
    """One cohort's stage over 3 … 40 団体: 0s, primaries and larger cells in any mix."""
    codes = [f"{n:06d}" for n in range(draw(st.integers(3, 40)))]
    kind = st.sampled_from(["zero", "small", "large"])
    values = {}
    for code in codes:
        chosen = draw(kind)
        values[code] = 0 if chosen == "zero" else draw(st.integers(1, MIN_CELL - 1)) if chosen == "small" \
            else draw(st.integers(MIN_CELL, 60))
    return draw(st.sampled_from(BLOCK_STAGES)), codes, values


def data_for(stage, codes, values, *, whole: bool):
    """FunnelData of one cohort where R1 (and for `registered` R3) holds: the country's cell and the
    time series' month are the 団体' sum. `whole`: the cohort read whole (else the block as read)."""
    total = sum(values.values())
    column = COLUMN[stage]
    sums = {(cohort_metric(COHORT), code): Counter({column: value}) for code, value in values.items() if value}
    sums[(cohort_metric(COHORT), NATIONAL)] = Counter({column: total})
    sums[(cohort_metric(COHORT), PAIRS)] = Counter({column: total})
    month = total if stage == REGISTERED else 0  # the time series: as many registrations that day
    sums[("day", DAY)] = Counter({"registered": month, "registrations": month, "people": month})
    sums[("total", "")] = Counter({"registrations": month, "people": month})
    organizations = directory([(codes[0], "prefecture", codes[0])]  # one prefecture and its municipalities
                              + [(code, "municipality", codes[0]) for code in codes[1:]])
    data = make_data([COHORT], sums if whole else {k: v for k, v in sums.items() if k[1] not in codes},
                     full={COHORT} if whole else set(), scopes={NATIONAL, PAIRS}, min_cell=MIN_CELL,
                     organizations=organizations, moved_in=True,
                     geography=CounterSums.of({metric: {} for metric in GEOGRAPHY}))  # nobody moved in
    if not whole:
        for other in BLOCK_STAGES:
            data.blocks[(COHORT, other)] = summarise(values if other == stage else {}, codes, MIN_CELL)
        data.scopes |= set(codes)
        data.sums.update({k: v for k, v in sums.items() if k[1] in codes})
    return data


def whole_block(data, stage, codes, values) -> dict:
    """Every 団体's cell published through the block as a whole: every cell that is not 0, the first
    0, the country's cell (and the series' month) as they are published before it."""
    release = Release()
    zero = next((code for code in codes if not values[code]), None)
    parts = [key(code, COHORT, stage) for code in codes if values[code] or code == zero]
    for cell in sorted(parts + [key(NATIONAL, COHORT, stage)] + ([("series", COHORT)] if stage == REGISTERED else []),
                       key=repr):
        if cell[0] == "funnel" and cell[1] != NATIONAL:
            release.cell(cell, values[cell[1]])
        else:
            external_cell(release, data, cell)
    release.sum_of(key(NATIONAL, COHORT, stage), parts)
    if stage == REGISTERED:
        release.sum_of(("series", COHORT), parts)
    protected = release.protect(MIN_CELL)
    return {code: protected.get(key(code, COHORT, stage)) if key(code, COHORT, stage) in release else 0
            for code in codes}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(blocks())
def test_a_reduced_block_publishes_every_cell_as_the_whole_block(block):
    stage, codes, values = block
    data = data_for(stage, codes, values, whole=True)
    expected = whole_block(data, stage, codes, values)
    for code in codes:
        assert published_cells(data_for(stage, codes, values, whole=False), code, MIN_CELL)[(COHORT, stage)] \
            == expected[code], code
        assert published_cells(data, code, MIN_CELL)[(COHORT, stage)] == expected[code], code


def test_the_service_reads_each_block_as_the_cohort_read_whole_gives():
    """Nine 団体 with 1 … 13 registrants each this month (primaries and larger cells; 0s elsewhere),
    read in the service's one statement and from the cohort read whole."""
    codes = list(db.session.scalars(select(Organization.code).order_by(Organization.code)))
    for n, code in enumerate(codes[:9]):
        for _ in range((n * 5) % 13 + 1):
            registrations.register(person(), code, ["family"])
    months = funnel_service.cohorts(today_tokyo())
    read = funnel_service._read(months, {NATIONAL, PAIRS}, set(), (), moved_in=False, blocks=MIN_CELL,
                                codes=tuple(codes))
    whole = funnel_service._read(months, set(), set(months), (), moved_in=False).sums
    checked = 0
    for cohort in months:
        for stage in BLOCK_STAGES:
            expected = summarise({k: c[COLUMN[stage]] for (m, k), c in whole.items()
                                  if m == cohort_metric(cohort) and k not in (NATIONAL, PAIRS)}, codes, MIN_CELL)
            assert read.blocks[(cohort, stage)] == expected, (cohort, stage)
            checked += bool(expected.least and expected.small_count > 2)
    assert checked  # a block with both kinds of cell was among them
