"""The relationship funnel (関係の深まり), kept as its events happen (API.md "Relationship funnel").

Per monthly cohort of registration (stages.py): how many of the people who registered with a 団体
in that month have since applied to one of its needs, completed one (or had evidence for it
approved), become premium there, renewed, moved in — each person once per stage — and the same for
the whole country, where a person's cohort is the month of their first registration anywhere and a
stage counts whatever 団体 it happened with.

Kept in the transaction of the event itself, so the funnel is current at once: a registration by
the ledger's own statement (ledger.py: the first with a 団体 counts in that 団体's cohort, the first
anywhere in the country's); the other stages here, subscribed to the events the registrations
(premium granted, renewed, moved in), needs (applied, completed) and evidence (approved) domains
announce. `funnel_marks` holds one row per person, scope and stage reached, so a second application
or renewal counts nothing; a stage reached before the person's registration with the 団体 (an
application to its need the week before) is not one of its cohort's.

`expected_counters` and `mark_drift` recount all of it from the rows (verify-counts, rebuild);
`funnel_cells`, the 団体' cells in value order (models.FunnelCell), is kept in the same statements
and rebuilt from the counters (`rebuild_cells`, `cell_drift`).
"""
import random
from collections import Counter, defaultdict
from datetime import datetime

from sqlalchemy import delete, func, select, text

from registry.extensions import db
from registry.figures.ledger import CELLS, COUNTERS, MARKS, SLOTS
from registry.figures.models import FunnelCell, FunnelMark
from registry.figures.stages import (
    APPLIED, COLUMN, COMPLETED, MOVED_IN, NATIONAL, PAIRS, PREMIUM, RENEWED, STAGES, cohort_metric, month_of,
)
from registry.needs import events as need_events
from registry.evidence import events as evidence_events
from registry.registrations import events as registration_events
from registry.registrations.models import Registration

FROM_REGISTRATIONS = {registration_events.PREMIUM_GRANTED: PREMIUM, registration_events.PREMIUM_RENEWED: RENEWED,
                      registration_events.MOVED_IN: MOVED_IN}
FROM_APPLICATIONS = {need_events.APPLIED: APPLIED, need_events.COMPLETED: COMPLETED}


def subscribe() -> None:
    """Called by create_app (idempotent)."""
    registration_events.changed.connect(_on_registration)
    need_events.changed.connect(_on_application)
    evidence_events.changed.connect(_on_evidence)


def _on_registration(change) -> None:
    stage = FROM_REGISTRATIONS.get(change.kind)
    if stage is not None and change.organization_code:
        reach(change.user.id, change.organization_code, stage, change.now)


def _on_application(event) -> None:
    reach(event.user_id, event.organization_code, FROM_APPLICATIONS[event.kind], event.now)


def _on_evidence(event) -> None:
    if event.kind == evidence_events.APPROVED:
        reach(event.user_id, event.organization_code, COMPLETED, event.now)


def reach(user_id, organization_code: str, stage: str, now: datetime) -> None:
    """The person reached `stage` with the 団体 at `now`: counted in the 団体's cohort and the
    country's, each the first time only, and only once they had registered (there, or anywhere)."""
    firsts = dict(db.session.execute(
        select(Registration.organization_code, func.min(Registration.registered_at))
        .where(Registration.user_id == user_id, Registration.registered_at <= now)
        .group_by(Registration.organization_code)).all())
    if not firsts:
        return
    since = {"": min(firsts.values())}
    if organization_code in firsts:
        since[organization_code] = firsts[organization_code]
    dialect = db.engine.dialect.name
    reached = {scope for (scope,) in db.session.execute(*MARKS.many(
        [{"user_id": user_id, "scope": scope, "stage": stage} for scope in since], dialect))}
    counts: dict = defaultdict(Counter)
    for scope in reached:
        metric = cohort_metric(month_of(since[scope]))
        for key in ((NATIONAL,) if scope == "" else (scope, PAIRS)):
            counts[(metric, key)][COLUMN[stage]] += 1
    if counts:
        slot = random.randrange(SLOTS)
        rows = [{"metric": metric, "key": key, "slot": slot,
                 **{f: c.get(f, 0) for f in ("people", "registrations", "premium", "moved_in", "registered",
                                             "withdrawn")}}
                for (metric, key), c in sorted(counts.items())]
        db.session.execute(*COUNTERS.many(rows, dialect))
        cells = [{"metric": metric, "stage": stage, "key": key, "value": 1}
                 for (metric, key) in sorted(counts) if key not in (NATIONAL, PAIRS)]
        if cells and stage != MOVED_IN:  # the 団体's cell in value order too (models.FunnelCell), after the counters
            db.session.execute(*CELLS.many(cells, dialect))


# --- the recount -------------------------------------------------------------------------------------

def _month(column: str) -> str:
    """SQL for the Asia/Tokyo month (YYYY-MM) of a timestamp column."""
    if db.engine.dialect.name == "postgresql":
        return f"to_char({column} AT TIME ZONE 'Asia/Tokyo', 'YYYY-MM')"
    return f"strftime('%Y-%m', {column}, '+9 hours')"


# Each person's first registration with each 団体 (scope its code) and anywhere (scope '').
FIRSTS = """
    SELECT user_id, organization_code AS scope, MIN(registered_at) AS since FROM registrations
    GROUP BY user_id, organization_code
    UNION ALL
    SELECT user_id, '' AS scope, MIN(registered_at) AS since FROM registrations GROUP BY user_id
"""
# Every stage event, with the 団体 it concerns and when it happened.
REACHED = """
    SELECT a.user_id, n.organization_code AS org, a.created_at AS at, 'applied' AS stage
    FROM applications a JOIN needs n ON n.id = a.need_id
    UNION ALL
    SELECT a.user_id, n.organization_code, a.decided_at, 'completed_activity'
    FROM applications a JOIN needs n ON n.id = a.need_id WHERE a.status = 'completed'
    UNION ALL
    SELECT e.user_id, e.organization_code, e.decided_at, 'completed_activity'
    FROM activity_evidence e WHERE e.status = 'approved'
    UNION ALL
    SELECT v.user_id, v.organization_code, v.occurred_at,
           CASE v.kind WHEN 'premium_granted' THEN 'premium' WHEN 'premium_renewed' THEN 'renewed' ELSE 'moved_in' END
    FROM registration_events v WHERE v.kind IN ('premium_granted', 'premium_renewed', 'moved_in')
"""
# The marks the rows call for: every stage reached with a 団体 since the first registration there,
# or anywhere since the first registration anywhere; and the country's first registrations.
MARKS_SQL = f"""
    WITH firsts AS ({FIRSTS}), reached AS ({REACHED})
    SELECT DISTINCT r.user_id, f.scope, r.stage FROM reached r
    JOIN firsts f ON f.user_id = r.user_id AND f.scope = r.org AND r.at >= f.since
    UNION
    SELECT DISTINCT r.user_id, f.scope, r.stage FROM reached r
    JOIN firsts f ON f.user_id = r.user_id AND f.scope = '' AND r.at >= f.since
    UNION
    SELECT user_id, scope, 'registered' FROM firsts WHERE scope = ''
"""
# The marks kept: those of people not erased (an erased person's marks go, their counts stay).
KEPT_MARKS_SQL = f"""
    SELECT e.user_id, e.scope, e.stage FROM ({MARKS_SQL}) AS e
    WHERE e.user_id NOT IN (SELECT id FROM users WHERE erased_at IS NOT NULL)
"""


def _counted_sql() -> str:
    """(scope, cohort month, stage, people) of every cell, 団体 and country, from the rows."""
    return f"""
    WITH firsts AS ({FIRSTS}), reached AS ({REACHED}), marks AS (
        SELECT DISTINCT r.user_id, f.scope, r.stage FROM reached r
        JOIN firsts f ON f.user_id = r.user_id AND f.scope = r.org AND r.at >= f.since
        UNION
        SELECT DISTINCT r.user_id, f.scope, r.stage FROM reached r
        JOIN firsts f ON f.user_id = r.user_id AND f.scope = '' AND r.at >= f.since
        UNION
        SELECT user_id, scope, 'registered' FROM firsts
    )
    SELECT m.scope, {_month('f.since')} AS cohort, m.stage, COUNT(*) FROM marks m
    JOIN firsts f ON f.user_id = m.user_id AND f.scope = m.scope
    GROUP BY m.scope, {_month('f.since')}, m.stage
    """


def expected_counters() -> dict:
    """{(metric, key): Counter(column → value)} of the funnel, as the rows say (a 団体's cells, the
    country's (NATIONAL) and their sum over the 団体 (PAIRS))."""
    out: dict = defaultdict(Counter)
    for scope, cohort, stage, people in db.session.execute(text(_counted_sql())):
        metric = cohort_metric(cohort)
        column = COLUMN[stage]
        if scope == "":
            out[(metric, NATIONAL)][column] += int(people)
        else:
            out[(metric, scope)][column] += int(people)
            out[(metric, PAIRS)][column] += int(people)
    return out


def mark_drift(limit: int = 3) -> tuple[int, list]:
    """Marks that differ from the rows: (how many, examples)."""
    return _differences(f"SELECT user_id, scope, stage FROM ({KEPT_MARKS_SQL}) AS k",
                        "SELECT user_id, scope, stage FROM funnel_marks", limit)


def _differences(expected: str, actual: str, limit: int) -> tuple[int, list]:
    """Rows of one query missing from the other, both ways: (how many, the first `limit`)."""
    missing = list(db.session.execute(text(f"{expected} EXCEPT {actual}")))
    extra = list(db.session.execute(text(f"{actual} EXCEPT {expected}")))
    return len(missing) + len(extra), (missing + extra)[:limit]


def erase_for(user) -> None:
    """Erasure (registry/workflows/erasure.py): the person's marks go — they only keep a person from
    being counted twice, and an erased account does nothing more — while the counts they are in
    stay (the funnel keeps an erased person's history, as the national figures do). The recount
    leaves erased people's marks out (`KEPT_MARKS_SQL`) and still counts them (`expected_counters`)."""
    db.session.execute(delete(FunnelMark).where(FunnelMark.user_id == user.id))


def rebuild_marks() -> None:
    db.session.execute(text("DELETE FROM funnel_marks"))
    db.session.execute(text(f"INSERT INTO funnel_marks (user_id, scope, stage) SELECT user_id, scope, stage "
                            f"FROM ({KEPT_MARKS_SQL}) AS k"))


# Each 団体's funnel cells (not moved_in) as its counter rows add up, one row per cell not 0: what
# `funnel_cells` holds (models.FunnelCell).
CELLS_SQL = "SELECT metric, stage, key, value FROM (" + " UNION ALL ".join(
    f"SELECT metric, '{stage}' AS stage, key, SUM({COLUMN[stage]}) AS value FROM figure_counters "
    f"WHERE metric LIKE 'funnel:%' AND key NOT IN ('{NATIONAL}', '{PAIRS}') GROUP BY metric, key"
    for stage in STAGES if stage != MOVED_IN) + ") AS c WHERE value <> 0"


def rebuild_cells() -> None:
    """`funnel_cells` again from the counters (after they were rebuilt)."""
    db.session.execute(delete(FunnelCell))
    db.session.execute(text(f"INSERT INTO funnel_cells (metric, stage, key, value) {CELLS_SQL}"))


def cell_drift(limit: int = 3) -> tuple[int, list]:
    """`funnel_cells` rows that differ from the counters: (how many, examples)."""
    return _differences(CELLS_SQL, "SELECT metric, stage, key, value FROM funnel_cells", limit)
