"""What the needs domain tells applicants: a decision on their application, a waitlist place freed,
a need cancelled (each at the event, in its transaction), and a need starting tomorrow (created by
`send-notifications`, once per application and date). The words are this domain's;
registry.notifications delivers them."""
from datetime import date, datetime, timedelta

from sqlalchemy import select

from registry.accounts.models import User
from registry.common.time import today_tokyo, utcnow
from registry.extensions import db
from registry.i18n import N_
from registry.needs.models import ACCEPTED, CANCELLED, DRAFT, LIVE, Application, Need
from registry.notifications.models import Notification
from registry.notifications.service import notify, reminded

NEED_REMINDER = (N_("Your activity starts tomorrow"), N_("{title} starts on {starts_on}."))
APPLICATION_ACCEPTED = (N_("Your application was accepted"),
                        N_("{title} ({starts_on}): you are in. The details are on the need's page."))
APPLICATION_DECLINED = (N_("Your application was not accepted"),
                        N_("{title} ({starts_on}): thank you for applying. Other needs are waiting for you."))
WAITLIST_PROMOTED = (N_("A place has opened up"),
                     N_("{title} ({starts_on}): your application moved up from the waiting list."))
NEED_CANCELLED = (N_("A need you applied to was cancelled"), N_("{title} ({starts_on}) will not take place."))


def _need_params(need: Need) -> dict:
    return {"title": need.title, "starts_on": need.starts_on.isoformat()}


def _page(need: Need) -> str:
    return f"/needs/{need.id}"


def application_decided(application: Application, need: Need, *, now: datetime | None = None) -> Notification | None:
    """After an application became `accepted` or `declined`."""
    if application.status not in ("accepted", "declined"):
        return None
    kind = f"application_{application.status}"
    title, body = APPLICATION_ACCEPTED if application.status == "accepted" else APPLICATION_DECLINED
    user = db.session.get(User, application.user_id)
    return notify(user, kind, title, body, _page(need), now=now, params=_need_params(need))


def waitlist_promoted(application: Application, need: Need, *, now: datetime | None = None) -> Notification:
    """After a waitlisted application moved to `applied` because a place was freed."""
    title, body = WAITLIST_PROMOTED
    user = db.session.get(User, application.user_id)
    return notify(user, "waitlist_promoted", title, body, _page(need), now=now, params=_need_params(need))


def need_cancelled(need: Need, *, now: datetime | None = None) -> int:
    """After a need was cancelled: every applicant still in play is told. Answers how many."""
    title, body = NEED_CANCELLED
    told = 0
    users = db.session.scalars(select(User).join(Application, Application.user_id == User.id).where(
        Application.need_id == need.id, Application.status.in_(LIVE)).order_by(User.id))
    for user in users:
        notify(user, "need_cancelled", title, body, _page(need), now=now, params=_need_params(need))
        told += 1
    return told


def need_starts_tomorrow(*, now: datetime | None = None) -> int:
    """Reminds every accepted applicant of a need that starts tomorrow (Asia/Tokyo). Answers how many
    reminders were created."""
    now = now or utcnow()
    tomorrow: date = today_tokyo(now) + timedelta(days=1)
    rows = db.session.execute(
        select(Application, Need, User)
        .join(Need, Need.id == Application.need_id)
        .join(User, User.id == Application.user_id)
        .where(Need.starts_on == tomorrow, Need.status.not_in((CANCELLED, DRAFT)),
               Application.status == ACCEPTED,
               ~reminded("need_reminder", Application.id, Need.starts_on))
        .order_by(Application.id)).all()
    created = 0
    for application, need, user in rows:
        title, body = NEED_REMINDER
        if notify(user, "need_reminder", title, body, _page(need), now=now, params=_need_params(need),
                  subject_id=application.id, subject_on=need.starts_on):
            created += 1
    return created
