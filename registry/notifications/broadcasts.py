"""Broadcasts: one message to many people, fanned out by `send-notifications` rather than the request
that posts it (thousands of recipients are normal; a national emergency reaches far more).

- `start()` records the broadcast in the poster's transaction; nothing else happens in the request.
- `fan_out()` (send-notifications) takes each unfinished broadcast under a row lock (FOR UPDATE SKIP
  LOCKED: an overlapping run takes another one or none), reads the next batch of recipients after
  its `cursor` from the audience its domain defines, and writes their notifications with
  `INSERT … ON CONFLICT DO NOTHING` on `uq_notifications_broadcast` (each person once, whatever
  happens) and an e-mail for each one `service.can_email` allows — then moves the cursor and commits,
  batch by batch. A crash loses nothing: the next run goes on from the last committed cursor.
- `progress()` says how far it got: recipients, notified, e-mailed, failed.

The notifications domain does not know who is tied to what: the caller passes each kind's audience,
a function (broadcast) → a SELECT of `users` rows in id order (registry/workflows/notices.py).
"""
import functools
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime

from sqlalchemy import Select, func, select, text

from registry.accounts.models import User
from registry.common.database import insert_for_upsert
from registry.common.ids import new_id
from registry.common.time import utcnow
from registry.extensions import db
from registry.notifications.models import (
    BROADCAST_ROW, FAILED, KINDS, NOTIFICATION_MAIL, PENDING, SENT, Broadcast, Notification, OutboxMessage,
)
from registry.notifications.service import EMAIL_TTL, can_email, one_writer_at_a_time

BATCH = 1000

Audience = Callable[[Broadcast], Select]


def start(kind: str, subject_id: uuid.UUID, title: str, body: str, link: str | None, *,
          now: datetime | None = None) -> Broadcast:
    """A broadcast of `kind` about `subject_id`, to be fanned out by the next `send-notifications`."""
    if kind not in KINDS:
        raise ValueError(f"unknown notification kind {kind!r}")
    broadcast = Broadcast(kind=kind, subject_id=subject_id, title=title[:300], body=body, link=link,
                          created_at=now or utcnow(), notified=0)
    db.session.add(broadcast)
    db.session.flush()
    return broadcast


def find(kind: str, subject_id: uuid.UUID) -> Broadcast | None:
    return db.session.scalar(select(Broadcast).where(Broadcast.kind == kind, Broadcast.subject_id == subject_id))


def progress(broadcast: Broadcast | None) -> dict:
    """{recipients, notified, emailed, failed}: recipients is None until the fan-out has started;
    e-mails not yet attempted count in neither emailed nor failed."""
    if broadcast is None:
        return {"recipients": None, "notified": 0, "emailed": 0, "failed": 0}
    mails = dict(db.session.execute(
        select(OutboxMessage.status, func.count()).join(Notification, Notification.id == OutboxMessage.notification_id)
        .where(Notification.kind == broadcast.kind, Notification.subject_id == broadcast.subject_id,
               Notification.subject_on.is_(None), OutboxMessage.status.in_((SENT, FAILED)))
        .group_by(OutboxMessage.status)).all())
    return {"recipients": broadcast.recipients, "notified": broadcast.notified, "emailed": mails.get(SENT, 0),
            "failed": mails.get(FAILED, 0)}


def fan_out(audiences: Mapping[str, Audience], *, now: Callable[[], datetime] = utcnow, batch: int = BATCH,
            max_batches: int | None = None) -> dict[str, int]:
    """Fans out every unfinished broadcast, committing after each batch. Answers {kind: notified}.
    `max_batches` bounds one run (the rest waits for the next)."""
    done: dict[str, int] = {}
    batches = 0
    db.session.commit()  # a job, not a request: it owns its transactions
    while max_batches is None or batches < max_batches:
        one_writer_at_a_time()
        broadcast = _claim_unfinished()
        if broadcast is None:
            db.session.commit()
            break
        audience = audiences.get(broadcast.kind)
        if audience is None:
            db.session.rollback()
            raise LookupError(f"no audience for broadcasts of kind {broadcast.kind!r}")
        notified = _one_batch(broadcast, audience(broadcast), now(), batch)
        done[broadcast.kind] = done.get(broadcast.kind, 0) + notified
        db.session.commit()
        batches += 1
    return done


def _claim_unfinished() -> Broadcast | None:
    """The oldest unfinished broadcast nobody else is fanning out, locked until this transaction ends
    (SQLite: one writer at a time anyway — the caller took the write lock)."""
    return db.session.scalar(select(Broadcast).where(Broadcast.finished_at.is_(None))
                             .order_by(Broadcast.created_at, Broadcast.id).limit(1)
                             .with_for_update(skip_locked=True).execution_options(populate_existing=True))


@functools.cache
def _new_notifications(dialect: str):
    """INSERT … ON CONFLICT DO NOTHING RETURNING user_id, id, run with a list of rows: SQLAlchemy's
    "insertmanyvalues" batches the one-row statement (compiled once) into multi-row ones, where a
    `.values(rows)` statement was compiled anew with a bind parameter per value on every batch (most
    of a batch's time at 100,000 recipients, measured: bench/emergency.py)."""
    return insert_for_upsert(Notification.__table__, dialect).on_conflict_do_nothing(
        index_elements=["kind", "subject_id", "user_id"], index_where=text(BROADCAST_ROW)
    ).returning(Notification.user_id, Notification.id)


def _one_batch(broadcast: Broadcast, audience: Select, now: datetime, size: int) -> int:
    if broadcast.recipients is None:
        broadcast.recipients = db.session.scalar(select(func.count()).select_from(audience.order_by(None).subquery()))
    stmt = audience.order_by(User.id).limit(size)
    if broadcast.cursor is not None:
        stmt = stmt.where(User.id > broadcast.cursor)
    users = list(db.session.scalars(stmt))
    if not users:
        broadcast.finished_at, broadcast.cursor = now, None
        return 0
    rows = [{"id": new_id(), "user_id": user.id, "kind": broadcast.kind, "title": broadcast.title,
             "body": broadcast.body, "params": None, "link": broadcast.link, "subject_id": broadcast.subject_id,
             "subject_on": None, "created_at": now, "read_at": None} for user in users]
    created = dict(db.session.execute(_new_notifications(db.engine.dialect.name), rows).all())
    by_id = {user.id: user for user in users}
    mails = [{"id": new_id(), "user_id": user_id, "notification_id": notification_id, "kind": NOTIFICATION_MAIL,
              "status": PENDING, "attempts": 0, "created_at": now, "next_attempt_at": now,
              "expires_at": now + EMAIL_TTL}
             for user_id, notification_id in created.items() if can_email(by_id[user_id], broadcast.kind)]
    if mails:
        db.session.execute(OutboxMessage.__table__.insert(), mails)
    broadcast.notified += len(created)
    broadcast.cursor = users[-1].id
    if len(users) < size:  # done: the cursor (a recipient's id) is no longer needed
        broadcast.finished_at, broadcast.cursor = now, None
    return len(created)
