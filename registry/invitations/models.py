"""A 団体's invitations to register with it, brought in from its roster (`import-roster`).

An invitation is not a registration: it is counted in no figure. The person accepts it (through the
set-password link a new account gets, or `POST /me/invitations/{id}/accept`), which registers them
through `registrations.register`, so the figures move exactly as for any registration.
"""
import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from registry.common.ids import new_id
from registry.common.time import utcnow
from registry.common.types import JSONList, UTCDateTime
from registry.extensions import db

PENDING, ACCEPTED = "pending", "accepted"
STATUSES = (PENDING, ACCEPTED)


class Invitation(db.Model):
    __tablename__ = "invitations"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'accepted')", name="status"),
        # One invitation per person and 団体, ever: importing a roster again creates nothing new, also
        # when two imports run at once (INSERT … ON CONFLICT DO NOTHING).
        UniqueConstraint("organization_code", "user_id"),
        Index("ix_invitations_user_created", "user_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    organization_code: Mapped[str] = mapped_column(ForeignKey("organizations.code"))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    ties: Mapped[list] = mapped_column(JSONList)
    status: Mapped[str] = mapped_column(String(10), default=PENDING)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The registration that accepting it made (it may have ended since).
    registration_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("registrations.id"))
