"""Hosts (ヌシ) and one-time set-password links.

A host is a `users` row with role `host` bound to one 団体 (so it signs in, holds tokens and is
deactivated like every account) plus a `hosts` row with what only hosts have: the name shown on its
needs and whether staff trust it to publish directly. The host's id in the API is its user id, the
same id that `needs.host_id` carries.

`SetPasswordToken` is generic on purpose: a host's invitation (7 days), a roster import's invitation
(14 days) and a password reset all hand out a link `<site>/set-password?token=T` that sets the
account's password once. Only the token's SHA-256 is stored (it is 256 random bits, so no slow hash
is needed); `used_at` makes it single use, `expires_at` ends it, `subject_id` may name what the link
also accepts (a roster invitation's id).
"""
import uuid
from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from registry.accounts.models import User
from registry.common.ids import new_id
from registry.common.time import utcnow
from registry.common.types import UTCDateTime
from registry.extensions import db

HOST_INVITATION, ROSTER_INVITATION, PASSWORD_RESET = "host_invitation", "roster_invitation", "password_reset"
PURPOSES = (HOST_INVITATION, ROSTER_INVITATION, PASSWORD_RESET)


class Host(db.Model):
    __tablename__ = "hosts"
    __table_args__ = (Index("ix_hosts_org_created", "organization_code", "created_at", "user_id"),)

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), primary_key=True)
    # The same 団体 as the user's organization_code, here so a 団体's hosts are one indexed read.
    organization_code: Mapped[str] = mapped_column(ForeignKey("organizations.code"))
    host_name: Mapped[str] = mapped_column(String(200))
    trusted: Mapped[bool] = mapped_column(Boolean, default=False)
    invited_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    user: Mapped[User] = relationship(foreign_keys=[user_id], lazy="joined", innerjoin=True)

    # What the API shows of a host, read through its account.
    @property
    def id(self) -> uuid.UUID:
        return self.user_id

    @property
    def email(self) -> str | None:
        return self.user.email

    @property
    def display_name(self) -> str | None:
        return self.user.display_name

    @property
    def deactivated_at(self) -> datetime | None:
        return self.user.deactivated_at

    @property
    def active(self) -> bool:
        return self.user.is_active

    @property
    def password_set(self) -> bool:
        return self.user.password_hash is not None


class SetPasswordToken(db.Model):
    __tablename__ = "set_password_tokens"
    __table_args__ = (
        CheckConstraint("purpose IN ('host_invitation', 'roster_invitation', 'password_reset')", name="purpose"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    purpose: Mapped[str] = mapped_column(String(24))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    subject_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
