"""Notifications: `notify()` is what every domain calls, inside its own transaction.

It writes the in-app notification and, when the person can be e-mailed, the outbox row that
`send-notifications` delivers (sender.py). Transactional kinds are e-mailed to a verified address
without consent; announcements only to people who consented to them (API.md "Notifications").
"""
import uuid
from datetime import date, datetime, timedelta

from flask_babel import gettext
from sqlalchemy import delete, exists, select, text, update
from sqlalchemy.exc import IntegrityError

from registry.accounts.models import User
from registry.common.time import utcnow
from registry.errors import not_found
from registry.extensions import db
from registry.notifications.models import (
    ANNOUNCEMENT, KINDS, NOTIFICATION_MAIL, PENDING, VERIFY_EMAIL_MAIL, Notification, OutboxMessage,
)

# An e-mail that could not go out within this time is no longer worth sending (a reminder for
# tomorrow, a decision the person has long seen in the app): it is cancelled as expired.
EMAIL_TTL = timedelta(days=3)


def can_email(user: User, kind: str) -> bool:
    """A verified address of an account still in use; announcements need consent (an emergency's
    safety notice, like every other kind, does not)."""
    if user.email is None or user.email_verified_at is None or not user.is_active:
        return False
    return kind != ANNOUNCEMENT or bool(user.consent_announcements)


def notify(user: User, kind: str, title: str, body: str, link: str | None = None, *,
           now: datetime | None = None, params: dict | None = None, subject_id: uuid.UUID | None = None,
           subject_on: date | None = None) -> Notification | None:
    """The in-app notification and, where allowed, its e-mail; both flushed in the caller's
    transaction. `params` makes title and body catalog messages (marked with N_) rendered in the
    reader's language; `subject_id`/`subject_on` make it a reminder created once (None when it
    already exists)."""
    if kind not in KINDS:
        raise ValueError(f"unknown notification kind {kind!r}")
    now = now or utcnow()
    notification = Notification(user_id=user.id, kind=kind, title=title[:300], body=body, link=link,
                                params=params, subject_id=subject_id, subject_on=subject_on, created_at=now)
    if subject_id is not None:
        try:
            with db.session.begin_nested():  # the unique reminder index decides between overlapping runs
                db.session.add(notification)
        except IntegrityError:
            return None
    else:
        db.session.add(notification)
        db.session.flush()
    if can_email(user, kind):
        db.session.add(OutboxMessage(user_id=user.id, notification_id=notification.id, kind=NOTIFICATION_MAIL,
                                     status=PENDING, created_at=now, next_attempt_at=now,
                                     expires_at=now + EMAIL_TTL))
        db.session.flush()
    return notification


def queue_account_mail(user: User, kind: str = VERIFY_EMAIL_MAIL, *, now: datetime | None = None) -> OutboxMessage:
    """An account message (the address check) for the outbox; at most one waits per person."""
    now = now or utcnow()
    waiting = db.session.scalar(select(OutboxMessage).where(
        OutboxMessage.user_id == user.id, OutboxMessage.kind == kind, OutboxMessage.status == PENDING))
    if waiting is not None:
        return waiting
    message = OutboxMessage(user_id=user.id, kind=kind, status=PENDING, created_at=now, next_attempt_at=now,
                            expires_at=now + EMAIL_TTL)
    db.session.add(message)
    db.session.flush()
    return message


def reminded(kind: str, subject_id, subject_on):
    """SQL: a reminder of `kind` for this subject and date exists already (for the domains' reminder
    queries; the unique reminder index makes `notify` create it once anyway)."""
    return exists().where(Notification.kind == kind, Notification.subject_id == subject_id,
                          Notification.subject_on == subject_on)


def one_writer_at_a_time() -> None:
    """SQLite: take the database's write lock before reading, so an overlapping run of
    `send-notifications` waits for this one (busy_timeout) instead of failing on a stale snapshot
    when it writes. PostgreSQL needs nothing: the unique reminder index decides between runs."""
    if db.session.get_bind().dialect.name == "sqlite":
        db.session.execute(text("UPDATE notifications SET kind = kind WHERE 1 = 0"))


# --- the inbox ---------------------------------------------------------------------------------------

def inbox(user: User, *, unread: bool | None = None):
    """Own notifications, newest first."""
    stmt = select(Notification).where(Notification.user_id == user.id)
    if unread is True:
        stmt = stmt.where(Notification.read_at.is_(None))
    elif unread is False:
        stmt = stmt.where(Notification.read_at.is_not(None))
    return stmt.order_by(Notification.created_at.desc(), Notification.id.desc())


def latest(user: User, limit: int) -> list[tuple[Notification, str, str]]:
    """The person's newest notifications, each with its (title, body) in the current language."""
    return [(n, *render(n)) for n in db.session.scalars(inbox(user).limit(limit))]


def mark_read(user: User, notification_id: uuid.UUID, *, now: datetime | None = None) -> Notification:
    """The first reading time stays."""
    notification = db.session.get(Notification, notification_id)
    if notification is None or notification.user_id != user.id:
        raise not_found()
    db.session.execute(update(Notification).where(Notification.id == notification.id,
                                                  Notification.read_at.is_(None))
                       .values(read_at=now or utcnow()))
    db.session.refresh(notification)
    return notification


def render(notification: Notification) -> tuple[str, str]:
    """(title, body) in the current language; literal ones as written."""
    return render_text(notification.title, notification.params), render_text(notification.body, notification.params)


def render_text(text: str, params: dict | None) -> str:
    if params is None or not text:
        return text
    for template in (gettext(text), text):  # a catalog entry that does not fit its values: English
        try:
            return template.format_map(params)
        except (KeyError, IndexError, ValueError, AttributeError):
            continue
    return text


# --- erasure -----------------------------------------------------------------------------------------

def erase_for(user: User, *, now: datetime | None = None) -> None:
    """DELETE /me: the person's notifications and e-mails (queued or sent) are deleted."""
    db.session.execute(delete(OutboxMessage).where(OutboxMessage.user_id == user.id))
    db.session.execute(delete(Notification).where(Notification.user_id == user.id))
    db.session.flush()
