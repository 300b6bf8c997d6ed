"""Notifications for events of other domains, so each needs one line at the place of the event
(inside its transaction). Evidence decisions are notified by the evidence domain itself."""
from datetime import datetime

from sqlalchemy import select

from registry.accounts.models import User
from registry.common.time import utcnow
from registry.extensions import db
from registry.notifications import texts
from registry.notifications.models import Notification
from registry.notifications.service import notify
from registry.organizations.models import Organization
from registry.registrations.models import PremiumRequest, Registration

MY_PAGE = "/my"


def premium_decided(request: PremiumRequest, *, now: datetime | None = None) -> Notification | None:
    """After `approve_premium` or `reject_premium` changed the request (and the registration)."""
    now = now or request.decided_at or utcnow()
    user = db.session.get(User, request.user_id)
    organization = db.session.get(Organization, request.organization_code).name
    if request.status == "approved":
        reg = db.session.get(Registration, request.registration_id)
        title, body = texts.PREMIUM_RENEWED if request.kind == "renewal" else texts.PREMIUM_APPROVED
        params = {"organization": organization,
                  "valid_until": reg.premium_valid_until.isoformat() if reg.premium_valid_until else ""}
    elif request.status == "rejected":
        title, body = texts.PREMIUM_REJECTED
        params = {"organization": organization, "reason": request.reason or ""}
    else:
        return None
    return notify(user, "premium_decided", title, body, MY_PAGE, now=now, params=params)


# --- the needs domain's events (one call each at the place of the event) ----------------------------

def _need_params(need) -> dict:
    return {"title": need.title, "starts_on": need.starts_on.isoformat()}


def application_decided(application, need, *, now: datetime | None = None) -> Notification | None:
    """After an application became `accepted` or `declined`."""
    if application.status not in ("accepted", "declined"):
        return None
    kind = f"application_{application.status}"
    title, body = texts.APPLICATION_ACCEPTED if application.status == "accepted" else texts.APPLICATION_DECLINED
    user = db.session.get(User, application.user_id)
    return notify(user, kind, title, body, f"/needs/{need.id}", now=now, params=_need_params(need))


def waitlist_promoted(application, need, *, now: datetime | None = None) -> Notification:
    """After a waitlisted application moved to `applied` because a place was freed."""
    title, body = texts.WAITLIST_PROMOTED
    user = db.session.get(User, application.user_id)
    return notify(user, "waitlist_promoted", title, body, f"/needs/{need.id}", now=now, params=_need_params(need))


def need_cancelled(need, *, now: datetime | None = None) -> int:
    """After a need was cancelled: every applicant still in play is told. Answers how many."""
    from registry.needs.models import LIVE, Application
    title, body = texts.NEED_CANCELLED
    told = 0
    users = db.session.scalars(select(User).join(Application, Application.user_id == User.id).where(
        Application.need_id == need.id, Application.status.in_(LIVE)).order_by(User.id))
    for user in users:
        notify(user, "need_cancelled", title, body, f"/needs/{need.id}", now=now, params=_need_params(need))
        told += 1
    return told


def announcement(user: User, title: str, body: str, *, now: datetime | None = None) -> Notification:
    """One recipient of an announcement (staff's own words, shown as written); e-mailed only with
    consent to announcements."""
    return notify(user, "announcement", title, body, MY_PAGE, now=now)
