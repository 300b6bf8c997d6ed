"""Maintained figures: the national counts kept up to date in the same transaction as each change.

Reading them costs the same at 1 k and 100 M registrations. Three tables:

- `person_tallies` — per person, how many active registrations they hold per dimension value (all,
  a tier, a tie, a prefecture). Its 0↔1 transitions are what change 実人数 (distinct people).
  Its rows are per person, so concurrent writers only meet when they are the same person.
- `figure_counters` — the published sums, per (metric, key), spread over `slot`s so that no single
  row is a hot spot every registration contends on; a read sums the slots.
- `registration_events` — the append-only ledger: every change, with the deltas it caused (the time
  series are read from its per-day counters), the person's home prefecture and a premium's validity
  before it (so that the figures as they stood at the end of a past month can be worked out again:
  registry/figures/month_end.py).

The relationship funnel (registry/figures/funnel.py) keeps its counters in `figure_counters` too
(metric `funnel:YYYY-MM`, one per cohort) and marks in `funnel_marks` who has reached which stage;
`funnel_cells` holds each 団体's funnel counts once more, one row per cell, in value order (the
blocks' index: registry/figures/funnel_blocks.py).
"""
import uuid
from datetime import date, datetime

from sqlalchemy import BigInteger, Date, ForeignKey, Index, Integer, SmallInteger, String, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column

from registry.common.ids import new_id
from registry.common.time import utcnow
from registry.common.types import UTCDateTime
from registry.extensions import db


class PersonTally(db.Model):
    __tablename__ = "person_tallies"

    user_id: Mapped[object] = mapped_column(Uuid, ForeignKey("users.id"), primary_key=True)
    # "all", "tier", "tie", "prefecture" (direct or derived tie to that prefecture)
    dimension: Mapped[str] = mapped_column(String(12), primary_key=True)
    value: Mapped[str] = mapped_column(String(24), primary_key=True)
    active: Mapped[int] = mapped_column(Integer, default=0)


class FigureCounter(db.Model):
    __tablename__ = "figure_counters"
    # The rows someone moved in with: how the relationship funnel finds every moved-in cell without
    # reading every cell (funnel_service.py). Partial, so an update that leaves moved_in as it was
    # (nearly all) stays a HOT update.
    __table_args__ = (Index("ix_figure_counters_moved_in", "metric", "key",
                            postgresql_where=text("moved_in <> 0"), sqlite_where=text("moved_in <> 0")),)

    # total, prefecture, organization, flow, tier, tie, type, birth_year, day; funnel:YYYY-MM (stages.py)
    metric: Mapped[str] = mapped_column(String(16), primary_key=True)
    key: Mapped[str] = mapped_column(String(24), primary_key=True)
    slot: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    people: Mapped[int] = mapped_column(BigInteger, default=0)  # 実人数
    registrations: Mapped[int] = mapped_column(BigInteger, default=0)  # 延べ
    premium: Mapped[int] = mapped_column(BigInteger, default=0)
    moved_in: Mapped[int] = mapped_column(BigInteger, default=0)
    registered: Mapped[int] = mapped_column(BigInteger, default=0)  # events that day (metric "day")
    withdrawn: Mapped[int] = mapped_column(BigInteger, default=0)


class RegistrationEvent(db.Model):
    """Append-only: every change to a registration, with the figures' deltas it caused.

    `user_id` is pseudonymous once the account is erased (the user row keeps no personal data).
    """

    __tablename__ = "registration_events"
    __table_args__ = (Index("ix_registration_events_day", "day"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    registration_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("registrations.id"), index=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    organization_code: Mapped[str | None] = mapped_column(String(6))
    # registered, withdrawn, moved_in, premium_granted, premium_renewed, premium_lapsed, erased,
    # restated (the person's home or birth year changed: their registrations moved between cells)
    kind: Mapped[str] = mapped_column(String(20))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    day: Mapped[date] = mapped_column(Date)  # Asia/Tokyo
    people_delta: Mapped[int] = mapped_column(Integer, default=0)  # 実人数 change
    registrations_delta: Mapped[int] = mapped_column(Integer, default=0)  # 延べ change
    actor_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)  # staff who decided, when not the person
    # The person's home prefecture as the figures filed them until this event (for `restated`, the
    # old one); None for no known home.
    home_prefecture_code: Mapped[str | None] = mapped_column(String(6))
    # The registration's last valid day when it was premium just before this event; None when it
    # was basic (or the event concerns no single registration).
    premium_until_before: Mapped[date | None] = mapped_column(Date)


class FunnelMark(db.Model):
    """Who has reached which stage of the relationship funnel with a 団体 (`scope` its code) or in
    the whole country (`scope` ""): one row each, so a person counts once per stage however often
    they apply, complete or renew (registry/figures/funnel.py). Their own registration with a 団体
    needs no mark (the registrations say whether it is the first there); nationally it has one."""

    __tablename__ = "funnel_marks"

    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id"), primary_key=True)
    scope: Mapped[str] = mapped_column(String(6), primary_key=True)
    stage: Mapped[str] = mapped_column(String(20), primary_key=True)


class FunnelCell(db.Model):
    """A 団体's count at a stage of a funnel cohort (not moved_in), one row per cell that is not 0,
    kept beside its `figure_counters` rows in the same statements: those are spread over slots so
    no row is hot, and a sum over slots cannot be ordered. Its index ordered by value is what lets a
    block — one cohort's stage over every 団体 — be read as the few cells a suppression can touch
    (the smallest, the primaries, the first 団体 with 0 there: funnel_blocks.py) with a few index
    probes, however many 団体 have someone there. Counts only grow (an erased person's stay
    counted), so a row is never taken back to 0. Rebuilt from the counters by `funnel.rebuild_cells`;
    `verify-counts` compares the two."""

    __tablename__ = "funnel_cells"
    __table_args__ = (Index("ix_funnel_cells_order", "metric", "stage", "value", "key"),)

    metric: Mapped[str] = mapped_column(String(16), primary_key=True)  # funnel:YYYY-MM
    stage: Mapped[str] = mapped_column(String(20), primary_key=True)  # stages.STAGES, not moved_in
    key: Mapped[str] = mapped_column(String(24), primary_key=True)  # the 団体's code
    value: Mapped[int] = mapped_column(BigInteger)
