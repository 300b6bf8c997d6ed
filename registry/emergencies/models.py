"""Emergencies (災害時モード): the 団体 a disaster struck, the 団体 acting for them, and the help the
people tied to them offer."""
import uuid
from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from registry.common.ids import new_id
from registry.common.time import utcnow
from registry.common.types import JSONList, UTCDateTime
from registry.extensions import db

ACTIVE, CLOSED = "active", "closed"
STATUSES = (ACTIVE, CLOSED)
OFFER_KINDS = ("remote", "on_site", "supplies", "lodging", "donation")


class Emergency(db.Model):
    """Declared by staff (or the national office) for one or more 団体; `send-notifications` then
    tells everyone tied to them (a broadcast of kind `emergency` whose subject is this row)."""

    __tablename__ = "emergencies"
    __table_args__ = (
        CheckConstraint(f"status IN ('{ACTIVE}', '{CLOSED}')", name="status"),
        Index("ix_emergencies_status_declared", "status", "declared_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    title: Mapped[str] = mapped_column(String(200))
    message: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(8), default=ACTIVE)
    declared_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    declared_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AffectedOrganization(db.Model):
    """A 団体 an emergency names (a prefecture named reaches its municipalities' registrants too)."""

    __tablename__ = "emergency_organizations"
    __table_args__ = (Index("ix_emergency_organizations_code", "organization_code", "emergency_id"),)

    emergency_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("emergencies.id"), primary_key=True)
    organization_code: Mapped[str] = mapped_column(ForeignKey("organizations.code"), primary_key=True)


class Proxy(db.Model):
    """A 団体 whose staff act for the affected ones while the emergency is active (代理)."""

    __tablename__ = "emergency_proxies"
    __table_args__ = (Index("ix_emergency_proxies_code", "organization_code", "emergency_id"),)

    emergency_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("emergencies.id"), primary_key=True)
    organization_code: Mapped[str] = mapped_column(ForeignKey("organizations.code"), primary_key=True)
    named_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    named_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Offer(db.Model):
    """One person's offer of help in one emergency (made again, it is updated). Making it is consent
    to be contacted about this emergency by the staff of the affected and proxy 団体."""

    __tablename__ = "emergency_offers"
    __table_args__ = (
        Index("uq_emergency_offers_person", "emergency_id", "user_id", unique=True),
        Index("ix_emergency_offers_listed", "emergency_id", "created_at", "id"),
        Index("ix_emergency_offers_user", "user_id"),
        CheckConstraint("available_until IS NULL OR available_from IS NULL OR available_until >= available_from",
                        name="dates"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    emergency_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("emergencies.id"))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    kinds: Mapped[list] = mapped_column(JSONList, default=list)
    skills: Mapped[list] = mapped_column(JSONList, default=list)
    available_from: Mapped[date | None] = mapped_column(Date)
    available_until: Mapped[date | None] = mapped_column(Date)
    message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

