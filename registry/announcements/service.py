"""Announcements: staff of a 団体 write to its registrants; residents who consented read them.

A resident's inbox holds the announcements of every 団体 they hold an active registration with,
and of those 団体's prefectures (the derived link) except the prefecture they live in. Posting also
starts a broadcast (registry/notifications/broadcasts.py): `send-notifications` then notifies each of
those people who consented to announcements — in the app, and by e-mail to a verified address — once.
"""
import uuid
from datetime import datetime

from sqlalchemy import Select, and_, delete, func, or_, select
from sqlalchemy.exc import IntegrityError

from registry.accounts.models import User
from registry.announcements.models import Announcement, AnnouncementRead
from registry.common.auth import STAFF
from registry.common.pagination import Page, page_of
from registry.common.time import utcnow
from registry.errors import Problem, not_found
from registry.extensions import db
from registry.notifications import broadcasts
from registry.notifications.models import ANNOUNCEMENT, Broadcast
from registry.organizations import acting, service as organizations
from registry.organizations.codes import prefecture_code_of
from registry.organizations.models import PREFECTURE
from registry.registrations.models import ACTIVE, Registration

MY_PAGE = "/my"


def _own_organization(staff: User, organization_code: str):
    """The 団体 the staff member writes for: their own, or one their 団体 acts for in an emergency
    (a proxy: registry/organizations/acting.py)."""
    org = organizations.get(organization_code)
    if staff.role != STAFF or (staff.organization_code != org.code
                               and not acting.acts_for(staff.organization_code, org.code)):
        raise Problem(403, "forbidden")
    return org


def post(staff: User, organization_code: str, title: str, body: str, *, now: datetime | None = None) -> Announcement:
    org = _own_organization(staff, organization_code)
    now = now or utcnow()
    announcement = Announcement(organization_code=org.code, title=title, body=body, created_by=staff.id,
                                created_at=now)
    db.session.add(announcement)
    db.session.flush()
    broadcasts.start(ANNOUNCEMENT, announcement.id, title, body, MY_PAGE, now=now)
    return announcement


def sent(staff: User, organization_code: str, announcement_id: uuid.UUID) -> dict:
    """GET /organizations/{code}/announcements/{id}: the announcement with its delivery so far."""
    org = _own_organization(staff, organization_code)
    announcement = db.session.get(Announcement, announcement_id)
    if announcement is None or announcement.organization_code != org.code:
        raise not_found()
    delivery = broadcasts.progress(broadcasts.find(ANNOUNCEMENT, announcement.id))
    return {"id": announcement.id, "organization_code": announcement.organization_code, "title": announcement.title,
            "body": announcement.body, "created_at": announcement.created_at, **delivery}


def sent_with_delivery(staff: User, organization_code: str, *, page: int, per_page: int) -> list[dict]:
    """The staff console's list: what the 団体 sent, newest first, each with its delivery so far."""
    return [{"announcement": announcement,
             "delivery": broadcasts.progress(broadcasts.find(ANNOUNCEMENT, announcement.id))}
            for announcement in sent_by(staff, organization_code, page=page, per_page=per_page).items]


def audience(broadcast: Broadcast) -> Select:
    """Who an announcement's broadcast reaches: everyone whose inbox shows it (an active registration
    with the 団体, or with a municipality of a prefecture they do not live in) who consented to
    announcements, in id order."""
    announcement = db.session.get(Announcement, broadcast.subject_id)
    org = organizations.get(announcement.organization_code)
    tie = Registration.organization_code == org.code
    if org.kind == PREFECTURE:  # the derived link, except for those who live in the prefecture
        tie = or_(tie, and_(Registration.prefecture_code == org.code,
                            func.coalesce(func.substr(User.home_municipality_code, 1, 2), "") != org.code[:2]))
    return select(User).join(Registration, and_(Registration.user_id == User.id, Registration.status == ACTIVE, tie)) \
        .where(User.consent_announcements, User.erased_at.is_(None), User.deactivated_at.is_(None)).distinct()


def sent_by(staff: User, organization_code: str, *, page: int, per_page: int) -> Page:
    """A page of what a 団体 has sent, newest first."""
    org = _own_organization(staff, organization_code)
    return page_of(select(Announcement).where(Announcement.organization_code == org.code)
                   .order_by(Announcement.created_at.desc(), Announcement.id.desc()), page, per_page)


def audience_codes(user: User) -> set[str]:
    """The 団体 whose announcements reach this person: active registrations and their prefectures."""
    rows = db.session.execute(select(Registration.organization_code, Registration.prefecture_code).where(
        Registration.user_id == user.id, Registration.status == ACTIVE)).all()
    home_prefecture = prefecture_code_of(user.home_municipality_code) if user.home_municipality_code else None
    return {code for code, _ in rows} | {pref for _, pref in rows if pref != home_prefecture}


def inbox(user: User):
    """(announcement, read_at) rows, newest first; empty without consent to announcements."""
    codes = audience_codes(user) if user.consent_announcements else set()
    return select(Announcement, AnnouncementRead.read_at).outerjoin(AnnouncementRead, (
        AnnouncementRead.announcement_id == Announcement.id) & (AnnouncementRead.user_id == user.id)) \
        .where(Announcement.organization_code.in_(codes)) \
        .order_by(Announcement.created_at.desc(), Announcement.id.desc())


def latest(user: User, limit: int) -> list:
    """The newest (announcement, read_at) rows of the person's inbox."""
    return list(db.session.execute(inbox(user).limit(limit)))


def mark_read(user: User, announcement_id: uuid.UUID, *, now: datetime | None = None) -> tuple[Announcement, datetime]:
    """The first reading time stays; reading again changes nothing."""
    announcement = db.session.get(Announcement, announcement_id)
    if announcement is None or not user.consent_announcements \
            or announcement.organization_code not in audience_codes(user):
        raise not_found()
    key = {"announcement_id": announcement.id, "user_id": user.id}
    read = db.session.get(AnnouncementRead, key)
    if read is None:
        try:
            with db.session.begin_nested():
                read = AnnouncementRead(**key, read_at=now or utcnow())
                db.session.add(read)
        except IntegrityError:  # read at the same moment by another request
            read = db.session.get(AnnouncementRead, key)
    return announcement, read.read_at


def erase_for(user: User) -> None:
    """DELETE /me: which announcements the person read is forgotten."""
    db.session.execute(delete(AnnouncementRead).where(AnnouncementRead.user_id == user.id))
