"""Delivering the outbox: each due e-mail is claimed under a row lock, sent, and marked sent.

One message per transaction:

1. claim: `UPDATE outbox_messages SET attempts = attempts + 1 … WHERE id = (SELECT id … WHERE
   status = 'pending' AND next_attempt_at <= now ORDER BY next_attempt_at, id LIMIT 1
   FOR UPDATE SKIP LOCKED) RETURNING id`. On PostgreSQL an overlapping run skips the locked row
   and takes the next one; on SQLite the UPDATE takes the database's write lock, so a second run
   waits for the first's commit and then finds the row sent.
2. send it over SMTP while the row stays locked;
3. mark it `sent` and commit, which releases the lock.

A process that dies before 3 leaves the row `pending` (its transaction rolls back), so the next run
sends it: only a crash between the server's acceptance and the commit repeats a message, and then
with the same Message-ID (the row's id). A refused or failed send is retried with back-off
(1 min, 5 min, 30 min, 2 h) and given up after the fifth attempt (`failed`, reported by the
command); a 5xx refusal is given up at once. When the server cannot be reached, the run stops
rather than spending every message's attempts.

This is a job, not a request: it owns its transactions and commits after every message.
"""
import logging
import smtplib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select, update

from registry.accounts import links, service as accounts
from registry.common.redaction import redact
from registry.common.time import utcnow
from registry.extensions import db
from registry.notifications import mail, service, texts, verification
from registry.notifications.models import (
    CANCELLED, FAILED, INVITATION_MAIL, NOTIFICATION_MAIL, PASSWORD_RESET_MAIL, PENDING, SENT, VERIFY_EMAIL_MAIL,
    Notification, OutboxMessage,
)

log = logging.getLogger(__name__)

BACKOFF = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2))
MAX_ATTEMPTS = len(BACKOFF) + 1
MAX_ERROR_LENGTH = 1000


@dataclass
class Report:
    sent: int = 0
    retrying: int = 0
    cancelled: int = 0
    given_up: list = field(default_factory=list)  # (outbox id, attempts, last error)
    stopped: str | None = None  # why the run stopped early (the server could not be reached)

    @property
    def failed(self) -> int:
        return len(self.given_up)


class Skip(Exception):
    """The message is no longer deliverable: cancelled, never sent."""


def claim_next(now: datetime) -> OutboxMessage | None:
    """The next due message, its row locked until this transaction ends, attempts counted."""
    due = select(OutboxMessage.id).where(OutboxMessage.status == PENDING, OutboxMessage.next_attempt_at <= now) \
        .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id).limit(1) \
        .with_for_update(skip_locked=True).scalar_subquery()
    claimed = db.session.execute(
        update(OutboxMessage).where(OutboxMessage.id == due)
        .values(attempts=OutboxMessage.attempts + 1, last_attempt_at=now)
        .returning(OutboxMessage.id).execution_options(synchronize_session=False)).scalar()
    if claimed is None:
        return None
    return db.session.get(OutboxMessage, claimed, populate_existing=True)


def compose(row: OutboxMessage, *, config: Mapping, now: datetime):
    """The e-mail for an outbox row, or Skip when it must not be sent (any more)."""
    if row.expires_at <= now:
        raise Skip("expired")
    user = accounts.account(row.user_id)
    if user is None or user.email is None or not user.is_active:
        raise Skip("no address")
    site_url = config["SITE_URL"]
    if row.kind == NOTIFICATION_MAIL:
        notification = db.session.get(Notification, row.notification_id) if row.notification_id else None
        if notification is None:
            raise Skip("notification gone")
        if not service.can_email(user, notification.kind):
            raise Skip("address unverified or consent withdrawn")
        sections = mail.localized(lambda: service.render(notification))
        url = mail.absolute(notification.link, site_url)
    elif row.kind == VERIFY_EMAIL_MAIL:
        if user.email_verified_at is not None:
            raise Skip("already verified")
        token = verification.make_token(user, config["SECRET_KEY"])
        sections = mail.localized(lambda: tuple(service.render_text(text, {}) for text in texts.VERIFY_EMAIL))
        url = verification.link(token, site_url)
    elif row.kind == INVITATION_MAIL:
        if user.password_hash is not None:
            raise Skip("password already set")
        raw = links.invitation_for_mail(user, now=now)
        sections = mail.localized(lambda: tuple(service.render_text(text, {}) for text in texts.INVITATION))
        url = links.link(raw, site_url)
    elif row.kind == PASSWORD_RESET_MAIL:
        raw = links.reset_for_mail(user, now=now)
        sections = mail.localized(lambda: tuple(service.render_text(text, {}) for text in texts.PASSWORD_RESET))
        url = links.link(raw, site_url)
    else:
        raise Skip(f"unknown kind {row.kind}")
    return mail.compose(outbox_id=row.id, to=user.email, sections=sections, url=url,
                        mail_from=config.get("MAIL_FROM") or "no-reply@localhost", created_at=row.created_at)


def _failed(row: OutboxMessage, error: BaseException | str, now: datetime, report: Report, *, permanent: bool) -> None:
    # An SMTP refusal quotes the recipient (`{'someone@example.jp': (550, …)}`): the error is kept,
    # logged and reported with the outbox id instead, never the address.
    row.last_error = redact(str(error))[:MAX_ERROR_LENGTH] or type(error).__name__
    if permanent or row.attempts >= MAX_ATTEMPTS:
        row.status = FAILED
        report.given_up.append((row.id, row.attempts, row.last_error))
        log.warning("gave up e-mail %s after %d attempt(s): %s", row.id, row.attempts, row.last_error)
    else:
        row.next_attempt_at = now + BACKOFF[row.attempts - 1]
        report.retrying += 1


def send_due(mailer, *, config: Mapping, limit: int = 1000, clock: Callable[[], datetime] = utcnow) -> Report:
    """Sends up to `limit` due messages, committing after each. An exception other than a failed
    send (the process is going down) propagates with the current message still pending."""
    report = Report()
    db.session.commit()  # start from a clean transaction
    for _ in range(limit):
        now = clock()
        row = claim_next(now)
        if row is None:
            db.session.commit()
            break
        try:
            message = compose(row, config=config, now=now)
        except Skip as reason:
            row.status, row.last_error = CANCELLED, str(reason)
            report.cancelled += 1
            db.session.commit()
            continue
        except Exception as error:  # a message that cannot be composed must not block the queue
            log.exception("could not compose e-mail %s", row.id)
            _failed(row, error, now, report, permanent=False)
            db.session.commit()
            continue
        try:
            mailer.send(message)
        except mail.PermanentFailure as error:
            _failed(row, error, now, report, permanent=True)
        except (smtplib.SMTPException, OSError) as error:
            _failed(row, error, now, report, permanent=False)
            if isinstance(error, (OSError, smtplib.SMTPConnectError, smtplib.SMTPServerDisconnected,
                                  smtplib.SMTPAuthenticationError)):
                report.stopped = f"mail server unavailable: {redact(str(error))}"
                db.session.commit()
                break
        else:
            row.status, row.sent_at, row.last_error = SENT, clock(), None
            report.sent += 1
        db.session.commit()
    return report


def waiting() -> int:
    """E-mails still to be sent."""
    return db.session.scalar(select(func.count(OutboxMessage.id)).where(OutboxMessage.status == PENDING))
