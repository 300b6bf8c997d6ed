"""Planning demo people in plain Python: `Planner(model, seed, now).people(n)` draws them one by one
from `random.Random(seed)` — home, birth year, consents, profile, registrations with their 団体,
ties, status, tier, premium, verifications, activities, and all times *relative to `now`* — in a
fixed order, so the same seed gives the same people. `ledger(person)` is the history a real person
would have left in `registration_events`. Nothing here touches the database (registry/demo/people.py
writes the plans).
"""
from __future__ import annotations

import json
import math
import random
from datetime import date, datetime, timedelta
from typing import Iterator

from registry.common.time import last_day_of_year_from
from registry.demo.model import (
    ADULT_ONLY_TIES, AGES, AVAILABILITY, COUNTS_ADULT, COUNTS_MINOR, GIVEN_NAMES, HOURS_JST, INTERESTS, METROPOLITAN,
    MINOR_TIES, MOVED_IN_SHARE, PREFECTURE_SHARE, PREFECTURE_TIES, PREMIUM_COUNTS, PREMIUM_SHARE, PRIMARY_TIES,
    SAME_PREFECTURE_ACCEPT, SECOND_TIE_SHARE, SECOND_TIES, SKILLS, SURNAMES, VERIFICATION_METHODS, WITHDRAWN_SHARE,
    Model, Weighted, pref_number,
)

DAY_S = 86_400
WINDOW_DAYS = 365
JST = 9 * 3600
EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


class PlannedRegistration:
    __slots__ = ("id", "organization_code", "prefecture_code", "ties", "registered_at", "status", "ended_at",
                 "premium_at", "premium_requested_at", "premium_valid_until", "activities")

    def __init__(self, organization_code: str, prefecture_code: str, ties: tuple, registered_at: int):
        self.id = None
        self.organization_code, self.prefecture_code = organization_code, prefecture_code
        self.ties, self.registered_at = ties, registered_at
        self.status, self.ended_at = "active", None
        self.premium_at = self.premium_requested_at = self.premium_valid_until = None
        self.activities: list[date] = []

    @property
    def tier(self) -> str:
        return "premium" if self.premium_at is not None else "basic"

    def signature(self) -> tuple:
        return (self.organization_code, self.ties, self.status, self.tier, self.registered_at, self.ended_at,
                self.premium_valid_until)


class PlannedPerson:
    """One synthetic resident; times are Unix seconds (UTC). `id` and `email` are set when written."""

    __slots__ = ("index", "id", "email", "display_name", "birth_year", "home", "created_at", "email_verified_at",
                 "guardian_consent", "consent_share_profile", "consent_scouting", "consent_announcements",
                 "skills", "interests", "availability", "registrations", "verification")

    def signature(self) -> tuple:
        """Everything the seed decides about the person (not ids or e-mails): equal for equal seeds."""
        return (self.display_name, self.birth_year, self.home, self.created_at, self.email_verified_at,
                self.guardian_consent, self.consent_share_profile, self.consent_scouting,
                self.consent_announcements, self.skills, self.interests, self.availability, self.verification,
                tuple(r.signature() for r in self.registrations))

    @property
    def active_registrations(self) -> list[PlannedRegistration]:
        return [r for r in self.registrations if r.status == "active"]


class Planner:
    """Draws people one by one from `random.Random(seed)`; `now` anchors every time."""

    def __init__(self, model: Model, seed: int, now: datetime, *, premium_limit: int = 3):
        self.model, self.rng = model, random.Random(seed)
        self.now = int(now.timestamp())
        self.start = self.now - WINDOW_DAYS * DAY_S
        self.premium_limit = premium_limit
        self.this_year = _tokyo_date(self.now).year
        self.ages = Weighted(((lo, hi), w) for lo, hi, w in AGES)
        self.adult_ties, self.minor_ties = Weighted(PRIMARY_TIES.items()), Weighted(MINOR_TIES.items())
        self.prefecture_ties = Weighted(PREFECTURE_TIES.items())
        self.second_ties = {k: Weighted(v.items()) for k, v in SECOND_TIES.items()}
        self.counts_adult = Weighted(enumerate(COUNTS_ADULT, start=1))
        self.counts_minor = Weighted(enumerate(COUNTS_MINOR, start=1))
        self.premium_counts = Weighted(enumerate(PREMIUM_COUNTS, start=1))
        self.methods = Weighted(VERIFICATION_METHODS.items())
        self.availability = Weighted(AVAILABILITY.items())
        self._json_lists: dict = {}

    def people(self, n: int) -> Iterator[PlannedPerson]:
        for _ in range(n):
            yield self.person()

    def person(self) -> PlannedPerson:
        rng, model = self.rng, self.model
        p = PlannedPerson()
        p.index = p.id = p.email = None
        p.home = model.homes.draw(rng)
        home_pref = model.prefecture_of[p.home]
        lo, hi = self.ages.draw(rng)
        age = lo + int(rng.random() * (hi - lo + 1))
        adult = age >= 18
        p.birth_year = self.this_year - age
        p.guardian_consent = age < 16
        p.display_name = f"{SURNAMES[int(rng.random() * len(SURNAMES))]}\u3000" \
                         f"{GIVEN_NAMES[int(rng.random() * len(GIVEN_NAMES))]}"
        p.consent_announcements = rng.random() < 0.60
        p.consent_share_profile = rng.random() < 0.35
        p.consent_scouting = adult and rng.random() < 0.15
        p.skills = self._some(SKILLS, 3 if adult else 1)
        p.interests = self._some(INTERESTS, 3)
        p.availability = self.availability.draw(rng)

        # Which 団体, with which ties.
        count = (self.counts_adult if adult else self.counts_minor).draw(rng)
        metropolitan = pref_number(p.home) in METROPOLITAN
        targets: list[tuple[str, tuple]] = []
        taken = {p.home, home_pref}
        if rng.random() < (0.45 if metropolitan else 0.25):
            origin = self._target(model.origins, home_pref, taken)
            ties = {"birthplace"}
            if rng.random() < 0.55:
                ties.add("family")
            if adult and rng.random() < 0.2:
                ties.add("furusato_nozei")
            targets.append((origin, tuple(sorted(ties))))
        while len(targets) < count:
            if rng.random() < PREFECTURE_SHARE:
                code = self._target(model.prefectures, home_pref, taken)
                ties = self._ties(self.prefecture_ties, adult)
            else:
                code = self._target(model.municipalities, home_pref, taken)
                ties = self._ties(self.adult_ties if adult else self.minor_ties, adult)
            targets.append((code, ties))

        # When: the first registration over the year (growing), the next ones after it.
        first = self._when(self.start + int(WINDOW_DAYS * DAY_S * math.sqrt(rng.random())))
        times = sorted([first] + [self._when(first + int((self.now - first) * rng.random() ** 1.5))
                                  for _ in targets[1:]])
        p.created_at = times[0] - 30 - int(rng.random() * 1800)
        p.email_verified_at = p.created_at + 20 + int(rng.random() * 600) if rng.random() < 0.85 else None
        p.registrations = [PlannedRegistration(code, model.prefecture_of[code], ties, at)
                           for (code, ties), at in zip(targets, times)]

        for reg in p.registrations:
            if rng.random() < WITHDRAWN_SHARE and self.now - reg.registered_at > 3600:
                reg.status = "withdrawn"
                reg.ended_at = reg.registered_at + 3600 + int((self.now - reg.registered_at - 3601) * rng.random())
        if rng.random() < MOVED_IN_SHARE:
            self._move(p)
        p.verification = None
        if adult and rng.random() < PREMIUM_SHARE:
            self._premium(p)
        if p.verification is None:
            roll = rng.random()
            if roll < 0.037:
                status = "verified" if roll < 0.03 else "pending" if roll < 0.035 else "rejected"
                at = p.created_at + 60 + int((self.now - p.created_at - 60) * rng.random())
                decided = None if status == "pending" else min(self.now - 1, at + int(3 * DAY_S * rng.random()))
                p.verification = (self.methods.draw(rng), status, at, decided)
        return p

    def _some(self, vocabulary: tuple, most: int) -> tuple:
        rng = self.rng
        k = int(rng.random() * (most + 1))
        return tuple(sorted({vocabulary[int(rng.random() * len(vocabulary))] for _ in range(k)}))

    def _target(self, weighted: Weighted, home_pref: str, taken: set) -> str:
        """A 団体 the person may register with: never home nor home prefecture, not twice; rarely
        another municipality of the home prefecture."""
        while True:
            code = weighted.draw(self.rng)
            if code in taken:
                continue
            if self.model.prefecture_of[code] == home_pref and self.rng.random() >= SAME_PREFECTURE_ACCEPT:
                continue
            taken.add(code)
            return code

    def _ties(self, primary: Weighted, adult: bool) -> tuple:
        rng = self.rng
        tie = primary.draw(rng)
        while not adult and tie in ADULT_ONLY_TIES:
            tie = primary.draw(rng)
        ties = {tie}
        if rng.random() < SECOND_TIE_SHARE and tie in self.second_ties:
            second = self.second_ties[tie].draw(rng)
            if adult or second not in ADULT_ONLY_TIES:
                ties.add(second)
        return tuple(sorted(ties))

    def _when(self, t: int) -> int:
        """`t` moved to a waking hour in Japan (same day), never after now."""
        rng = self.rng
        day_start = (t + JST) // DAY_S * DAY_S - JST
        while True:
            second = int(rng.random() * DAY_S)
            if rng.random() < HOURS_JST[second // 3600]:
                break
        t = day_start + second
        if t >= self.now:
            t = self.now - 1 - int(rng.random() * 3600)
        return max(t, self.start)

    def _move(self, p: PlannedPerson) -> None:
        """The person moved into a municipality they were registered with: a 移住 conversion."""
        candidates = [r for r in p.registrations if r.status == "active" and r.organization_code != r.prefecture_code]
        last = max(max(r.registered_at, r.ended_at or 0) for r in p.registrations)
        if not candidates or self.now - last < 2 * DAY_S:
            return
        target = candidates[0]
        moved_at = last + DAY_S + int((self.now - last - DAY_S - 1) * self.rng.random())
        p.home = target.organization_code
        for reg in p.registrations:
            if reg.status == "active" and reg.organization_code in (target.organization_code, target.prefecture_code):
                reg.status, reg.ended_at = "moved_in", moved_at

    def _premium(self, p: PlannedPerson) -> None:
        rng = self.rng
        eligible = [r for r in p.active_registrations if self.now - r.registered_at > 14 * DAY_S]
        if not eligible:
            return
        wanted = min(self.premium_counts.draw(rng), len(eligible), self.premium_limit)
        chosen = eligible[:wanted]
        for reg in chosen:
            lo = max(reg.registered_at + 7 * DAY_S, self.now - 360 * DAY_S)
            reg.premium_at = lo + int((self.now - 3600 - lo) * rng.random())
            granted_on = _tokyo_date(reg.premium_at)
            reg.premium_valid_until = last_day_of_year_from(granted_on)
            reg.premium_requested_at = max(reg.registered_at + 60, reg.premium_at - int(10 * DAY_S * rng.random()) - 60)
            done = 3 if rng.random() < 0.75 else 4 if rng.random() < 0.8 else 5
            reg.activities = sorted(granted_on - timedelta(days=1 + int(300 * rng.random())) for _ in range(done))
        first_request = min(r.premium_requested_at for r in chosen)
        verified_at = max(p.created_at + 60, first_request - int(30 * DAY_S * rng.random()) - 3600)
        decided_at = verified_at + int((first_request - verified_at) * 0.3 * rng.random())
        p.verification = (self.methods.draw(rng), "verified", verified_at, decided_at)

    def json_list(self, values: tuple) -> str:
        """A JSON list (ties, skills, interests) as text, cached: there are few distinct ones."""
        cached = self._json_lists.get(values)
        if cached is None:
            cached = self._json_lists[values] = json.dumps(list(values), ensure_ascii=False)
        return cached


def _tokyo_date(t: int) -> date:
    return date.fromordinal(EPOCH_ORDINAL + (t + JST) // DAY_S)


def ledger(p: PlannedPerson) -> list[tuple]:
    """The person's history in time order: (time, kind, registration, people_delta, registrations_delta),
    exactly as the service would have written it (DESIGN.md "Counting": 実人数 moves on 0↔1)."""
    changes = []
    for reg in p.registrations:
        changes.append((reg.registered_at, 0, "registered", reg))
        if reg.premium_at is not None:
            changes.append((reg.premium_at, 1, "premium_granted", reg))
        if reg.ended_at is not None:
            changes.append((reg.ended_at, 2, reg.status, reg))
    changes.sort(key=lambda c: (c[0], c[1]))
    active, out = 0, []
    for at, _, kind, reg in changes:
        step = 1 if kind == "registered" else -1 if kind in ("withdrawn", "moved_in") else 0
        before, active = active, active + step
        out.append((at, kind, reg, (before == 0 and active > 0) - (before > 0 and active == 0), step))
    return out
