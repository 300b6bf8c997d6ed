"""What the registrations domain tells a person: a premium request decided (at the decision, in its
transaction) and a premium about to end (created by `send-notifications`, once per registration and
end date). The words are this domain's; registry.notifications delivers them."""
from datetime import datetime, timedelta

from sqlalchemy import exists, select

from registry.accounts.models import User
from registry.common.time import today_tokyo, utcnow
from registry.extensions import db
from registry.i18n import N_
from registry.notifications.models import Notification
from registry.notifications.service import notify, reminded
from registry.organizations.models import Organization
from registry.registrations.models import ACTIVE, PREMIUM, PremiumRequest, Registration

MY_PAGE = "/my"
EXPIRY_NOTICE_DAYS = 30

PREMIUM_APPROVED = (N_("Your premium registration was approved"),
                    N_("Your premium registration with {organization} is valid until {valid_until}."))
PREMIUM_RENEWED = (N_("Your premium renewal was approved"),
                   N_("Your premium registration with {organization} is now valid until {valid_until}."))
PREMIUM_REJECTED = (N_("Your premium request was not approved"), N_("{organization}: {reason}"))
PREMIUM_EXPIRING = (N_("Your premium registration ends soon"),
                    N_("Your premium registration with {organization} ends on {valid_until}. You can renew it now."))


def premium_decided(request: PremiumRequest, *, now: datetime | None = None) -> Notification | None:
    """After `approve_premium` or `reject_premium` changed the request (and the registration)."""
    now = now or request.decided_at or utcnow()
    user = db.session.get(User, request.user_id)
    organization = db.session.get(Organization, request.organization_code).name
    if request.status == "approved":
        reg = db.session.get(Registration, request.registration_id)
        title, body = PREMIUM_RENEWED if request.kind == "renewal" else PREMIUM_APPROVED
        params = {"organization": organization,
                  "valid_until": reg.premium_valid_until.isoformat() if reg.premium_valid_until else ""}
    elif request.status == "rejected":
        title, body = PREMIUM_REJECTED
        params = {"organization": organization, "reason": request.reason or ""}
    else:
        return None
    return notify(user, "premium_decided", title, body, MY_PAGE, now=now, params=params)


def premium_expiring(*, now: datetime | None = None) -> int:
    """Reminds every holder of a premium registration that ends within 30 days (today included),
    unless a renewal is already pending (a renewed registration has a new date, so it is reminded
    again next year). Answers how many reminders were created."""
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
               ~reminded("premium_expiring", Registration.id, Registration.premium_valid_until))
        .order_by(Registration.id)).all()
    created = 0
    for reg, user, organization in rows:
        title, body = PREMIUM_EXPIRING
        if notify(user, "premium_expiring", title, body, MY_PAGE, now=now,
                  params={"organization": organization, "valid_until": reg.premium_valid_until.isoformat()},
                  subject_id=reg.id, subject_on=reg.premium_valid_until):
            created += 1
    return created
