"""Benefits (サポート施策) a 団体 gives its registrants, per tier (DESIGN.md "Premium in practice")."""
import uuid
from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from registry.common.ids import new_id
from registry.common.time import utcnow
from registry.common.types import UTCDateTime
from registry.extensions import db

BASIC, PREMIUM = "basic", "premium"
TIERS = (BASIC, PREMIUM)
KINDS = ("facility", "transport", "lodging", "workspace", "information", "other")


class Benefit(db.Model):
    __tablename__ = "benefits"
    __table_args__ = (
        CheckConstraint("tier IN ('basic', 'premium')", name="tier"),
        CheckConstraint("kind IN (" + ", ".join(f"'{k}'" for k in KINDS) + ")", name="kind"),
        CheckConstraint("valid_from IS NULL OR valid_until IS NULL OR valid_until >= valid_from", name="dates"),
        Index("ix_benefits_org_tier", "organization_code", "tier"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    organization_code: Mapped[str] = mapped_column(ForeignKey("organizations.code"))
    tier: Mapped[str] = mapped_column(String(8))
    kind: Mapped[str] = mapped_column(String(12))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    valid_from: Mapped[date | None] = mapped_column(Date)
    valid_until: Mapped[date | None] = mapped_column(Date)  # the last day included
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
