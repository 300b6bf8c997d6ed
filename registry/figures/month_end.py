"""The figures as they stood at the end of a past month (Asia/Tokyo): what an open-data release
publishes ("figures as of its last day", API.md "Open data").

The maintained counters hold *now*. Their state at the end of month M is now's less what changed
since, and what changed since is in the ledger: every change to a registration is an event with the
person's home prefecture as the figures filed them until then and a premium's validity before it,
and a new home is an event too (`restated`, with the old home). So:

    counters at M's end = counters now
                          − what each person with an event since M's end adds to them now
                          + what that person added at M's end

— both worked out by the ledger's own filing (`ledger.contribution`) from the person's registrations
(active at M's end: registered before it, not ended before it), their home then (the first event
after M's end says it) and each registration's tier then (its first tier-changing event after M's
end says whether it was premium, and until when). A premium past its validity at M's last day is
basic (API.md "Trust rules"): for those people from their events, for everyone else from the
registrations still premium today whose validity ended before M's last day (a small set while
`lapse-premiums` runs daily, read through its partial index).

The cost: the counters (as the national figures read them) and the people who changed since M's end,
never the registry as a whole — run on the 1st, that is the last few minutes' changes.
"""
from collections import Counter
from datetime import date, datetime, time, timedelta

from sqlalchemy import select

from registry.accounts.models import User
from registry.common.time import TOKYO
from registry.extensions import db
from registry.figures.ledger import contribution, home_prefecture_of
from registry.figures.models import RegistrationEvent
from registry.figures.sums import CounterSums
from registry.registrations.events import (
    MOVED_IN, PREMIUM_GRANTED, PREMIUM_LAPSED, PREMIUM_RENEWED, WITHDRAWN, Counted,
)
from registry.registrations.models import ACTIVE, BASIC, MOVED_IN as MOVED_IN_STATUS, PREMIUM, Registration

METRICS = ("total", "prefecture", "organization", "flow", "tie", "type")
# Events that change a registration's tier or end it: the first after M's end says its tier then.
TIER_EVENTS = (WITHDRAWN, MOVED_IN, PREMIUM_GRANTED, PREMIUM_RENEWED, PREMIUM_LAPSED)
CHUNK = 1000


def month_span(month: str) -> tuple[date, date, datetime]:
    """(first day, last day, the instant the month ends) of "YYYY-MM" in Asia/Tokyo."""
    year, number = int(month[:4]), int(month[5:7])
    first = date(year, number, 1)
    following = date(year + (number == 12), number % 12 + 1, 1)
    return first, following - timedelta(days=1), datetime.combine(following, time(), TOKYO)


def counters_at_month_end(month: str) -> tuple[CounterSums, int]:
    """The counters of METRICS as they stood when `month` ended, premiums past their validity on its
    last day counted as basic; and how many people's changes since were worked back. Read in one
    snapshot (the caller's transaction: REPEATABLE READ on PostgreSQL, a read transaction on SQLite)."""
    _, last_day, end = month_span(month)
    sums = CounterSums.read(*METRICS)
    changed = list(db.session.scalars(
        select(RegistrationEvent.user_id).where(RegistrationEvent.day >= end.date()).distinct()))
    for start in range(0, len(changed), CHUNK):
        for cell, deltas in _worked_back(changed[start:start + CHUNK], end, last_day).items():
            if cell[0] in sums.at:
                for field, delta in deltas.items():
                    if delta:
                        sums.add(cell[0], cell[1], field, delta)
    people = set(changed)
    for user_id, organization_code, prefecture_code in db.session.execute(
            select(Registration.user_id, Registration.organization_code, Registration.prefecture_code)
            .where(Registration.status == ACTIVE, Registration.tier == PREMIUM,
                   Registration.premium_valid_until < last_day)):
        if user_id not in people:  # unchanged since: premium in the counters, basic on M's last day
            for cell in (("total", ""), ("prefecture", prefecture_code), ("organization", organization_code)):
                sums.add(cell[0], cell[1], "premium", -1)
    return sums, len(changed)


def _worked_back(user_ids: list, end: datetime, last_day: date) -> dict:
    """Σ over these people of (what they added at `end`) − (what they add now)."""
    regs: dict = {}
    for reg in db.session.scalars(select(Registration).where(Registration.user_id.in_(user_ids))):
        regs.setdefault(reg.user_id, []).append(reg)
    homes = dict(db.session.execute(select(User.id, User.home_municipality_code).where(User.id.in_(user_ids))).all())
    first_home: dict = {}
    first_tier: dict = {}
    for user_id, registration_id, kind, home, until in db.session.execute(
            select(RegistrationEvent.user_id, RegistrationEvent.registration_id, RegistrationEvent.kind,
                   RegistrationEvent.home_prefecture_code, RegistrationEvent.premium_until_before)
            .where(RegistrationEvent.user_id.in_(user_ids), RegistrationEvent.day >= end.date(),
                   RegistrationEvent.occurred_at >= end)
            .order_by(RegistrationEvent.occurred_at, RegistrationEvent.id)):
        first_home.setdefault(user_id, home)
        if kind in TIER_EVENTS and registration_id is not None:
            first_tier.setdefault(registration_id, until)
    out: dict = {}
    for user_id in user_ids:
        mine = regs.get(user_id, [])
        now = contribution(home_prefecture_of(homes.get(user_id)),
                           [Counted.of(r) for r in mine if r.status == ACTIVE],
                           [Counted.of(r) for r in mine if r.status == MOVED_IN_STATUS])
        home_then = first_home.get(user_id, home_prefecture_of(homes.get(user_id)))
        then = contribution(home_then, [_as_of(r, first_tier, last_day) for r in mine if _active_at(r, end)],
                            [Counted.of(r) for r in mine if r.status == MOVED_IN_STATUS and r.ended_at < end])
        for cell in set(now) | set(then):
            delta = Counter(then.get(cell, {}))
            delta.subtract(now.get(cell, {}))
            out.setdefault(cell, Counter()).update(delta)
    return out


def _active_at(reg: Registration, end: datetime) -> bool:
    return reg.registered_at < end and (reg.ended_at is None or reg.ended_at >= end)


def _as_of(reg: Registration, first_tier: dict, last_day: date) -> Counted:
    """The registration as it counted on `last_day`: its tier then (a premium past its validity is
    basic)."""
    if reg.id in first_tier:
        until = first_tier[reg.id]
        tier = PREMIUM if until is not None else BASIC
    else:
        tier, until = reg.tier, reg.premium_valid_until
    premium = tier == PREMIUM and until is not None and until >= last_day
    return Counted(reg.organization_code, reg.prefecture_code, PREMIUM if premium else BASIC, tuple(reg.ties),
                   until if premium else None)
