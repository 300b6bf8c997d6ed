"""ふるさと住民登録: registrations, identity verifications, premium requests and designated activities.
(Their append-only event ledger is the figures' own: registry/figures/models.py.)"""
import uuid
from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, String, Text, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column

from registry.common.ids import new_id
from registry.common.time import today_tokyo, utcnow
from registry.common.types import JSONList, UTCDateTime
from registry.extensions import db

TIES = ("birthplace", "family", "furusato_nozei", "repeat_visit", "product_purchase",
        "two_region_living", "volunteer", "side_job", "work_or_study", "other")
ACTIVE, WITHDRAWN, MOVED_IN = "active", "withdrawn", "moved_in"
BASIC, PREMIUM = "basic", "premium"


class Registration(db.Model):
    __tablename__ = "registrations"
    __table_args__ = (
        CheckConstraint("status IN ('active', 'withdrawn', 'moved_in')", name="status"),
        CheckConstraint("tier IN ('basic', 'premium')", name="tier"),
        # At most one active registration per person and 団体, also under concurrent requests.
        Index("uq_registrations_active_pair", "user_id", "organization_code", unique=True,
              sqlite_where=text("status = 'active'"), postgresql_where=text("status = 'active'")),
        Index("ix_registrations_org_status", "organization_code", "status"),
        # A 団体's registrants in id order (a broadcast's recipients, batch after batch).
        Index("ix_registrations_org_user_active", "organization_code", "user_id",
              sqlite_where=text("status = 'active'"), postgresql_where=text("status = 'active'")),
        Index("ix_registrations_premium_until", "premium_valid_until",
              sqlite_where=text("tier = 'premium' AND status = 'active'"),
              postgresql_where=text("tier = 'premium' AND status = 'active'")),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    organization_code: Mapped[str] = mapped_column(ForeignKey("organizations.code"))
    prefecture_code: Mapped[str] = mapped_column(ForeignKey("organizations.code"))
    tier: Mapped[str] = mapped_column(String(8), default=BASIC)
    ties: Mapped[list] = mapped_column(JSONList)
    status: Mapped[str] = mapped_column(String(12), default=ACTIVE)
    registered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    premium_valid_until: Mapped[date | None] = mapped_column(Date)

    def effective_tier(self, today: date | None = None) -> str:
        """Premium only while valid, whether or not `lapse-premiums` has run yet (API.md)."""
        if self.tier == PREMIUM and self.premium_valid_until is not None \
                and self.premium_valid_until >= (today or today_tokyo()):
            return PREMIUM
        return BASIC


class IdentityVerification(db.Model):
    """The fact, method and date of a verification: never the Individual Number itself."""

    __tablename__ = "identity_verifications"
    __table_args__ = (
        CheckConstraint("method IN ('mynumber_card', 'in_person', 'document')", name="method"),
        CheckConstraint("status IN ('pending', 'verified', 'rejected')", name="status"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    method: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(10), default="pending", index=True)
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))


class PremiumRequest(db.Model):
    __tablename__ = "premium_requests"
    __table_args__ = (
        CheckConstraint("kind IN ('new', 'renewal')", name="kind"),
        CheckConstraint("status IN ('pending', 'approved', 'rejected')", name="status"),
        Index("ix_premium_requests_org_status", "organization_code", "status"),
        # One open request per registration at a time.
        Index("uq_premium_requests_pending", "registration_id", unique=True,
              sqlite_where=text("status = 'pending'"), postgresql_where=text("status = 'pending'")),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    registration_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("registrations.id"), index=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    organization_code: Mapped[str] = mapped_column(ForeignKey("organizations.code"))
    kind: Mapped[str] = mapped_column(String(8), default="new")
    status: Mapped[str] = mapped_column(String(10), default="pending")
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))


class Activity(db.Model):
    """A designated activity done for a 団体 (a completed need, or approved evidence), by date."""

    __tablename__ = "activities"
    __table_args__ = (
        CheckConstraint("source IN ('need', 'evidence', 'record')", name="source"),
        Index("ix_activities_user_day", "user_id", "completed_on"),
        # Once per need or evidence item.
        Index("uq_activities_need", "user_id", "need_id", unique=True,
              sqlite_where=text("need_id IS NOT NULL"), postgresql_where=text("need_id IS NOT NULL")),
        Index("uq_activities_evidence", "evidence_id", unique=True,
              sqlite_where=text("evidence_id IS NOT NULL"), postgresql_where=text("evidence_id IS NOT NULL")),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    organization_code: Mapped[str] = mapped_column(ForeignKey("organizations.code"))
    source: Mapped[str] = mapped_column(String(10))
    need_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    evidence_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    completed_on: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
