"""A funnel block reduced to the cells a suppression can touch (registry/figures/funnel_blocks.py)
publishes every 団体's cell as the whole block does, and the service reads the same block as the
cohort read whole gives."""
from collections import Counter

from hypothesis import HealthCheck, given, settings, strategies as st
from sqlalchemy import delete, select

from registry.common.time import today_tokyo
from registry.extensions import db

from registry.figures import funnel_service
from registry.figures.funnel_blocks import summarise
from registry.figures.funnel_data import external_cell, key, make_data
from registry.figures.funnel_release import published_cells
from registry.figures.models import FigureCounter, FunnelCell
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


def test_the_service_reads_each_block_that_binds_as_the_cohort_read_whole_gives():
    """Nine 団体 with 1 … 13 registrants each this month (primaries and larger cells; 0s elsewhere),
    read in the service's one statement and from the cohort read whole: the blocks whose R1 or R3
    holds over someone (here `registered`: everyone registered once), each as the whole cohort gives it."""
    codes = list(db.session.scalars(select(Organization.code).order_by(Organization.code)))
    for n, code in enumerate(codes[:9]):
        for _ in range((n * 5) % 13 + 1):
            registrations.register(person(), code, ["family"])
    months = funnel_service.cohorts(today_tokyo())
    read = funnel_service._read(months, {NATIONAL, PAIRS}, set(), (), moved_in=False, blocks=MIN_CELL)
    whole = funnel_service._read(months, set(), set(months), ("day",), moved_in=False).sums
    binding = set()
    for cohort in months:
        metric = cohort_metric(cohort)
        month = sum(c["registered"] for (m, day), c in whole.items() if m == "day" and day.startswith(cohort))
        for stage in BLOCK_STAGES:
            pairs = whole.get((metric, PAIRS), Counter())[COLUMN[stage]]
            country = whole.get((metric, NATIONAL), Counter())[COLUMN[stage]]
            if pairs and (country == pairs or (stage == REGISTERED and month == pairs)):
                binding.add((cohort, stage))
    assert binding and set(read.blocks) == binding
    checked = 0
    for cohort, stage in binding:
        expected = summarise({k: c[COLUMN[stage]] for (m, k), c in whole.items()
                              if m == cohort_metric(cohort) and k not in (NATIONAL, PAIRS)}, codes, MIN_CELL)
        assert read.blocks[(cohort, stage)] == expected, (cohort, stage)
        checked += bool(expected.least and expected.small_count > 2)
    assert checked  # a block with both kinds of cell was among them


@st.composite
def stored_blocks(draw):
    """A block as `funnel_cells` holds it: cells among the first 30 団体 by code (0s, primaries, larger
    cells, ties), or every 団体 with someone there but a few (or none) anywhere in the code order."""
    if draw(st.booleans()):
        chosen = {n: draw(st.integers(0, 14)) for n in draw(st.sets(st.integers(0, 29), max_size=30))}
        return draw(st.sampled_from(BLOCK_STAGES)), chosen, None
    return draw(st.sampled_from(BLOCK_STAGES)), {}, draw(st.sets(st.integers(0, 1799), max_size=3))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(stored_blocks())
def test_the_statement_reads_a_block_from_the_cells_in_value_order_as_summarise_gives(example):
    """Written straight into `funnel_cells` (and the country's cell = PAIRS, so R1 holds): the probes
    of `_block_rows` (primaries, the smallest cells of min_cell or more, the first 0) give the block
    `summarise` gives from every cell."""
    stage, chosen, missing = example
    codes = tuple(db.session.scalars(select(Organization.code).order_by(Organization.code)))
    if missing is None:
        values = {codes[n]: value for n, value in chosen.items()}
    else:  # every 団体 but `missing` (positions; past the last: none missing), values by position
        values = {code: MIN_CELL + n % 7 if n % 5 else 1 + n % (MIN_CELL - 1)
                  for n, code in enumerate(codes) if n not in missing}
    metric = cohort_metric(COHORT)
    db.session.execute(delete(FunnelCell))
    db.session.execute(delete(FigureCounter).where(FigureCounter.metric == metric))
    rows = [{"metric": metric, "stage": stage, "key": code, "value": value} for code, value in values.items() if value]
    if rows:
        db.session.execute(FunnelCell.__table__.insert(), rows)
    total = sum(values.values())
    db.session.execute(FigureCounter.__table__.insert(), [
        {"metric": metric, "key": scope, "slot": slot, "people": 0, "registrations": 0, "premium": 0, "moved_in": 0,
         "registered": 0, "withdrawn": 0, COLUMN[stage]: share}
        for scope in (NATIONAL, PAIRS) for slot, share in ((0, total - total // 3), (5, total // 3))])
    read = funnel_service._read([COHORT], {NATIONAL, PAIRS}, set(), (), moved_in=False, blocks=MIN_CELL)
    if total:
        assert read.blocks == {(COHORT, stage): summarise(values, codes, MIN_CELL)}
    else:
        assert read.blocks == {}  # a block of nobody is not read: every cell is 0
