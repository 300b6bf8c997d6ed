"""The relationship funnel's suppression holds against subtraction, together with every other table.

On random small registries (tests/figures/test_suppression.py's, with stages added: applications and
completions at any 団体, premium grants and renewals; moving in is a registration's end), the
funnel is counted here from the definitions (API.md "Relationship funnel"), published by the
service's own code — the country's rows and every 団体's, as the national office reads them — beside
every table test_suppression publishes. The attacker takes all of it and every relation that holds
by the definitions, the funnel's written here: per cohort and stage, the 団体' cells = the country's
+ the people counted with several 団体 (internal); per cohort, the 団体' `registered` = the time
series' month + re-registrations (internal); per 団体, its `moved_in` cells = its moved_in in
by-organization + people who moved in twice (internal); the country's moved_in cells = the national
moved_in total + the same (internal). No suppressed cell may come out.
"""
from collections import Counter, defaultdict
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from registry.figures.funnel_data import make_data
from registry.figures.funnel_release import published_cells
from registry.figures.service import CounterSums, GEOGRAPHY, directory
from registry.figures.stages import COLUMN, MOVED_IN, NATIONAL, PAIRS, REGISTERED, STAGES, cohort_metric
from registry.organizations.models import PREFECTURE
from tests.figures import test_suppression as base
from tests.figures.test_suppression import Person, Reg, Registry, count, day_key, publish, truth

EVENT_STAGES = ("applied", "completed_activity", "premium", "renewed")


@dataclass(frozen=True)
class Staged:
    registry: Registry
    stages: tuple  # per person: ((stage, org, day), …)


@st.composite
def staged_registries(draw, max_people: int = 24):
    registry = draw(base.registries(max_people=max_people))
    codes = [code for code, *_ in registry.orgs]
    stages = []
    for person in registry.people:
        made = []
        for _ in range(draw(st.integers(0, 4))):
            stage = draw(st.sampled_from(EVENT_STAGES))
            if stage in ("premium", "renewed"):
                if not person.regs:
                    continue
                reg = draw(st.sampled_from(person.regs))
                org, day = reg.org, draw(st.integers(reg.start, (reg.end[0] if reg.end else 44)))
            else:
                org, day = draw(st.sampled_from(codes)), draw(st.integers(0, 44))
            made.append((stage, org, day))
        stages.append(tuple(made))
    return Staged(registry, tuple(stages))


def month(day: int) -> str:
    return day_key(day)[:7]


def funnel_marks(staged: Staged):
    """{(scope, cohort, stage)} per person, as the definitions say: a person's cohort with a 団体 is the
    month of their first registration there, with the country of their first anywhere; a stage counts
    from that moment on (ties in time count), once."""
    for person, stages in zip(staged.registry.people, staged.stages):
        firsts: dict = {}
        for reg in person.regs:
            firsts[reg.org] = min(firsts.get(reg.org, reg.start), reg.start)
        if not firsts:
            continue
        first_any = min(firsts.values())
        events = list(stages) + [(MOVED_IN, reg.org, reg.end[0]) for reg in person.regs
                                 if reg.end and reg.end[1] == "moved_in"]
        marks = {(org, REGISTERED): start for org, start in firsts.items()} | {("", REGISTERED): first_any}
        for stage, org, day in events:
            if org in firsts and day >= firsts[org]:
                marks[(org, stage)] = firsts[org]
            if day >= first_any:
                marks[("", stage)] = first_any
        yield {(scope, month(since), stage) for (scope, stage), since in marks.items()}


def funnel_counts(staged: Staged) -> dict:
    """{(metric, key): Counter(column → people)}, as the maintained counters hold them."""
    out: dict = defaultdict(Counter)
    for marks in funnel_marks(staged):
        for scope, cohort, stage in marks:
            column = COLUMN[stage]
            if scope == "":
                out[(cohort_metric(cohort), NATIONAL)][column] += 1
            else:
                out[(cohort_metric(cohort), scope)][column] += 1
                out[(cohort_metric(cohort), PAIRS)][column] += 1
    return out


def cohorts_of(staged: Staged) -> list[str]:
    return sorted({month(d) for d in range(45)})


def publish_funnel(staged: Staged, *, complementary: bool = True) -> dict:
    """{scope: {(cohort, stage): value}}: the country and every 団体, as the national office reads them."""
    registry = staged.registry
    sums = dict(funnel_counts(staged))
    counted = count(registry)
    for metric in ("total", "day"):
        for key, c in counted[metric].items():
            sums[(metric, key)] = Counter(c)
    geography = CounterSums.of({metric: counted[metric] for metric in GEOGRAPHY})
    organizations = directory((code, kind, pref) for code, _, kind, pref in registry.orgs)
    cohorts = cohorts_of(staged)
    data = make_data(cohorts, sums, full=set(cohorts), scopes=set(), min_cell=registry.min_cell, geography=geography,
                     organizations=organizations)
    scopes = [NATIONAL] + [code for code, *_ in registry.orgs]
    return {scope: published_cells(data, scope, registry.min_cell, complementary=complementary) for scope in scopes}


def funnel_truth(staged: Staged, cells: dict) -> dict:
    """The funnel's cells and the internal counts that close its relations (added to `cells`)."""
    registry = staged.registry
    counts = funnel_counts(staged)
    cohorts = cohorts_of(staged)
    scopes = [NATIONAL] + [code for code, *_ in registry.orgs]
    for scope in scopes:
        for cohort in cohorts:
            for stage in STAGES:
                cells[("fun", scope, cohort, stage)] = counts.get((cohort_metric(cohort), scope), Counter())[COLUMN[stage]]
    orgs = scopes[1:]
    for cohort in cohorts:
        for stage in STAGES:
            cells[("X", cohort, stage)] = sum(cells[("fun", b, cohort, stage)] for b in orgs) \
                - cells[("fun", NATIONAL, cohort, stage)]
        month_registered = cells.get(("month", cohort, "registered"), 0)
        cells[("Y", cohort)] = month_registered - sum(cells[("fun", b, cohort, REGISTERED)] for b in orgs)
    for b in orgs:
        cells[("Z", b)] = cells[("org", b, "moved_in")] - sum(cells[("fun", b, c, MOVED_IN)] for c in cohorts)
    cells[("Z*",)] = cells[("T", "moved_in")] - sum(cells[("fun", NATIONAL, c, MOVED_IN)] for c in cohorts)
    return cells


def funnel_relations(staged: Staged, cells: dict) -> list[dict]:
    registry = staged.registry
    cohorts = cohorts_of(staged)
    orgs = [code for code, *_ in registry.orgs]
    rels = []
    for cohort in cohorts:
        for stage in STAGES:
            row = Counter({("fun", b, cohort, stage): 1 for b in orgs})
            row[("fun", NATIONAL, cohort, stage)] -= 1
            row[("X", cohort, stage)] -= 1
            rels.append(dict(row))
        if ("month", cohort, "registered") in cells:
            row = Counter({("fun", b, cohort, REGISTERED): 1 for b in orgs})
            row[("Y", cohort)] += 1
            row[("month", cohort, "registered")] -= 1
            rels.append(dict(row))
    for b in orgs:
        row = Counter({("fun", b, c, MOVED_IN): 1 for c in cohorts})
        row[("Z", b)] += 1
        row[("org", b, "moved_in")] -= 1
        rels.append(dict(row))
    row = Counter({("fun", NATIONAL, c, MOVED_IN): 1 for c in cohorts})
    row[("Z*",)] += 1
    row[("T", "moved_in")] -= 1
    rels.append(dict(row))
    return rels


def internal(name) -> bool:
    return base.internal(name) or name[0] in ("X", "Y", "Z", "Z*")


def recoveries(staged: Staged, tables: dict, funnel: dict) -> list[str]:
    """test_suppression.recoveries over every table and the funnel's views."""
    registry = staged.registry
    cells = funnel_truth(staged, truth(registry))
    rels = base.relations(registry, cells) + funnel_relations(staged, cells)
    shown = base.published_cells(tables, registry, {k: v for k, v in cells.items() if k[0] != "fun" and not internal(k)})
    for scope, values in funnel.items():
        for (cohort, stage), value in values.items():
            shown[("fun", scope, cohort, stage)] = value
    return base.attack(cells, rels, shown, registry.min_cell, is_internal=internal)


@pytest.mark.slow
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(staged_registries())
def test_no_suppressed_funnel_count_can_be_worked_out(staged):
    assert recoveries(staged, publish(staged.registry), publish_funnel(staged)) == []


def test_the_attacker_undoes_the_primary_rule_alone_on_the_funnel():
    """Three 団体 of one prefecture: two with 12 registrants in a month, one with 2, the country 26.
    The primary rule alone leaves 26 − 12 − 12 = 2 to subtraction; the release hides a complement."""
    orgs = (("A", "pref A", PREFECTURE, "A"), ("A1", "town A1", "municipality", "A"),
            ("A2", "town A2", "municipality", "A"), ("A3", "town A3", "municipality", "A"))
    people = [Person(None, None, (Reg(code, "basic", ("other",), 0, None),))
              for code, n in (("A1", 12), ("A2", 12), ("A3", 2)) for _ in range(n)]
    staged = Staged(Registry(orgs, tuple(people), 10), tuple(() for _ in people))
    plain = publish_funnel(staged, complementary=False)
    assert plain["A3"][(month(0), REGISTERED)] is None and plain["A1"][(month(0), REGISTERED)] == 12
    assert any("A3" in p for p in recoveries(staged, publish(staged.registry), plain))
    protected = publish_funnel(staged)
    assert protected["A3"][(month(0), REGISTERED)] is None
    assert None in (protected["A1"][(month(0), REGISTERED)], protected["A2"][(month(0), REGISTERED)])
    assert recoveries(staged, publish(staged.registry), protected) == []
