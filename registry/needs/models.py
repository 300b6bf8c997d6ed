"""Needs (募集) posted for a 団体, and the applications residents make to them.

A need's stored `status` is `draft`, `open`, `closed` (by hand) or `cancelled`; an `open` need whose
`apply_by` has passed reads as `closed` (`effective_status`), so no job has to close it.
`accepted_count` counts the places taken (accepted, completed and no-show applications); it changes
only while the need's row is locked, so it never exceeds `capacity`.
"""
import math
import uuid
from datetime import date, datetime

from sqlalchemy import (
    DDL, Boolean, CheckConstraint, Date, Float, ForeignKey, Index, Integer, String, Text, Uuid, event, text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from registry.accounts.models import User
from registry.common.ids import new_id
from registry.common.time import today_tokyo, utcnow
from registry.common.types import JSONList, UTCDateTime
from registry.extensions import db

KINDS = ("volunteer", "side_job", "experience")
SIDE_JOB = "side_job"  # adults only
DRAFT, OPEN, CLOSED, CANCELLED = "draft", "open", "closed", "cancelled"
# Applications: applied, waitlisted, accepted, declined, cancelled (by the applicant), completed, no_show.
APPLIED, WAITLISTED, ACCEPTED, DECLINED = "applied", "waitlisted", "accepted", "declined"
COMPLETED, NO_SHOW = "completed", "no_show"
LIVE = (APPLIED, WAITLISTED, ACCEPTED)  # an application still in play
HOLDS_PLACE = (ACCEPTED, COMPLETED, NO_SHOW)  # counted in accepted_count

# Needs are located on a grid of 0.5° cells (about 55 × 45 km), so "near a place" is a few indexed
# `geo_cell = …` lookups on both databases; distances themselves are computed exactly in Python.
CELL_DEGREES = 0.5


def _step(degrees: float, offset: int) -> int:
    return math.floor((degrees + offset) / CELL_DEGREES)


def geo_cell(lat: float, lng: float) -> int:
    return _step(lat, 90) * 10_000 + _step(lng, 180)


def cells_near(lat: float, lng: float, km: float) -> list[int]:
    """Every cell that a circle of `km` around the point touches, nearest first."""
    scale = max(math.cos(math.radians(lat)), 0.01)  # a degree of longitude shrinks away from the equator
    dlat, dlng = km / 111.0, km / (111.0 * scale)
    cells = []
    for row in range(_step(lat - dlat, 90), _step(lat + dlat, 90) + 1):
        for col in range(_step(lng - dlng, 180), _step(lng + dlng, 180) + 1):
            centre_lat, centre_lng = (row + 0.5) * CELL_DEGREES - 90, (col + 0.5) * CELL_DEGREES - 180
            cells.append(((centre_lat - lat) ** 2 + ((centre_lng - lng) * scale) ** 2, row * 10_000 + col))
    return [cell for _, cell in sorted(cells)]


class Need(db.Model):
    __tablename__ = "needs"
    __table_args__ = (
        CheckConstraint("kind IN ('volunteer', 'side_job', 'experience')", name="kind"),
        CheckConstraint("status IN ('draft', 'open', 'closed', 'cancelled')", name="status"),
        CheckConstraint("capacity >= 1", name="capacity"),
        CheckConstraint("accepted_count >= 0 AND accepted_count <= capacity", name="accepted_count"),
        CheckConstraint("ends_on >= starts_on AND apply_by <= starts_on", name="dates"),
        # Lists and recommendations read open needs from today on, in `starts_on` order: every index
        # leads with status and ends with starts_on, so past needs (still stored as `open`) are skipped.
        Index("ix_needs_status_starts", "status", "starts_on", "id"),
        Index("ix_needs_org_status_starts", "organization_code", "status", "starts_on"),
        Index("ix_needs_pref_status_starts", "prefecture_code", "status", "starts_on"),
        Index("ix_needs_cell_status_starts", "geo_cell", "status", "starts_on"),
        # Remote needs in date order, for the remote needs that want a person's skills.
        Index("ix_needs_remote_starts", "starts_on", postgresql_where=text("remote"), sqlite_where=text("remote")),
        # Urgent needs (a 団体 in an emergency) of the 団体 a person is tied to, for recommendations.
        Index("ix_needs_urgent_org_starts", "organization_code", "starts_on",
              postgresql_where=text("urgent"), sqlite_where=text("urgent")),
        # On PostgreSQL: skills by `?|` (jsonb GIN), title and description by ILIKE (pg_trgm GIN, which
        # serves Japanese substrings of three characters or more). SQLite makes plain indexes of them.
        Index("ix_needs_skills", "skills", postgresql_using="gin"),
        Index("ix_needs_title_trgm", "title", postgresql_using="gin", postgresql_ops={"title": "gin_trgm_ops"}),
        Index("ix_needs_description_trgm", "description", postgresql_using="gin",
              postgresql_ops={"description": "gin_trgm_ops"}),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    organization_code: Mapped[str] = mapped_column(ForeignKey("organizations.code"))
    prefecture_code: Mapped[str] = mapped_column(ForeignKey("organizations.code"))
    kind: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    host_name: Mapped[str | None] = mapped_column(String(200))
    host_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))  # hosts: a later issue
    skills: Mapped[list] = mapped_column(JSONList, default=list)
    remote: Mapped[bool] = mapped_column(Boolean, default=False)
    place_name: Mapped[str | None] = mapped_column(String(200))
    lat: Mapped[float | None] = mapped_column(Float)
    lng: Mapped[float | None] = mapped_column(Float)
    geo_cell: Mapped[int | None] = mapped_column(Integer)
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    apply_by: Mapped[date] = mapped_column(Date)
    capacity: Mapped[int] = mapped_column(Integer)
    accepted_count: Mapped[int] = mapped_column(Integer, default=0)
    reward: Mapped[str] = mapped_column(Text, default="")
    counts_as_activity: Mapped[bool] = mapped_column(Boolean, default=False)
    # Only while an emergency naming the 団体 is active (registry/organizations/acting.py); closing
    # the emergency takes it off (registry/emergencies/service.py).
    urgent: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    status: Mapped[str] = mapped_column(String(10), default=OPEN)
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    def effective_status(self, today: date | None = None) -> str:
        if self.status == OPEN and self.apply_by < (today or today_tokyo()):
            return CLOSED
        return self.status

    @property
    def is_full(self) -> bool:
        return self.accepted_count >= self.capacity

    @property
    def place(self) -> dict | None:
        if self.lat is None or self.lng is None:
            return None
        return {"name": self.place_name, "lat": self.lat, "lng": self.lng}

    def set_place(self, place: dict | None) -> None:
        """`{name, lat, lng}` or None (a remote need without a place)."""
        self.place_name, self.lat, self.lng = (place["name"], place["lat"], place["lng"]) if place else (None,) * 3
        self.geo_cell = geo_cell(self.lat, self.lng) if place else None


# ILIKE over title and description uses pg_trgm's GIN indexes; the extension must exist first.
# (A migration needs the same statement before creating those indexes.)
event.listen(Need.__table__, "before_create",
             DDL("CREATE EXTENSION IF NOT EXISTS pg_trgm").execute_if(dialect="postgresql"))


class Application(db.Model):
    __tablename__ = "applications"
    __table_args__ = (
        CheckConstraint("status IN ('applied', 'waitlisted', 'accepted', 'declined', 'cancelled', "
                        "'completed', 'no_show')", name="status"),
        # One application in play per person and need, also under concurrent requests; after
        # cancelling, a person may apply again (to the back of the queue).
        Index("uq_applications_live", "need_id", "user_id", unique=True,
              sqlite_where=text("status <> 'cancelled'"), postgresql_where=text("status <> 'cancelled'")),
        Index("ix_applications_need_status_created", "need_id", "status", "created_at", "id"),
        Index("ix_applications_user_created", "user_id", "created_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    need_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("needs.id"))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    status: Mapped[str] = mapped_column(String(10))
    message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    completed_on: Mapped[date | None] = mapped_column(Date)
    checked_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # check-in: a later issue

    need: Mapped[Need] = relationship(lazy="selectin")
    applicant: Mapped[User] = relationship(foreign_keys=[user_id], lazy="selectin")


# Candidates for a need are searched among residents who consented to scouting, by home and by
# skills. These indexes belong to the accounts domain's table but serve only this query.
Index("ix_users_scouting_home", User.home_municipality_code,
      postgresql_where=text("consent_scouting"), sqlite_where=text("consent_scouting"))
Index("ix_users_scouting_skills", User.skills, postgresql_using="gin",
      postgresql_where=text("consent_scouting"), sqlite_where=text("consent_scouting"))
