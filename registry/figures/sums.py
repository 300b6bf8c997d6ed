"""Reading the maintained counters: their sums per (metric, key), in one snapshot, as of a day — a
premium past its `premium_valid_until` is basic in every figure before `lapse-premiums` lapses it
(`expired_premium_corrections` applies to the sums read the deltas its lapse will)."""
from collections import Counter, defaultdict
from collections.abc import Mapping
from datetime import date

from sqlalchemy import func, select

from registry.accounts.models import User
from registry.extensions import db
from registry.figures.ledger import birth_key
from registry.figures.models import FigureCounter, PersonTally
from registry.figures.recount import FIELDS
from registry.registrations.models import ACTIVE, BASIC, PREMIUM, Registration


def counter_sums(metric: str, key: str | None = None) -> dict[str, Counter]:
    stmt = select(FigureCounter.key, *[func.sum(getattr(FigureCounter, f)) for f in FIELDS]) \
        .where(FigureCounter.metric == metric).group_by(FigureCounter.key)
    if key is not None:
        stmt = stmt.where(FigureCounter.key == key)
    return {k: Counter({f: int(v or 0) for f, v in zip(FIELDS, values)}) for k, *values in db.session.execute(stmt)}


class CounterSums:
    """The counters' sums per (metric, key), kept flat: one list of ints, and per key where its
    FIELDS start in it. The geography is ~4,200 keys once every 団体 and flow has registrations; a
    key costs no object of its own here (objects kept through a request are what the garbage
    collector's full passes walk: with one per key, a tenth of the requests took 4× as long)."""

    def __init__(self, metrics):
        self.at: dict[str, dict[str, int]] = {metric: {} for metric in metrics}
        self.data: list[int] = []

    def get(self, metric: str, key: str, field: str) -> int:
        """The sum of `field`; 0 for a key never counted."""
        start = self.at[metric].get(key)
        return 0 if start is None else self.data[start + FIELDS.index(field)]

    def add(self, metric: str, key: str, field: str, delta: int) -> None:
        if key not in self.at[metric]:
            self.at[metric][key] = len(self.data)
            self.data.extend(0 for _ in FIELDS)
        self.data[self.at[metric][key] + FIELDS.index(field)] += delta

    def as_dicts(self) -> dict[str, dict[str, dict]]:
        """{metric: {key: {field: sum}}} (every field: read like a Counter)."""
        n = len(FIELDS)
        return {metric: {key: dict(zip(FIELDS, self.data[start:start + n])) for key, start in keys.items()}
                for metric, keys in self.at.items()}

    @classmethod
    def read(cls, *metrics: str) -> "CounterSums":
        """The sums of several metrics in ONE statement: one snapshot, so the relations between
        them (a prefecture = Σ its 団体, …) hold exactly even while registrations commit."""
        if not all(metric.isidentifier() for metric in metrics):
            raise ValueError(f"not a metric: {metrics!r}")
        sums = ", ".join(f"CAST(COALESCE(SUM({f}), 0) AS BIGINT)" for f in FIELDS)
        listed = ", ".join(f"'{metric}'" for metric in metrics)
        result = db.session.connection().exec_driver_sql(
            f"SELECT metric, key, {sums} FROM figure_counters WHERE metric IN ({listed}) GROUP BY metric, key")
        out = cls(metrics)
        at, data = out.at, out.data
        try:
            for row in result.cursor:  # the driver's rows, one at a time, gone once read
                at[row[0]][row[1]] = len(data)
                data.extend(row[2:])
        finally:
            result.close()
        return out

    @classmethod
    def of(cls, sums: dict[str, dict[str, Mapping]]) -> "CounterSums":
        """From {metric: {key: {field: sum}}}."""
        out = cls(sums)
        for metric, keys in sums.items():
            for key, c in keys.items():
                out.at[metric][key] = len(out.data)
                out.data.extend(c.get(f, 0) for f in FIELDS)
        return out


def counter_sums_of(*metrics: str) -> dict[str, dict[str, dict]]:
    """{metric: {key: {field: sum}}} of several metrics in one statement (`CounterSums.read`)."""
    return CounterSums.read(*metrics).as_dicts()


# --- expired premiums ---------------------------------------------------------------------------------

def expired_premium_corrections(today: date) -> dict[tuple[str, str], Counter]:
    """{(metric, key): deltas}: what `lapse-premiums` will change for the premium registrations past
    their validity that it has not lapsed yet (API.md: they are basic in every figure). The same
    deltas a lapse applies (figures.ledger): premium −1 in the total, the prefecture, the 団体 and the
    birth year; the registration from the premium tier to basic, and the person out of premium's
    実人数 when none of their premium registrations stays, into basic's when they had none.
    Reads the registrations through `ix_registrations_premium_until` (a small set while the daily
    `lapse-premiums` runs) and those people's tier tallies."""
    expired = list(db.session.execute(
        select(Registration.user_id, Registration.organization_code, Registration.prefecture_code, User.birth_year)
        .join(User, User.id == Registration.user_id)
        .where(Registration.status == ACTIVE, Registration.tier == PREMIUM, Registration.premium_valid_until < today)))
    out: dict[tuple[str, str], Counter] = defaultdict(Counter)
    if not expired:
        return out
    per_person: Counter = Counter()
    for user_id, organization_code, prefecture_code, birth_year in expired:
        per_person[user_id] += 1
        for cell in (("total", ""), ("prefecture", prefecture_code), ("organization", organization_code),
                     ("birth_year", birth_key(birth_year))):
            out[cell]["premium"] -= 1
        out[("tier", PREMIUM)]["registrations"] -= 1
        out[("tier", PREMIUM)]["premium"] -= 1
        out[("tier", BASIC)]["registrations"] += 1
    tallies: dict = defaultdict(dict)
    people = list(per_person)
    for start in range(0, len(people), 1000):
        for user_id, tier, active in db.session.execute(
                select(PersonTally.user_id, PersonTally.value, PersonTally.active)
                .where(PersonTally.dimension == "tier", PersonTally.value.in_((BASIC, PREMIUM)),
                       PersonTally.user_id.in_(people[start:start + 1000]))):
            tallies[user_id][tier] = active
    for user_id, lapsing in per_person.items():
        premium, basic = tallies[user_id].get(PREMIUM, 0), tallies[user_id].get(BASIC, 0)
        if premium > 0 and premium - lapsing <= 0:
            out[("tier", PREMIUM)]["people"] -= 1
        if basic <= 0:
            out[("tier", BASIC)]["people"] += 1
    return out


def corrected(sums: dict[str, dict[str, Counter]], corrections: dict) -> dict[str, dict[str, Counter]]:
    """`sums` ({metric: {key: Counter}}) with `corrections` ({(metric, key): deltas}) added."""
    out = {metric: dict(keys) for metric, keys in sums.items()}
    for (metric, key), deltas in corrections.items():
        if metric in out:
            out[metric][key] = c = Counter(out[metric].get(key, {}))  # a copy
            c.update(deltas)
    return out


def read(today: date, *metrics: str) -> dict[str, dict[str, Counter]]:
    return corrected(counter_sums_of(*metrics), expired_premium_corrections(today))


def read_rows(today: date, *metrics: str) -> CounterSums:
    """`CounterSums.read` with the expired premiums' corrections added."""
    sums = CounterSums.read(*metrics)
    for (metric, key), deltas in expired_premium_corrections(today).items():
        if metric in sums.at:
            for field, delta in deltas.items():
                sums.add(metric, key, field, delta)
    return sums
