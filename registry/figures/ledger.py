"""Keeps the maintained figures and the event ledger in step with every registration change.

Callers describe a change as registrations leaving and entering the counted state
(`FigureChange.remove(reg)` / `.add(reg)`); `record()` nets the deltas, updates the person
tallies, turns their 0↔1 transitions into 実人数 changes, bumps the counters and appends one
ledger event — all in the caller's transaction.
"""
import functools
import json
import random
from collections import Counter, defaultdict
from datetime import datetime

from sqlalchemy import TextClause, bindparam, delete, text

from registry.common.database import Upsert, as_json
from registry.common.ids import new_id
from registry.common.time import TOKYO
from registry.extensions import db
from registry.figures.models import FigureCounter, PersonTally
from registry.operations.metrics import note_registration_event
from registry.organizations.codes import prefecture_code_of
from registry.registrations.models import PREMIUM, RegistrationEvent

SLOTS = 16  # counter rows per key: concurrent writers spread over them
COUNTER_FIELDS = ("people", "registrations", "premium", "moved_in", "registered", "withdrawn")


# The statements of every change (cached: see common.database.Upsert): the person's tallies, the
# counters, and the ledger's event; on PostgreSQL all three in one statement (`_one_statement`).
TALLIES = Upsert(PersonTally.__table__, conflict=("user_id", "dimension", "value"),
                 action="DO UPDATE SET active = person_tallies.active + excluded.active",
                 returning=("dimension", "value", "active"))
COUNTERS = Upsert(FigureCounter.__table__, conflict=("metric", "key", "slot"), action="DO UPDATE SET " + ", ".join(
    f"{f} = figure_counters.{f} + excluded.{f}" for f in COUNTER_FIELDS))
EVENTS = RegistrationEvent.__table__


def home_prefecture(user) -> str | None:
    return prefecture_code_of(user.home_municipality_code) if user.home_municipality_code else None


def birth_key(user) -> str:
    return str(user.birth_year) if user.birth_year else "unknown"


def flow_key(home_pref: str | None, pref: str) -> str:
    return f"{home_pref or 'unknown'}>{pref}"


class FigureChange:
    """The figures' side of one change for one person."""

    def __init__(self, user, *, home_pref: str | None = None, birth: str | None = None):
        self.user = user
        self.home_pref = home_pref if home_pref is not None else home_prefecture(user)
        self.birth = birth if birth is not None else birth_key(user)
        self.tallies: Counter = Counter()
        self.counters: dict = defaultdict(Counter)

    def add(self, reg, sign: int = 1) -> "FigureChange":
        tier = reg.tier
        self.tallies[("all", "")] += sign
        self.tallies[("tier", tier)] += sign
        self.tallies[("prefecture", reg.prefecture_code)] += sign
        for tie in reg.ties:
            self.tallies[("tie", tie)] += sign
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

    def count(self, metric: str, key: str, field: str, amount: int = 1) -> "FigureChange":
        self.counters[(metric, key)][field] += amount
        return self

    def apply(self) -> int:
        """Applies the change without a ledger event (a restatement that leaves the totals as they
        were); returns the change in national 実人数."""
        people_delta = self._apply_tallies(self._people_targets())
        self._apply_counters()
        return people_delta

    def record(self, kind: str, *, registration=None, organization_code=None, now: datetime,
               actor_id=None, inserting: tuple | None = None) -> bool:
        """Applies the change and appends its ledger event. `inserting` — (an `Upsert` … DO NOTHING
        RETURNING, its row): the INSERT of the registration this change brings in, run first; if it
        inserts nothing (a concurrent duplicate), nothing is recorded and the answer is False."""
        day = now.astimezone(TOKYO).date()
        registrations_delta = self.counters[("total", "")]["registrations"]
        day_counter = self.counters[("day", day.isoformat())]
        day_counter["registrations"] += registrations_delta
        if kind in ("registered", "withdrawn", "moved_in"):
            day_counter[kind] += 1
        event = {  # people_delta: once the tallies are known
            "id": new_id(), "registration_id": registration.id if registration is not None else None,
            "user_id": self.user.id,
            "organization_code": registration.organization_code if registration is not None else organization_code,
            "kind": kind, "occurred_at": now, "day": day,
            "registrations_delta": registrations_delta, "actor_id": actor_id}
        targets = self._people_targets(day.isoformat())
        if db.engine.dialect.name == "postgresql":
            recorded = self._record_in_one_statement(targets, event, inserting)
        else:
            recorded = self._record_in_steps(targets, event, inserting)
        if recorded:
            note_registration_event(db.session(), kind)  # counted by /metrics once the transaction commits
        return recorded

    def _record_in_steps(self, targets: dict, event: dict, inserting: tuple | None) -> bool:
        if inserting is not None:
            upsert, row = inserting
            if db.session.execute(*upsert.one(row)).first() is None:
                return False
        event["people_delta"] = self._apply_tallies(targets)
        db.session.execute(EVENTS.insert(), event)
        self._apply_counters()
        return True

    def _record_in_one_statement(self, targets: dict, event: dict, inserting: tuple | None) -> bool:
        """The same as `_record_in_steps` as one statement: a round trip per statement was a large
        part of a registration's cost (bench/writes.py). The tallies' 0↔1 steps are worked out in
        SQL and moved to the counters `targets` names."""
        upsert, row = inserting if inserting is not None else (None, {})
        people = [{"dimension": d, "value": v, "metric": m, "key": k}
                  for (d, v), cells in targets.items() for m, k in cells]
        slot = random.randrange(SLOTS)
        inserted, lowest = db.session.execute(_one_statement(upsert), {
            **row, **{f"event_{name}": value for name, value in event.items()},
            "tallies": as_json(self._tally_rows()), "counters": as_json(self._counter_rows(slot)),
            "people": json.dumps(people), "slot": slot}).one()
        if lowest is not None and lowest < 0:
            raise RuntimeError("person tally below zero")
        return inserted

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
            elif dimension in ("tier", "tie"):
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

    def _apply_counters(self) -> None:
        """Adds the change to the counters, in one of SLOTS rows per key at random (concurrent
        writers spread over them)."""
        rows = self._counter_rows(random.randrange(SLOTS))
        if rows:
            db.session.execute(*COUNTERS.many(rows, db.engine.dialect.name))


@functools.cache
def _one_statement(first: Upsert | None) -> TextClause:
    """PostgreSQL: a change as one statement — `first` (the registration's INSERT, if any), the
    tallies, their 0↔1 steps, the event and the counters in data-modifying WITHs, all but `first`
    only if `first` inserted. Answers (whether `first` inserted, the lowest tally written)."""
    only_if = " WHERE EXISTS (SELECT FROM first)" if first else ""
    tallies = f"SELECT {', '.join(TALLIES.columns)} FROM {TALLIES.records('tallies')}{only_if}"
    steps = ("SELECT t.dimension, t.value, CAST(sign(t.active) - sign(t.active - r.active) AS integer) AS step "
             f"FROM tallied AS t JOIN {TALLIES.records('tallies')} USING (dimension, value)")
    event = ", ".join("(SELECT coalesce(sum(step), 0) FROM steps WHERE dimension = 'all')"
                      if c.name == "people_delta" else f":event_{c.name}" for c in EVENTS.columns)
    counters = (
        f"SELECT metric, key, CAST(:slot AS smallint), {', '.join(f'sum({f})' for f in COUNTER_FIELDS)} FROM ("
        f"SELECT metric, key, {', '.join(COUNTER_FIELDS)} FROM {COUNTERS.records('counters')}{only_if} "
        f"UNION ALL SELECT p.metric, p.key, {', '.join('s.step' if f == 'people' else '0' for f in COUNTER_FIELDS)} "
        "FROM steps AS s "
        "JOIN jsonb_to_recordset(CAST(:people AS jsonb)) AS p(dimension text, value text, metric text, key text) "
        "USING (dimension, value) WHERE s.step <> 0) AS d GROUP BY metric, key "
        # Rows locked in one order by every writer: two changes on the same slot wait, never deadlock.
        "ORDER BY metric, key")
    sql = ("WITH " + (f"first AS ({first.sql(first.values())}), " if first else "")
           + f"tallied AS ({TALLIES.sql(tallies)}), "
           + f"steps AS ({steps}), "
           + f"appended AS (INSERT INTO {EVENTS.name} ({', '.join(c.name for c in EVENTS.columns)}) "
           + f"SELECT {event}{only_if}), "
           + f"counted AS ({COUNTERS.sql(counters)}) "
           + "SELECT " + ("EXISTS (SELECT FROM first)" if first else "true") + ", (SELECT min(active) FROM tallied)")
    binds = (first.binds() if first else []) + [
        bindparam(f"event_{c.name}", type_=c.type) for c in EVENTS.columns if c.name != "people_delta"]
    return text(sql).bindparams(*binds)


def forget_person(user) -> None:
    """After an erased person's registrations have all ended: their tallies are zero and no longer
    needed (the counters and the ledger keep the history). A tally not at zero is kept, so that a
    recount would show it."""
    db.session.execute(delete(PersonTally).where(PersonTally.user_id == user.id, PersonTally.active == 0))
