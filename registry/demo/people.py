"""Synthetic demo residents: `flask --app wsgi seed-demo --people N --seed S` (API.md "Configuration").

What a run does
- It ADDS N residents and never deletes anything. Their e-mails are
  `demo-s<seed>-<index, 9 digits>@demo.example.jp`; a run continues the numbering after the highest
  index already present for that seed, so a second run with the same seed adds N more people (no
  collision), and different seeds never meet.
- Repeatable: every attribute of the people is drawn from `random.Random(seed)` by the planner
  (registry/demo/planner.py, with the weights of registry/demo/model.py), person by person, in a
  fixed order. The same seed therefore gives the same people (whatever the chunk size, and again on
  a second run, only under the next e-mail indexes); ids are time-ordered random UUIDs that differ
  per run.
- Every seeded account has the same password, `DEMO_PASSWORD`: ONE argon2 hash is computed per run
  and shared (hashing a million passwords would take hours).
- Fast: people are planned in plain Python a chunk at a time and written by the bulk writer
  (registry/common/bulk.py: COPY on PostgreSQL, executemany on SQLite), never as ORM objects. The
  ledger (`registration_events`) gets the rows a real history would have written, with exact
  `people_delta` / `registrations_delta`; afterwards `recount.rebuild()` replaces the maintained
  figures by a recount, so `verify-counts` finds no drift. Hosts, needs and applications follow
  as later steps (`EXTRA_STEPS`, registry/demo/steps.py).
- One transaction: `SeedRun` flushes only; the caller commits (the CLI does). A failure leaves nothing.
  On PostgreSQL the recount runs under SHARE ROW EXCLUSIVE locks on the figures' tables, so
  registrations made by the live service meanwhile wait a moment instead of being miscounted.
  After the commit, `analyse()` gives the planner statistics of every table the run filled.
- PostgreSQL, when the role may set `session_replication_role` (superuser, or
  `GRANT SET ON PARAMETER`): the per-row foreign-key triggers are off for this transaction and every
  foreign key of the rows written is checked set-wise before commit (`bulk.check_references`) —
  about twice as fast; otherwise the triggers check row by row. `SeedRun(skip_fk_triggers=False)`
  keeps them.
"""
from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable, Iterator

from sqlalchemy import text

from registry.accounts.models import User
from registry.common import bulk as bulk_loading
from registry.common.bulk import BulkWriter
from registry.common.time import utcnow
from registry.demo.hosts import DemoHosts
from registry.demo.model import Model
from registry.demo.needs import DemoNeeds
from registry.demo.planner import DAY_S, EPOCH_ORDINAL, JST, PlannedPerson, Planner, ledger
from registry.demo.steps import SeedStep
from registry.extensions import db, get_password_hasher
from registry.figures import recount
from registry.figures.models import RegistrationEvent
from registry.registrations.models import Activity, IdentityVerification, PremiumRequest, Registration

DEMO_PASSWORD = "furusato-demo-2026"
EMAIL_DOMAIN = "demo.example.jp"
CHUNK = 5_000
# The tables the recount fills (recount.rebuild() replaces their rows).
RECOUNTED_TABLES = ("person_tallies", "figure_counters", "funnel_cells")

# Hosts (ヌシ) in proportion to each 団体's registrants, then needs and applications (which read the hosts).
EXTRA_STEPS: list[type[SeedStep]] = [DemoHosts, DemoNeeds]


@dataclass
class SeedReport:
    people: int = 0
    registrations: int = 0
    active_registrations: int = 0
    events: int = 0
    rows: int = 0
    first_index: int = 0
    load_seconds: float = 0.0
    recount_seconds: float = 0.0

    @property
    def seconds(self) -> float:
        return self.load_seconds + self.recount_seconds


class PeopleLayouts:
    """The people's tables as the run writes them (registry/common/bulk.py: every column of each model,
    given per row or constant here)."""

    def __init__(self, bulk: BulkWriter):
        self.users = bulk.layout(User, {"role": "resident", "organization_code": None, "deactivated_at": None,
                                        "erased_at": None})
        self.registrations = bulk.layout(Registration)
        self.events = bulk.layout(RegistrationEvent, {"actor_id": None, "premium_until_before": None})
        self.verifications = bulk.layout(IdentityVerification, {"reason": None, "decided_by": None})
        self.requests = bulk.layout(PremiumRequest, {"kind": "new", "status": "approved", "reason": None,
                                                     "decided_by": None})
        self.activities = bulk.layout(Activity, {"source": "record", "need_id": None, "evidence_id": None})


@dataclass
class SeedRun:
    """Iterate `load()` (yields people written so far, chunk by chunk), then `finish()`; after the
    caller's commit, `analyse()`. Flushes only: the caller commits."""

    people: int
    seed: int
    now: datetime = field(default_factory=utcnow)
    premium_limit: int = 3
    chunk_size: int = CHUNK
    # PostgreSQL: None skips the per-row foreign-key triggers when the role may (and checks the
    # references set-wise instead); False keeps them; True insists.
    skip_fk_triggers: bool | None = None

    def __post_init__(self):
        if self.people < 1:
            raise ValueError("people must be at least 1")
        if self.seed < 0:
            raise ValueError("seed must not be negative")
        self.report = SeedReport(people=self.people)
        self.model = Model.load()
        self.bulk = BulkWriter()
        self.layouts = PeopleLayouts(self.bulk)
        self.fk_triggers_skipped = self.bulk.postgres and self.skip_fk_triggers is not False \
            and bulk_loading.skip_fk_triggers(required=bool(self.skip_fk_triggers))
        self.planner = Planner(self.model, self.seed, self.now, premium_limit=self.premium_limit)
        self.prefix = f"demo-s{self.seed}-"
        self.report.first_index = self._next_index()
        self.password_hash = get_password_hasher().hash(DEMO_PASSWORD)
        self.steps = [step(self) for step in EXTRA_STEPS]
        self.analysed: set[str] = set()  # tables ANALYZEd in the run's own transaction

    def rng(self, name: str) -> random.Random:
        """A repeatable random stream of its own for a later step."""
        return random.Random(f"{self.seed}:{name}")

    def _next_index(self) -> int:
        """After the highest index of this seed already present (indexes are zero-padded, so the
        greatest e-mail is the greatest index; an erased account's e-mail is gone, and its index
        may be given again without collision)."""
        last = db.session.scalar(text("SELECT MAX(email_key) FROM users WHERE email_key LIKE :p")
                                 .bindparams(p=self.prefix + "%"))
        return int(last[len(self.prefix):len(self.prefix) + 9]) + 1 if last else 0

    def load(self) -> Iterator[int]:
        """Plans and writes the people chunk by chunk; yields how many are done so far."""
        started = time.perf_counter()
        try:
            for step in self.steps:
                step.before_people()
            done = 0
            people = self.planner.people(self.people)
            while done < self.people:
                chunk = [next(people) for _ in range(min(self.chunk_size, self.people - done))]
                for i, person in enumerate(chunk):
                    person.index = self.report.first_index + done + i
                self._write(chunk)
                for step in self.steps:
                    step.after_chunk(chunk)
                done += len(chunk)
                yield done
            for step in self.steps:
                step.after_people()
            self.bulk.drain()
        finally:
            self.bulk.close()
        self.report.load_seconds = time.perf_counter() - started

    def finish(self) -> SeedReport:
        """Replaces the maintained figures by a recount, so they are exact with the new rows."""
        started = time.perf_counter()
        self.bulk.drain()
        if self.bulk.postgres:
            # Fresh planner statistics for the recount's joins (this transaction's rows count), then
            # hold off concurrent registration changes until the recount is in place.
            joined = ("users", "registrations", "registration_events")
            bulk_loading.analyse(joined)
            self.analysed.update(joined)
            db.session.execute(text("LOCK TABLE registrations, registration_events, person_tallies, figure_counters, "
                                    "users IN SHARE ROW EXCLUSIVE MODE"))
        recount.rebuild()
        if self.fk_triggers_skipped:
            bulk_loading.check_references(self.bulk.lowest_id, self.bulk.tables_written, "seed-demo")
            bulk_loading.restore_fk_triggers()
        self.report.rows = self.bulk.rows_written
        self.report.recount_seconds = time.perf_counter() - started
        return self.report

    @property
    def filled_tables(self) -> list[str]:
        """Every table the run wrote rows to, and the recount's."""
        return list(self.bulk.tables_written) + list(RECOUNTED_TABLES)

    def analyse(self) -> None:
        """After the caller's commit: ANALYZE (PostgreSQL) of the tables the run filled that its
        transaction did not already analyse, so the first requests after a seed are planned for
        the tables as they now are. The caller commits again."""
        bulk_loading.analyse(table for table in self.filled_tables if table not in self.analysed)

    def _write(self, chunk: list[PlannedPerson]) -> None:
        """The chunk's rows: users, registrations, their ledger, verifications, premium requests and
        activities (sets the people's and registrations' ids)."""
        b, json_list, report, layouts = self.bulk, self.planner.json_list, self.report, self.layouts
        b.new_chunk()
        new_id, ts, day, tokyo_day, int_, text_ = b.id, b.ts, b.day, b.tokyo_day, b.int, b.text
        null, true, false = b.null, b.true, b.false
        user, registration, event = layouts.users.row, layouts.registrations.row, layouts.events.row
        verification, request, activity = layouts.verifications.row, layouts.requests.row, layouts.activities.row
        users, regs, events, verifications, requests, activities = [], [], [], [], [], []
        prefix, password = self.prefix, self.password_hash
        for p in chunk:
            p.id = uid = new_id()
            p.email = email = f"{prefix}{p.index:09d}@{EMAIL_DOMAIN}"
            users.append(user(
                id=uid, email=email, email_key=email, password_hash=password, display_name=text_(p.display_name),
                birth_year=int_(p.birth_year), skills=json_list(p.skills), interests=json_list(p.interests),
                availability=text_(p.availability), home_municipality_code=p.home,
                guardian_consent=true if p.guardian_consent else false,
                consent_share_profile=true if p.consent_share_profile else false,
                consent_scouting=true if p.consent_scouting else false,
                consent_announcements=true if p.consent_announcements else false,
                email_verified_at=ts(p.email_verified_at), session_nonce=b.nonce(), created_at=ts(p.created_at)))
            for reg in p.registrations:
                reg.id = rid = new_id()
                premium = reg.premium_at is not None
                regs.append(registration(
                    id=rid, user_id=uid, organization_code=reg.organization_code, prefecture_code=reg.prefecture_code,
                    tier="premium" if premium else "basic", ties=json_list(reg.ties), status=reg.status,
                    registered_at=ts(reg.registered_at), ended_at=ts(reg.ended_at),
                    premium_valid_until=day(reg.premium_valid_until) if premium else null))
                if premium:
                    requests.append(request(id=new_id(), registration_id=rid, user_id=uid,
                                            organization_code=reg.organization_code,
                                            created_at=ts(reg.premium_requested_at), decided_at=ts(reg.premium_at)))
                    for on in reg.activities:  # recorded at 18:00 in Japan that day
                        at = (on.toordinal() - EPOCH_ORDINAL) * DAY_S + 18 * 3600 - JST
                        activities.append(activity(id=new_id(), user_id=uid, organization_code=reg.organization_code,
                                                   completed_on=day(on), created_at=ts(at)))
            # The figures file every registration under the person's home as written (the recount
            # does), so the ledger notes that home; no premium is ended or lapsed in a seeded history.
            home_pref = text_(self.model.prefecture_of[p.home])
            for at, kind, reg, people_delta, registrations_delta in ledger(p):
                events.append(event(id=new_id(), registration_id=reg.id, user_id=uid,
                                    organization_code=reg.organization_code, kind=kind, occurred_at=ts(at),
                                    day=tokyo_day(at), people_delta=int_(people_delta),
                                    registrations_delta=int_(registrations_delta), home_prefecture_code=home_pref))
            if p.verification is not None:
                method, status, at, decided = p.verification
                verifications.append(verification(id=new_id(), user_id=uid, method=method, status=status,
                                                  created_at=ts(at), decided_at=ts(decided)))
        report.registrations += len(regs)
        report.active_registrations += sum(r.status == "active" for p in chunk for r in p.registrations)
        report.events += len(events)
        for layout, rows in ((layouts.users, users), (layouts.registrations, regs), (layouts.events, events),
                             (layouts.verifications, verifications), (layouts.requests, requests),
                             (layouts.activities, activities)):
            b.write(layout, rows)


def seed_demo(people: int, seed: int, *, now: datetime | None = None, premium_limit: int = 3,
              chunk_size: int = CHUNK, progress: Callable[[int], None] | None = None) -> SeedReport:
    """Adds `people` synthetic residents (see the module docstring) and recounts the figures.
    Flushes only: the caller commits (and may then call `SeedRun.analyse()`: `seed-demo` does)."""
    run = SeedRun(people, seed, now=now or utcnow(), premium_limit=premium_limit, chunk_size=chunk_size)
    last = 0
    for done in run.load():
        if progress:
            progress(done - last)
        last = done
    return run.finish()
