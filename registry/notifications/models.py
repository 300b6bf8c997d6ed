"""Notifications: the in-app inbox, and the outbox of e-mails that `send-notifications` delivers.

An inbox row and (for a verified address) its outbox row are written in the same transaction as the
event they tell about, so neither is lost when the process dies. The outbox row's id is the e-mail's
Message-ID, so a message repeated after a crash carries the same one.
"""
import uuid
from datetime import date, datetime

from sqlalchemy import JSON, CheckConstraint, Date, ForeignKey, Index, Integer, String, Text, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column

from registry.common.ids import new_id
from registry.common.time import utcnow
from registry.common.types import UTCDateTime
from registry.extensions import db

KINDS = ("application_accepted", "application_declined", "waitlist_promoted", "need_reminder",
         "need_cancelled", "premium_decided", "evidence_decided", "premium_expiring", "announcement", "emergency")
ANNOUNCEMENT = "announcement"  # the one kind that needs the person's consent to be e-mailed
EMERGENCY = "emergency"  # a safety notice to everyone tied to a stricken 団体: e-mailed without that consent

# Outbox: what is e-mailed (a notification, or an account message such as the address check).
NOTIFICATION_MAIL, VERIFY_EMAIL_MAIL, INVITATION_MAIL = "notification", "verify_email", "invitation"
PASSWORD_RESET_MAIL = "password_reset"
MAIL_KINDS = (NOTIFICATION_MAIL, VERIFY_EMAIL_MAIL, INVITATION_MAIL, PASSWORD_RESET_MAIL)
# pending: due at next_attempt_at; sent; failed: given up after the last attempt (or refused for
# good by the server); cancelled: no longer deliverable (address gone or unverified, consent
# withdrawn) or expired before it could be sent.
PENDING, SENT, FAILED, CANCELLED = "pending", "sent", "failed", "cancelled"


def _in(values) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


BROADCAST_ROW = "subject_id IS NOT NULL AND subject_on IS NULL"


class Notification(db.Model):
    __tablename__ = "notifications"
    __table_args__ = (
        CheckConstraint(f"kind IN {_in(KINDS)}", name="kind"),
        Index("ix_notifications_user_created", "user_id", "created_at", "id"),
        Index("ix_notifications_user_unread", "user_id", "created_at",
              sqlite_where=text("read_at IS NULL"), postgresql_where=text("read_at IS NULL")),
        # A reminder is created once per subject (a registration's expiry, an application's need)
        # and date, also when two runs of send-notifications overlap.
        Index("uq_notifications_reminder", "kind", "subject_id", "subject_on", unique=True,
              sqlite_where=text("subject_id IS NOT NULL"), postgresql_where=text("subject_id IS NOT NULL")),
        # A broadcast (an announcement, an emergency) reaches each person once, also when two runs of
        # send-notifications overlap; its progress counts by (kind, subject_id).
        Index("uq_notifications_broadcast", "kind", "subject_id", "user_id", unique=True,
              sqlite_where=text(BROADCAST_ROW), postgresql_where=text(BROADCAST_ROW)),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(24))
    # With `params` (a mapping), title and body are catalog messages rendered in the reader's
    # language with those values; without, they are shown as written (an announcement's text).
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text, default="")
    params: Mapped[dict | None] = mapped_column(JSON)
    link: Mapped[str | None] = mapped_column(String(500))  # a path on the site, e.g. /my
    subject_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    subject_on: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class OutboxMessage(db.Model):
    __tablename__ = "outbox_messages"
    __table_args__ = (
        CheckConstraint(f"kind IN {_in(MAIL_KINDS)}", name="kind"),
        CheckConstraint(f"status IN {_in((PENDING, SENT, FAILED, CANCELLED))}", name="status"),
        # The sender's queue: pending messages by due time.
        Index("ix_outbox_messages_due", "next_attempt_at", "id",
              sqlite_where=text("status = 'pending'"), postgresql_where=text("status = 'pending'")),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)  # the Message-ID
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    notification_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("notifications.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16), default=NOTIFICATION_MAIL)
    status: Mapped[str] = mapped_column(String(10), default=PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Broadcast(db.Model):
    """One message to many people (an announcement, an emergency): posting it answers at once, and
    `send-notifications` fans it out in batches — each recipient's notification (and e-mail, where
    allowed) once, also when runs overlap (`uq_notifications_broadcast`). `cursor` is the last
    recipient's id done (emptied once finished); `recipients` is counted when the fan-out starts."""

    __tablename__ = "broadcasts"
    __table_args__ = (
        CheckConstraint(f"kind IN {_in(KINDS)}", name="kind"),
        Index("uq_broadcasts_subject", "kind", "subject_id", unique=True),
        Index("ix_broadcasts_pending", "created_at", "id",
              sqlite_where=text("finished_at IS NULL"), postgresql_where=text("finished_at IS NULL")),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(String(24))
    subject_id: Mapped[uuid.UUID] = mapped_column(Uuid)  # the announcement's (or emergency's) id
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text, default="")
    link: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    recipients: Mapped[int | None] = mapped_column(Integer)
    notified: Mapped[int] = mapped_column(Integer, default=0)
    cursor: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
