"""Announcements: staff of a 団体 write to its registrants; residents who consented read them.

A resident's inbox holds the announcements of every 団体 they hold an active registration with,
and of those 団体's prefectures (the derived link) except the prefecture they live in.
"""
import uuid
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from registry.accounts.models import User
from registry.announcements.models import Announcement, AnnouncementRead
from registry.common.auth import STAFF
from registry.common.pagination import Page, page_of
from registry.common.time import utcnow
from registry.errors import Problem, not_found
from registry.extensions import db
from registry.organizations import service as organizations
from registry.organizations.codes import prefecture_code_of
from registry.registrations.models import ACTIVE, Registration


def _own_organization(staff: User, organization_code: str):
    org = organizations.get(organization_code)
    if staff.role != STAFF or staff.organization_code != org.code:
        raise Problem(403, "forbidden")
    return org


def post(staff: User, organization_code: str, title: str, body: str, *, now: datetime | None = None) -> Announcement:
    org = _own_organization(staff, organization_code)
    announcement = Announcement(organization_code=org.code, title=title, body=body, created_by=staff.id,
                                created_at=now or utcnow())
    db.session.add(announcement)
    db.session.flush()
    return announcement


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
