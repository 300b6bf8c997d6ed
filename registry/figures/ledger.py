"""Keeps the maintained figures and the event ledger in step with every registration change.

Callers describe a change as registrations leaving and entering the counted state
(`FigureChange.remove(reg)` / `.add(reg)`); `record()` nets the deltas, updates the person
tallies, turns their 0↔1 transitions into 実人数 changes, bumps the counters and appends one
ledger event — all in the caller's transaction.
"""
import random
from collections import Counter, defaultdict
from datetime import datetime

from sqlalchemy import delete

from registry.common.database import Upsert
from registry.common.ids import new_id
from registry.common.time import TOKYO
from registry.extensions import db
from registry.figures.models import FigureCounter, PersonTally
from registry.operations.metrics import note_registration_event
from registry.organizations.codes import prefecture_code_of
from registry.registrations.models import PREMIUM, RegistrationEvent

SLOTS = 16  # counter rows per key: concurrent writers spread over them
COUNTER_FIELDS = ("people", "registrations", "premium", "moved_in", "registered", "withdrawn")


# The two statements of every change (cached: see common.database.Upsert): the person's tallies,
# then the counters with the change's ledger event appended in the same statement.
TALLIES = Upsert(PersonTally.__table__, conflict=("user_id", "dimension", "value"),
                 action="DO UPDATE SET active = person_tallies.active + excluded.active",
                 returning=("dimension", "value", "active"))
COUNTERS = Upsert(FigureCounter.__table__, conflict=("metric", "key", "slot"), action="DO UPDATE SET " + ", ".join(
    f"{f} = figure_counters.{f} + excluded.{f}" for f in COUNTER_FIELDS), appends=RegistrationEvent.__table__)


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
        people_delta = self._apply_tallies()
        self._apply_counters()
        return people_delta

    def record(self, kind: str, *, registration=None, organization_code=None, now: datetime,
               actor_id=None, inserting: tuple | None = None) -> bool:
        """Applies the change and appends its ledger event. `inserting` — (an `Upsert` … DO NOTHING
        RETURNING, its row): the INSERT of the registration this change brings in, run first (in
        the tallies' statement on PostgreSQL); if it inserts nothing (a concurrent duplicate),
        nothing is recorded and the answer is False."""
        people_delta = self._apply_tallies(inserting)
        if people_delta is None:
            return False
        registrations_delta = self.counters[("total", "")]["registrations"]
        day = now.astimezone(TOKYO).date()
        day_counter = self.counters[("day", day.isoformat())]
        day_counter["people"] += people_delta
        day_counter["registrations"] += registrations_delta
        if kind in ("registered", "withdrawn", "moved_in"):
            day_counter[kind] += 1
        self._apply_counters(event={
            "id": new_id(), "registration_id": registration.id if registration is not None else None,
            "user_id": self.user.id,
            "organization_code": registration.organization_code if registration is not None else organization_code,
            "kind": kind, "occurred_at": now, "day": day, "people_delta": people_delta,
            "registrations_delta": registrations_delta, "actor_id": actor_id})
        note_registration_event(db.session(), kind)  # counted by /metrics once the transaction commits
        return True

    def _apply_tallies(self, inserting: tuple | None = None) -> int | None:
        """Updates the person's tallies; returns the change in national 実人数 (−1, 0 or 1), or None
        when `inserting` (see `record`) inserted nothing."""
        changed = {k: v for k, v in self.tallies.items() if v}
        dialect = db.engine.dialect.name
        rows = [{"user_id": self.user.id, "dimension": d, "value": v, "active": delta}
                for (d, v), delta in changed.items()]
        if inserting is not None:
            upsert, row = inserting
            tallied = TALLIES.run_many_after(db.session, rows, dialect, first=upsert, first_row=row)
            if tallied is None:
                return None
        elif not rows:
            return 0
        else:
            tallied = db.session.execute(*TALLIES.many(rows, dialect))
        people_delta = 0
        for dimension, value, after in tallied:
            before = after - changed[(dimension, value)]
            if after < 0:
                raise RuntimeError(f"person tally below zero: {dimension}={value}")
            step = (before == 0 and after > 0) - (before > 0 and after == 0)
            if not step:
                continue
            self._person_step(dimension, value, step)
            if dimension == "all":
                people_delta = step
        return people_delta

    def _person_step(self, dimension: str, value: str, step: int) -> None:
        if dimension == "all":
            self.counters[("total", "")]["people"] += step
            self.counters[("birth_year", self.birth)]["people"] += step
        elif dimension in ("tier", "tie"):
            self.counters[(dimension, value)]["people"] += step
        elif dimension == "prefecture":
            self.prefecture_people(value, step)

    def prefecture_people(self, pref: str, step: int, home_pref: str | None = None) -> None:
        """A person starting (+1) or stopping (−1) to be tied to a prefecture. Its 実人数 leaves out
        people who live there; the flows keep them (DESIGN.md "Counting")."""
        home = self.home_pref if home_pref is None else home_pref
        if home != pref:
            self.counters[("prefecture", pref)]["people"] += step
        self.counters[("flow", flow_key(home, pref))]["people"] += step

    def _apply_counters(self, event: dict | None = None) -> None:
        """Adds the change to the counters (in one of SLOTS rows per key, at random) and appends
        `event` to the ledger, if given."""
        slot = random.randrange(SLOTS)
        rows = [{"metric": metric, "key": key, "slot": slot, **{f: deltas.get(f, 0) for f in COUNTER_FIELDS}}
                for (metric, key), deltas in self.counters.items() if any(deltas.values())]
        if event is not None:
            COUNTERS.run_many(db.session, rows, db.engine.dialect.name, appended=event)
        elif rows:
            db.session.execute(*COUNTERS.many(rows, db.engine.dialect.name))


def forget_person(user) -> None:
    """After an erased person's registrations have all ended: their tallies are zero and no longer
    needed (the counters and the ledger keep the history). A tally not at zero is kept, so that a
    recount would show it."""
    db.session.execute(delete(PersonTally).where(PersonTally.user_id == user.id, PersonTally.active == 0))
