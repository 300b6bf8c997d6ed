"""Due reminders, created by `send-notifications` before it sends: each once per subject and date
(the unique reminder index), also when runs overlap.

- premium expiring within 30 days: per premium registration and `premium_valid_until`, unless a
  renewal is already pending (a renewed registration has a new date, so it is reminded again next
  year);
- need starting tomorrow: per accepted application and `starts_on` (the needs domain; skipped when
  it is not installed).
"""
from datetime import date, datetime, timedelta

from sqlalchemy import exists, select, text

from registry.accounts.models import User
from registry.common.time import today_tokyo, utcnow
from registry.extensions import db
from registry.notifications import texts
from registry.notifications.models import Notification
from registry.notifications.service import notify
from registry.organizations.models import Organization
from registry.registrations.models import ACTIVE, PREMIUM, PremiumRequest, Registration

EXPIRY_NOTICE_DAYS = 30
MY_PAGE = "/my"


def _already(kind: str, subject_id, subject_on):
    return exists().where(Notification.kind == kind, Notification.subject_id == subject_id,
                          Notification.subject_on == subject_on)


def premium_expiring(*, now: datetime | None = None) -> int:
    """Reminds every holder of a premium registration that ends within 30 days (today included)."""
    now = now or utcnow()
    today = today_tokyo(now)
    pending_renewal = exists().where(PremiumRequest.registration_id == Registration.id,
                                     PremiumRequest.status == "pending", PremiumRequest.kind == "renewal")
    rows = db.session.execute(
        select(Registration, User, Organization.name)
        .join(User, User.id == Registration.user_id)
        .join(Organization, Organization.code == Registration.organization_code)
        .where(Registration.status == ACTIVE, Registration.tier == PREMIUM,
               Registration.premium_valid_until >= today,
               Registration.premium_valid_until <= today + timedelta(days=EXPIRY_NOTICE_DAYS),
               ~pending_renewal,
               ~_already("premium_expiring", Registration.id, Registration.premium_valid_until))
        .order_by(Registration.id)).all()
    created = 0
    for reg, user, organization in rows:
        title, body = texts.PREMIUM_EXPIRING
        if notify(user, "premium_expiring", title, body, MY_PAGE, now=now,
                  params={"organization": organization, "valid_until": reg.premium_valid_until.isoformat()},
                  subject_id=reg.id, subject_on=reg.premium_valid_until):
            created += 1
    return created


def need_starts_tomorrow(*, now: datetime | None = None) -> int:
    """Reminds every accepted applicant of a need that starts tomorrow (Asia/Tokyo)."""
    try:
        from registry.needs.models import ACCEPTED, CANCELLED, DRAFT, Application, Need
    except ImportError:  # the needs domain is not part of this installation
        return 0
    now = now or utcnow()
    tomorrow: date = today_tokyo(now) + timedelta(days=1)
    rows = db.session.execute(
        select(Application, Need, User)
        .join(Need, Need.id == Application.need_id)
        .join(User, User.id == Application.user_id)
        .where(Need.starts_on == tomorrow, Need.status.not_in((CANCELLED, DRAFT)),
               Application.status == ACCEPTED,
               ~_already("need_reminder", Application.id, Need.starts_on))
        .order_by(Application.id)).all()
    created = 0
    for application, need, user in rows:
        title, body = texts.NEED_REMINDER
        if notify(user, "need_reminder", title, body, f"/needs/{need.id}", now=now,
                  params={"title": need.title, "starts_on": need.starts_on.isoformat()},
                  subject_id=application.id, subject_on=need.starts_on):
            created += 1
    return created


def one_writer_at_a_time() -> None:
    """SQLite: take the database's write lock before reading, so an overlapping run waits for this
    one (busy_timeout) instead of failing on a stale snapshot when it writes. PostgreSQL needs
    nothing: the unique reminder index decides between runs."""
    if db.session.get_bind().dialect.name == "sqlite":
        db.session.execute(text("UPDATE notifications SET kind = kind WHERE 1 = 0"))


def create_due(*, now: datetime | None = None) -> dict[str, int]:
    """Every due reminder, at the start of a transaction; the caller commits."""
    now = now or utcnow()
    one_writer_at_a_time()
    return {"premium_expiring": premium_expiring(now=now), "need_reminder": need_starts_tomorrow(now=now)}
