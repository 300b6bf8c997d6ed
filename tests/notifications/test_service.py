"""The notifications service without HTTP: what `notify()` writes in the caller's transaction (the
in-app notification, the outbox row and its expiry), reminders created once, one waiting account
message per kind, reading, rendering and erasure."""
from datetime import date, datetime, timedelta, timezone
from uuid import uuid4

from sqlalchemy import select

from registry.extensions import db
from registry.notifications import service
from registry.notifications.models import (
    NOTIFICATION_MAIL, PASSWORD_RESET_MAIL, VERIFY_EMAIL_MAIL, Notification, OutboxMessage,
)
from tests.factories import flushed_not_committed, person, refused

NOW = datetime(2026, 7, 1, 3, 0, tzinfo=timezone.utc)


def _verified(**profile):
    return person(email_verified_at=NOW - timedelta(days=1), **profile)


def _outbox(user) -> list[OutboxMessage]:
    return list(db.session.scalars(select(OutboxMessage).where(OutboxMessage.user_id == user.id)))


def test_notify_writes_the_notification_and_its_email_in_the_callers_transaction():
    user = _verified()
    notification = service.notify(user, "premium_decided", "x" * 400, "本文", "/my", now=NOW)
    assert (len(notification.title), notification.link, notification.created_at, notification.read_at) == \
        (300, "/my", NOW, None)
    [message] = _outbox(user)
    assert (message.notification_id, message.kind, message.status, message.next_attempt_at, message.expires_at) == \
        (notification.id, NOTIFICATION_MAIL, "pending", NOW, NOW + service.EMAIL_TTL)
    assert service.EMAIL_TTL == timedelta(days=3)
    assert flushed_not_committed(Notification, notification.id)
    assert db.session.scalars(select(OutboxMessage)).all() == []


def test_who_is_emailed():
    unverified = person()
    deactivated = _verified(deactivated_at=NOW)
    no_address = _verified()
    no_address.email = None
    consenting, not_consenting = _verified(consent_announcements=True), _verified(consent_announcements=False)
    for user in (unverified, deactivated, no_address, consenting, not_consenting):
        service.notify(user, "announcement", "お知らせ", "本文", now=NOW)
        service.notify(user, "evidence_decided", "決定", "本文", now=NOW)
    assert {u: len(_outbox(u)) for u in (unverified, deactivated, no_address, consenting, not_consenting)} == \
        {unverified: 0, deactivated: 0, no_address: 0, consenting: 2, not_consenting: 1}
    assert len(db.session.scalars(select(Notification)).all()) == 10  # in the app, always


def test_a_reminder_is_created_once_per_subject_and_date_and_the_transaction_goes_on():
    user = _verified()
    subject, on = uuid4(), date(2026, 7, 31)
    first = service.notify(user, "premium_expiring", "t", "b", subject_id=subject, subject_on=on, now=NOW)
    assert first is not None
    assert service.notify(user, "premium_expiring", "t", "b", subject_id=subject, subject_on=on, now=NOW) is None
    assert service.notify(user, "premium_expiring", "t", "b", subject_id=subject, subject_on=date(2027, 7, 31),
                          now=NOW) is not None  # a renewed end date is reminded again
    assert len(_outbox(user)) == 2  # no e-mail for the reminder that was not created
    assert db.session.scalar(select(service.reminded("premium_expiring", subject, on)))
    assert not db.session.scalar(select(service.reminded("premium_expiring", subject, date(2026, 8, 1))))


def test_one_account_message_of_a_kind_waits_at_a_time():
    user = person()
    first = service.queue_account_mail(user, VERIFY_EMAIL_MAIL, now=NOW)
    assert service.queue_account_mail(user, VERIFY_EMAIL_MAIL, now=NOW) is first
    reset = service.queue_account_mail(user, PASSWORD_RESET_MAIL, now=NOW)
    assert reset is not first and (first.notification_id, first.expires_at) == (None, NOW + service.EMAIL_TTL)
    first.status = "sent"
    assert service.queue_account_mail(user, VERIFY_EMAIL_MAIL, now=NOW) is not first
    assert len(_outbox(user)) == 3


def test_inbox_and_reading():
    user, other = person(), person()
    old = service.notify(user, "evidence_decided", "old", "", now=NOW)
    new = service.notify(user, "evidence_decided", "new", "", now=NOW + timedelta(minutes=1))
    assert [n.id for n in db.session.scalars(service.inbox(user))] == [new.id, old.id]
    first_read = NOW + timedelta(hours=1)
    assert service.mark_read(user, old.id, now=first_read).read_at == first_read
    assert service.mark_read(user, old.id, now=first_read + timedelta(hours=1)).read_at == first_read
    assert [n.id for n in db.session.scalars(service.inbox(user, unread=True))] == [new.id]
    assert [n.id for n in db.session.scalars(service.inbox(user, unread=False))] == [old.id]
    assert refused(service.mark_read, other, new.id) == (404, "not_found")
    assert refused(service.mark_read, user, uuid4()) == (404, "not_found")
    assert new.read_at is None


def test_rendering_fills_the_params_and_falls_back_to_the_words_as_written(app):
    with app.test_request_context(headers={"Accept-Language": "en"}):
        assert service.render_text("{organization}: {reason}", {"organization": "飛騨市", "reason": "不備"}) == \
            "飛騨市: 不備"
        assert service.render_text("{organization} {missing}", {"organization": "飛騨市"}) == \
            "{organization} {missing}"  # values that do not fit: the words as written
        assert service.render_text("50% {off}", None) == "50% {off}"  # literal text (an announcement)
        assert service.render_text("", {"a": 1}) == ""


def test_erasure_deletes_the_persons_notifications_and_emails_only():
    user, other = _verified(), _verified()
    service.notify(user, "evidence_decided", "t", "b", now=NOW)
    service.queue_account_mail(user, PASSWORD_RESET_MAIL, now=NOW)
    kept = service.notify(other, "evidence_decided", "t", "b", now=NOW)
    service.erase_for(user, now=NOW)
    assert db.session.scalars(select(Notification.id)).all() == [kept.id]
    assert [m.user_id for m in db.session.scalars(select(OutboxMessage))] == [other.id]
