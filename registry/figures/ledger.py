"""Keeps the maintained figures and the event ledger in step with every registration change.

The registrations domain announces each change (registry/registrations/events.py); `keep()` turns it
into a `FigureChange`: registrations leaving and entering the counted state, netted into the
person's tallies, whose 0↔1 steps are 実人数 changes, the counters, and one ledger event — all in
the caller's transaction. On PostgreSQL a change is one statement (`ONE_STATEMENT`, below); SQLite
runs the same steps as several. A first registration with a 団体 (and the person's first anywhere)
also counts in the relationship funnel's cohort of its month, in the same statement, with the
団体's cell in value order (models.FunnelCell; stages.py; the funnel's other stages: funnel.py).

Each event also notes the person's home prefecture and, for one registration, its premium validity
before the change; a restatement (a new home or birth year) is noted as `restated` with the old home.
With them a past month's end can be worked out again exactly (month_end.py).
"""
import random
from collections import Counter, defaultdict
from datetime import datetime

from sqlalchemy import Boolean, bindparam, delete, select, text

from registry.common.database import Upsert
from registry.common.ids import new_id
from registry.common.time import TOKYO
from registry.extensions import db
from registry.figures.models import FigureCounter, FunnelCell, FunnelMark, PersonTally, RegistrationEvent
from registry.figures.stages import NATIONAL, PAIRS, REGISTERED as FIRST_REGISTRATION, cohort_metric, month_of
from registry.figures.typology import types_of
from registry.organizations.codes import prefecture_code_of
from registry.registrations import events
from registry.registrations.events import ERASED, MOVED_IN, REGISTERED, RESTATED, PersonFacts, RegistrationChange
from registry.registrations.models import PREMIUM, Registration

SLOTS = 16  # counter rows per key: concurrent writers spread over them
COUNTER_FIELDS = ("people", "registrations", "premium", "moved_in", "registered", "withdrawn")
DAY_EVENTS = ("registered", "withdrawn", "moved_in")  # counted per day as well

# SQLite's statements for a change (cached text statements: see common.database.Upsert).
TALLIES = Upsert(PersonTally.__table__, conflict=("user_id", "dimension", "value"),
                 action="DO UPDATE SET active = person_tallies.active + excluded.active",
                 returning=("dimension", "value", "active"))
COUNTERS = Upsert(FigureCounter.__table__, conflict=("metric", "key", "slot"), action="DO UPDATE SET " + ", ".join(
    f"{f} = figure_counters.{f} + excluded.{f}" for f in COUNTER_FIELDS))
EVENTS = RegistrationEvent.__table__
# A 団体's funnel cell in value order (models.FunnelCell), beside its counter row.
CELLS = Upsert(FunnelCell.__table__, conflict=("metric", "stage", "key"),
               action="DO UPDATE SET value = funnel_cells.value + excluded.value")
MARKS = Upsert(FunnelMark.__table__, conflict=("user_id", "scope", "stage"), action="DO NOTHING",
               returning=("scope",))

# PostgreSQL: a whole change as ONE statement (a round trip per statement was a large part of a
# registration's cost, bench/writes.py). Its parameters are columns, as arrays (psycopg sends lists
# as arrays, cheaper to build and to read than JSON): the person's tally deltas (`tally_*`), the
# counter deltas, in row `slot` of each key (`counter_*`), for each tally the counters whose 実人数
# move when it starts or stops (`people_*`), and the event's columns. When `first` is true (a
# registration), it also counts in the funnel's cohort `funnel_metric`: with the 団体 when the person
# has no other registration there, and nationally when it is their first anywhere (the national mark
# is new: a concurrent first registration of the same person waits on it and inserts nothing).
# It answers the lowest tally written (below zero would be a bug: the caller refuses it).
ONE_STATEMENT = text("""
WITH delta AS (
    SELECT * FROM unnest(CAST(:tally_dimension AS text[]), CAST(:tally_value AS text[]),
                         CAST(:tally_active AS integer[])) AS d(dimension, value, active)
), tallied AS (
    INSERT INTO person_tallies (user_id, dimension, value, active)
    SELECT :user_id, dimension, value, active FROM delta
    ON CONFLICT (user_id, dimension, value) DO UPDATE SET active = person_tallies.active + excluded.active
    RETURNING dimension, value, active
), steps AS (
    -- +1 where a tally went from 0 to more, -1 where it went back to 0
    SELECT after.dimension, after.value, CAST(sign(after.active) - sign(after.active - delta.active) AS integer) AS step
    FROM tallied AS after JOIN delta USING (dimension, value)
), appended AS (
    INSERT INTO registration_events (id, registration_id, user_id, organization_code, kind, occurred_at, day,
                                     people_delta, registrations_delta, actor_id, home_prefecture_code,
                                     premium_until_before)
    VALUES (:id, :registration_id, :user_id, :organization_code, :kind, :occurred_at, :day,
            (SELECT coalesce(sum(step), 0) FROM steps WHERE dimension = 'all'), :registrations_delta, :actor_id,
            :home_prefecture_code, :premium_until_before)
), first_here AS (
    SELECT 1 AS n WHERE :first AND NOT EXISTS (
        SELECT 1 FROM registrations WHERE user_id = :user_id AND organization_code = :organization_code
                                      AND id <> :registration_id)
), first_anywhere AS (
    INSERT INTO funnel_marks (user_id, scope, stage) SELECT :user_id, '', 'registered' WHERE :first
    ON CONFLICT DO NOTHING RETURNING 1 AS n
), counted AS (
    INSERT INTO figure_counters (metric, key, slot, people, registrations, premium, moved_in, registered, withdrawn)
    SELECT metric, key, CAST(:slot AS smallint), sum(people), sum(registrations), sum(premium), sum(moved_in),
           sum(registered), sum(withdrawn)
    FROM (
        SELECT * FROM unnest(CAST(:counter_metric AS text[]), CAST(:counter_key AS text[]),
                             CAST(:counter_people AS bigint[]), CAST(:counter_registrations AS bigint[]),
                             CAST(:counter_premium AS bigint[]), CAST(:counter_moved_in AS bigint[]),
                             CAST(:counter_registered AS bigint[]), CAST(:counter_withdrawn AS bigint[]))
             AS c(metric, key, people, registrations, premium, moved_in, registered, withdrawn)
        UNION ALL
        SELECT target.metric, target.key, steps.step, 0, 0, 0, 0, 0
        FROM steps
        JOIN unnest(CAST(:people_dimension AS text[]), CAST(:people_value AS text[]),
                    CAST(:people_metric AS text[]), CAST(:people_key AS text[]))
             AS target(dimension, value, metric, key) USING (dimension, value)
        WHERE steps.step <> 0
        UNION ALL SELECT :funnel_metric, :organization_code, 0, 0, 0, 0, 1, 0 FROM first_here
        UNION ALL SELECT :funnel_metric, '+', 0, 0, 0, 0, 1, 0 FROM first_here
        UNION ALL SELECT :funnel_metric, '*', 0, 0, 0, 0, 1, 0 FROM first_anywhere
    ) AS deltas
    GROUP BY metric, key
    ORDER BY metric, key  -- every writer locks counter rows in one order: two on one slot wait, never deadlock
    ON CONFLICT (metric, key, slot) DO UPDATE SET
        people = figure_counters.people + excluded.people,
        registrations = figure_counters.registrations + excluded.registrations,
        premium = figure_counters.premium + excluded.premium,
        moved_in = figure_counters.moved_in + excluded.moved_in,
        registered = figure_counters.registered + excluded.registered,
        withdrawn = figure_counters.withdrawn + excluded.withdrawn
), ordered AS (  -- after `counted`: the counter rows are locked first, in one order, as everywhere
    INSERT INTO funnel_cells (metric, stage, key, value)
    SELECT :funnel_metric, 'registered', :organization_code, 1 FROM first_here
    ON CONFLICT (metric, stage, key) DO UPDATE SET value = funnel_cells.value + excluded.value
)
SELECT min(active) FROM tallied
""").bindparams(*[bindparam(name, type_=EVENTS.c[name].type)
                  for name in ("id", "registration_id", "user_id", "organization_code", "kind", "occurred_at", "day",
                               "registrations_delta", "actor_id", "home_prefecture_code", "premium_until_before")],
                bindparam("first", type_=Boolean()), bindparam("funnel_metric", type_=FigureCounter.__table__.c.metric.type))


def home_prefecture_of(home_municipality_code: str | None) -> str | None:
    return prefecture_code_of(home_municipality_code) if home_municipality_code else None


def birth_key(birth_year: int | None) -> str:
    return str(birth_year) if birth_year else "unknown"


def flow_key(home_pref: str | None, pref: str) -> str:
    return f"{home_pref or 'unknown'}>{pref}"


def subscribe() -> None:
    """Called by create_app: every announced registration change moves the figures (idempotent)."""
    events.changed.connect(keep)


def keep(change: RegistrationChange) -> None:
    """The figures' side of one announced change, in its transaction."""
    if change.kind is None:  # a restatement: out of the old person's cells, into the new ones
        old = FigureChange(change.user, facts=change.before)
        old.remove_all(change.leaving).apply()
        FigureChange(change.user).add_all(change.entering).apply()
        note_restatement(change.user, home_prefecture=old.home_pref, now=change.now)
        return
    figures = FigureChange(change.user).remove_all(change.leaving).add_all(change.entering)
    if change.kind == MOVED_IN:
        for counted in change.leaving:
            for metric, key in (("total", ""), ("prefecture", counted.prefecture_code),
                                ("organization", counted.organization_code)):
                figures.count(metric, key, "moved_in")
    before = change.leaving[0] if len(change.leaving) == 1 else None
    figures.record(change.kind, registration_id=change.registration_id,
                   organization_code=change.organization_code, now=change.now, actor_id=change.actor_id,
                   premium_until_before=before.premium_valid_until if before and before.tier == PREMIUM else None)
    if change.kind == ERASED:
        forget_person(change.user)


def note_restatement(user, *, home_prefecture: str | None, now: datetime) -> None:
    """The ledger's note of a restatement: no count changes, the home the person had until now."""
    db.session.execute(EVENTS.insert(), {
        "id": new_id(), "registration_id": None, "user_id": user.id, "organization_code": None, "kind": RESTATED,
        "occurred_at": now, "day": now.astimezone(TOKYO).date(), "people_delta": 0, "registrations_delta": 0,
        "actor_id": None, "home_prefecture_code": home_prefecture, "premium_until_before": None})


class FigureChange:
    """The figures' side of one change for one person (filed under `facts`: the person's home and
    birth year, now unless told)."""

    def __init__(self, user, *, facts: PersonFacts | None = None):
        facts = facts or PersonFacts.of(user)
        self.user = user
        self.home_pref = home_prefecture_of(facts.home_municipality_code)
        self.birth = birth_key(facts.birth_year)
        self.tallies: Counter = Counter()
        self.counters: dict = defaultdict(Counter)

    def add(self, reg, sign: int = 1) -> "FigureChange":
        """`reg`: anything with organization_code, prefecture_code, tier and ties (a Counted)."""
        tier = reg.tier
        self.tallies[("all", "")] += sign
        self.tallies[("tier", tier)] += sign
        self.tallies[("prefecture", reg.prefecture_code)] += sign
        for tie in reg.ties:
            self.tallies[("tie", tie)] += sign
        for kind in types_of(reg.ties):  # once per type, however many of its ties
            self.tallies[("type", kind)] += sign
            self.counters[("type", kind)]["registrations"] += sign
        premium = sign if tier == PREMIUM else 0
        for metric, key in (("total", ""), ("prefecture", reg.prefecture_code),
                            ("organization", reg.organization_code), ("tier", tier),
                            ("birth_year", self.birth)):
            self.counters[(metric, key)]["registrations"] += sign
            self.counters[(metric, key)]["premium"] += premium
        # One active registration per person and 団体: its people count moves with it.
        self.counters[("organization", reg.organization_code)]["people"] += sign
        for tie in reg.ties:
            self.counters[("tie", tie)]["registrations"] += sign
        return self

    def remove(self, reg) -> "FigureChange":
        return self.add(reg, -1)

    def add_all(self, regs) -> "FigureChange":
        for reg in regs:
            self.add(reg)
        return self

    def remove_all(self, regs) -> "FigureChange":
        for reg in regs:
            self.remove(reg)
        return self

    def count(self, metric: str, key: str, field: str, amount: int = 1) -> "FigureChange":
        self.counters[(metric, key)][field] += amount
        return self

    def apply(self) -> int:
        """Applies the change without a ledger event (a restatement that leaves the totals as they
        were); returns the change in national 実人数."""
        people_delta = self._apply_tallies(self._people_targets())
        self._apply_counters(random.randrange(SLOTS))
        return people_delta

    def record(self, kind: str, *, now: datetime, registration_id=None, organization_code=None,
               actor_id=None, premium_until_before=None) -> None:
        """Applies the change and appends its ledger event (a registration also counts in the
        funnel's cohort of its month when it is the person's first with the 団体, or anywhere)."""
        day = now.astimezone(TOKYO).date()
        registrations_delta = self.counters[("total", "")]["registrations"]
        day_counter = self.counters[("day", day.isoformat())]
        day_counter["registrations"] += registrations_delta
        if kind in DAY_EVENTS:
            day_counter[kind] += 1
        event = {"id": new_id(), "registration_id": registration_id, "user_id": self.user.id,
                 "organization_code": organization_code, "kind": kind, "occurred_at": now, "day": day,
                 "registrations_delta": registrations_delta, "actor_id": actor_id,
                 "home_prefecture_code": self.home_pref, "premium_until_before": premium_until_before}
        targets = self._people_targets(day.isoformat())
        slot = random.randrange(SLOTS)
        first = kind == REGISTERED and registration_id is not None
        if db.engine.dialect.name == "postgresql":
            columns = {name: array_literal(values) for name, values in self._columns(targets).items()}
            lowest = db.session.execute(ONE_STATEMENT, {
                **event, "slot": slot, **columns, "first": first,
                "funnel_metric": cohort_metric(month_of(now)) if first else None}).scalar_one()
            if lowest is not None and lowest < 0:
                raise RuntimeError("person tally below zero")
            return
        event["people_delta"] = self._apply_tallies(targets)
        db.session.execute(EVENTS.insert(), event)
        if first:
            self._count_first_registration(organization_code, registration_id, now)
        self._apply_counters(slot)

    def _count_first_registration(self, organization_code: str, registration_id, now: datetime) -> None:
        """SQLite's steps of `first_here` and `first_anywhere` in ONE_STATEMENT."""
        metric = cohort_metric(month_of(now))
        again = db.session.execute(
            select(Registration.id).where(Registration.user_id == self.user.id,
                                          Registration.organization_code == organization_code,
                                          Registration.id != registration_id).limit(1)).first()
        if again is None:
            self.counters[(metric, organization_code)]["registered"] += 1
            self.counters[(metric, PAIRS)]["registered"] += 1
            db.session.execute(*CELLS.one({"metric": metric, "stage": FIRST_REGISTRATION,
                                           "key": organization_code, "value": 1}))
        if db.session.execute(*MARKS.one({"user_id": self.user.id, "scope": "",
                                          "stage": FIRST_REGISTRATION})).first() is not None:
            self.counters[(metric, NATIONAL)]["registered"] += 1

    def _tally_rows(self) -> list[dict]:
        return [{"user_id": self.user.id, "dimension": d, "value": v, "active": delta}
                for (d, v), delta in self.tallies.items() if delta]

    def _apply_tallies(self, targets: dict) -> int:
        """Updates the person's tallies and moves the 実人数 of the counters `targets` names for
        each tally that starts (0→1) or stops (1→0); returns the change in national 実人数."""
        rows = self._tally_rows()
        if not rows:
            return 0
        people_delta = 0
        for dimension, value, after in db.session.execute(*TALLIES.many(rows, db.engine.dialect.name)):
            before = after - self.tallies[(dimension, value)]
            if after < 0:
                raise RuntimeError(f"person tally below zero: {dimension}={value}")
            step = (before == 0 and after > 0) - (before > 0 and after == 0)
            for metric, key in targets[(dimension, value)] if step else ():
                self.counters[(metric, key)]["people"] += step
            if dimension == "all":
                people_delta = step
        return people_delta

    def _people_targets(self, day: str | None = None) -> dict:
        """For each tally: the counters whose 実人数 move when the person starts or stops being in it."""
        targets = {}
        for dimension, value in self.tallies:
            if dimension == "all":
                cells = [("total", ""), ("birth_year", self.birth)] + ([("day", day)] if day else [])
            elif dimension in ("tier", "tie", "type"):
                cells = [(dimension, value)]
            elif dimension == "prefecture":
                cells = self.prefecture_cells(value)
            else:
                cells = []
            targets[(dimension, value)] = cells
        return targets

    def prefecture_cells(self, pref: str) -> list[tuple[str, str]]:
        """A person tied to a prefecture counts in its 実人数 unless they live there; the flows count
        everyone (DESIGN.md "Counting")."""
        cells = [("prefecture", pref)] if self.home_pref != pref else []
        return cells + [("flow", flow_key(self.home_pref, pref))]

    def _counter_rows(self, slot: int) -> list[dict]:
        """The counters' deltas, in row `slot` of each key's SLOTS rows."""
        return [{"metric": metric, "key": key, "slot": slot, **{f: deltas.get(f, 0) for f in COUNTER_FIELDS}}
                for (metric, key), deltas in self.counters.items() if any(deltas.values())]

    def _columns(self, targets: dict) -> dict[str, list]:
        """ONE_STATEMENT's array parameters: the tally deltas, the counter deltas and the people targets."""
        columns = {name: [] for name in ("tally_dimension", "tally_value", "tally_active", "people_dimension",
                                         "people_value", "people_metric", "people_key", "counter_metric",
                                         "counter_key", *(f"counter_{f}" for f in COUNTER_FIELDS))}
        for (dimension, value), delta in self.tallies.items():
            if delta:
                columns["tally_dimension"].append(dimension)
                columns["tally_value"].append(value)
                columns["tally_active"].append(delta)
            for metric, key in targets[(dimension, value)]:
                columns["people_dimension"].append(dimension)
                columns["people_value"].append(value)
                columns["people_metric"].append(metric)
                columns["people_key"].append(key)
        for (metric, key), deltas in self.counters.items():
            if any(deltas.values()):
                columns["counter_metric"].append(metric)
                columns["counter_key"].append(key)
                for field in COUNTER_FIELDS:
                    columns[f"counter_{field}"].append(deltas.get(field, 0))
        return columns

    def _apply_counters(self, slot: int) -> None:
        """Adds the change to the counters, in one of SLOTS rows per key (concurrent writers spread
        over them)."""
        rows = self._counter_rows(slot)
        if rows:
            db.session.execute(*COUNTERS.many(rows, db.engine.dialect.name))


def array_literal(values: list) -> str:
    """A PostgreSQL array literal of `values`, each quoted: psycopg adapts a list element by element
    in Python, several times slower for these short arrays than this one string."""
    return "{" + ",".join('"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values) + "}"


def forget_person(user) -> None:
    """After an erased person's registrations have all ended: their tallies are zero and no longer
    needed (the counters and the ledger keep the history). A tally not at zero is kept, so that a
    recount would show it."""
    db.session.execute(delete(PersonTally).where(PersonTally.user_id == user.id, PersonTally.active == 0))


def contribution(home_prefecture: str | None, active, moved_in=()) -> dict[tuple[str, str], Counter]:
    """What one person adds to the counters, filed exactly as the ledger files them: `active`, their
    active registrations (Counted), as they count (tiers as given); `moved_in`, their registrations
    that ended as moved in. Used to work out the counters at a past moment (month_end.py)."""
    change = FigureChange(None, facts=PersonFacts(None, None))
    change.home_pref = home_prefecture
    change.add_all(active)
    out: dict = defaultdict(Counter)
    for cell, deltas in change.counters.items():
        out[cell].update(deltas)
    targets = change._people_targets()
    for tally, n in change.tallies.items():
        if n > 0:
            for cell in targets[tally]:
                out[cell]["people"] += 1
    for counted in moved_in:
        for cell in (("total", ""), ("prefecture", counted.prefecture_code), ("organization", counted.organization_code)):
            out[cell]["moved_in"] += 1
    return out
