"""Announcements a 団体's staff send to its registrants, and when each resident read one."""
import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from registry.common.ids import new_id
from registry.common.time import utcnow
from registry.common.types import UTCDateTime
from registry.extensions import db


class Announcement(db.Model):
    __tablename__ = "announcements"
    __table_args__ = (Index("ix_announcements_org_created", "organization_code", "created_at", "id"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    organization_code: Mapped[str] = mapped_column(ForeignKey("organizations.code"))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AnnouncementRead(db.Model):
    __tablename__ = "announcement_reads"

    announcement_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("announcements.id"), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), primary_key=True)
    read_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
