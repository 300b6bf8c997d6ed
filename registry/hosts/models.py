"""Hosts (ヌシ).

A host is a `users` row with role `host` bound to one 団体 (so it signs in, holds tokens and is
deactivated like every account) plus a `hosts` row with what only hosts have: the name shown on its
needs and whether staff trust it to publish directly. The host's id in the API is its user id, the
same id that `needs.host_id` carries.
"""
import uuid
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from registry.accounts.models import User
from registry.common.time import utcnow
from registry.common.types import UTCDateTime
from registry.extensions import db


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
