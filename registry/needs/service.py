"""Needs and applications (DESIGN.md "Needs and matching"). Functions flush; the request commits.

Every change to a need or its applications first locks the need's row (`_lock`): capacity checks,
`accepted_count` and the waitlist then move one request at a time per need (other needs don't
wait), so concurrent accepts never exceed capacity. Locks are always taken need first, then rows of
that need; a person's erasure locks their needs in id order.
"""
import uuid
from datetime import date, datetime

from sqlalchemy import and_, exists, func, or_, select, update
from sqlalchemy.dialects.postgresql import JSONB, array
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.expression import type_coerce

from registry.accounts.models import User
from registry.accounts.service import is_adult
from registry.audit import models as audit
from registry.audit.service import record_read
from registry.common.auth import HOST, STAFF
from registry.common.pagination import Page, page_of
from registry.hosts import service as hosts
from registry.i18n import N_
from registry.common.time import today_tokyo, utcnow
from registry.errors import Problem, not_found, validation_error
from registry.extensions import db
from registry.needs import events, notices, urgency
from registry.needs.calendar import calendar_entry
from registry.needs.models import (
    ACCEPTED, APPLIED, CANCELLED, CLOSED, COMPLETED, DECLINED, DRAFT, LIVE, NO_SHOW, OPEN, SIDE_JOB, WAITLISTED,
    Application, Need,
)
from registry.organizations import acting, service as organizations
from registry.registrations import service as registrations
from registry.registrations.models import Activity

MAX_SEARCH_TERMS = 5


# --- who may do what ---------------------------------------------------------------------------------

def is_staff_of(actor: User | None, need: Need) -> bool:
    """Staff of the need's 団体 — or of a 団体 acting for it in an emergency (a proxy:
    organizations/acting.py): they alone publish drafts and designate activities."""
    return actor is not None and actor.role == STAFF and (
        actor.organization_code == need.organization_code
        or acting.acts_for(actor.organization_code, need.organization_code))


def can_manage(actor: User | None, need: Need) -> bool:
    """Who may edit a need and decide its applications: staff of the need's 団体, and the host (ヌシ)
    who posted it (`need.host_id`) while bound to that 団体. This is the one place that decides it."""
    if is_staff_of(actor, need):
        return True
    return actor is not None and actor.role == HOST and need.host_id is not None and need.host_id == actor.id \
        and actor.organization_code == need.organization_code


def can_view(actor: User | None, need: Need) -> bool:
    """Drafts are seen by those who manage them only; every other need by anyone."""
    return need.status != DRAFT or can_manage(actor, need)


def _lock(need_id: uuid.UUID) -> Need | None:
    """The need, its row locked until the request's commit (SELECT … FOR UPDATE), read afresh."""
    return db.session.scalar(select(Need).where(Need.id == need_id).with_for_update()
                             .execution_options(populate_existing=True))


lock_need = _lock  # for other domains that change a need's applications (hosts' check-in)


def get_need(actor: User | None, need_id: uuid.UUID) -> Need:
    need = db.session.get(Need, need_id)
    if need is None or not can_view(actor, need):
        raise not_found()
    return need


def managed_need(actor: User, need_id: uuid.UUID, *, lock: bool = False) -> Need:
    """404 for a need the actor may not see, 403 for one they may see but not manage."""
    need = _lock(need_id) if lock else db.session.get(Need, need_id)
    if need is None or not can_view(actor, need):
        raise not_found()
    if not can_manage(actor, need):
        raise Problem(403, "forbidden")
    return need


# --- needs ---------------------------------------------------------------------------------------------

def _clean_skills(skills: list[str]) -> list[str]:
    return list(dict.fromkeys(s.strip() for s in skills if s.strip()))


def _apply_changes(need: Need, changes: dict, org) -> None:
    """Sets the fields given, places an on-site need at its 団体's office unless told otherwise, and
    checks what must hold together (422 with field errors)."""
    for name in ("kind", "title", "description", "host_name", "remote", "starts_on", "ends_on", "apply_by",
                 "capacity", "reward", "counts_as_activity", "urgent"):
        if name in changes:
            setattr(need, name, changes[name])
    if "skills" in changes:
        need.skills = _clean_skills(changes["skills"])
    place = changes["place"] if "place" in changes else need.place
    if place is None and not need.remote:  # an on-site need is at its 団体 unless told otherwise
        place = {"name": org.name, "lat": org.lat, "lng": org.lng}
    need.set_place(place)
    errors = {}
    if need.ends_on < need.starts_on:
        errors["ends_on"] = [N_("Must be on or after the start date.")]
    if need.apply_by > need.starts_on:
        errors["apply_by"] = [N_("Must be on or before the start date.")]
    if need.capacity < need.accepted_count:
        errors["capacity"] = [N_("Must be at least the number of accepted applications.")]
    errors.update(urgency.errors(need, changes))  # urgent only while an emergency names the 団体
    if errors:
        raise validation_error(errors)


def create_need(actor: User, data: dict, *, now: datetime | None = None) -> Need:
    """Staff post open needs. A host posts for its own 団体 only: a draft for staff to publish, or open
    at once when the host is trusted, and then not a designated activity until staff make it one."""
    now = now or utcnow()
    org = organizations.resolve(data["organization_code"])
    need = Need(organization_code=org.code, prefecture_code=org.prefecture_code, status=OPEN, accepted_count=0,
                description="", reward="", skills=[], remote=False, counts_as_activity=False, urgent=False,
                host_id=actor.id if actor.role == HOST else None, created_by=actor.id, created_at=now, updated_at=now)
    if not can_manage(actor, need):
        raise Problem(403, "forbidden")
    data = dict(data)
    if actor.role == HOST:
        host = hosts.profile_of(actor)
        trusted = host is not None and host.trusted
        need.status = OPEN if trusted else DRAFT
        if trusted:
            data["counts_as_activity"] = False  # only staff designate activities
        if not data.get("host_name") and host is not None:
            data["host_name"] = host.host_name
    _apply_changes(need, data, org)
    db.session.add(need)
    db.session.flush()
    return need


def update_need(actor: User, need_id: uuid.UUID, changes: dict, *, now: datetime | None = None) -> Need:
    need = managed_need(actor, need_id, lock=True)
    if need.status == CANCELLED:
        raise Problem(409, "invalid_state", N_("This need has been cancelled."))
    if "counts_as_activity" in changes and changes["counts_as_activity"] != need.counts_as_activity \
            and need.status != DRAFT and not is_staff_of(actor, need):
        raise Problem(403, "forbidden", N_("Only staff designate activities."))
    added_places = changes.get("capacity", need.capacity) - need.capacity
    became_side_job = changes.get("kind", need.kind) == SIDE_JOB and need.kind != SIDE_JOB
    _apply_changes(need, changes, organizations.get(need.organization_code))
    need.updated_at = now or utcnow()
    if became_side_job:
        _decline_minors(need, actor, need.updated_at)
    _promote_waitlisted(need, added_places, need.updated_at)  # new places are freed places
    db.session.flush()
    return need


def _decline_minors(need: Need, actor: User, now: datetime) -> None:
    """A need that becomes a side job: under-18s may no longer take part, so their applications in
    play are declined (each told, as for any decline) and the places they held go to the waitlist."""
    today = today_tokyo(now)
    live = list(db.session.scalars(select(Application).where(Application.need_id == need.id,
                                                             Application.status.in_(LIVE))
                                   .order_by(Application.created_at, Application.id)))
    for application in live:
        if application.status in LIVE and not is_adult(application.applicant, today):
            _set_status(need, application, DECLINED, now)
            application.decided_at, application.decided_by = now, actor.id
            db.session.flush()
            notices.application_decided(application, need, now=now)


def publish_need(actor: User, need_id: uuid.UUID, *, now: datetime | None = None) -> Need:
    """POST /needs/{id}/publish: staff of the 団体 open a host's draft, with the host's
    `counts_as_activity` as it stands."""
    need = managed_need(actor, need_id, lock=True)
    if not is_staff_of(actor, need):
        raise Problem(403, "forbidden")
    if need.status != DRAFT:
        raise Problem(409, "invalid_state", N_("Only a draft can be published."))
    need.status, need.updated_at = OPEN, now or utcnow()
    db.session.flush()
    return need


def close_need(actor: User, need_id: uuid.UUID, *, now: datetime | None = None) -> Need:
    """Stop taking applications (decisions on those already made go on)."""
    need = managed_need(actor, need_id, lock=True)
    if need.status != OPEN:
        raise Problem(409, "invalid_state", N_("Only an open need can be closed."))
    need.status, need.closed_at = CLOSED, now or utcnow()
    need.updated_at = need.closed_at
    db.session.flush()
    return need


def cancel_need(actor: User, need_id: uuid.UUID, *, now: datetime | None = None) -> Need:
    """The need will not take place. Its applications keep their status (so the applicants to tell
    are known); nothing more can be decided on them."""
    need = managed_need(actor, need_id, lock=True)
    if need.status == CANCELLED:
        raise Problem(409, "invalid_state", N_("This need has already been cancelled."))
    need.status, need.cancelled_at = CANCELLED, now or utcnow()
    need.updated_at = need.cancelled_at
    db.session.flush()
    notices.need_cancelled(need, now=need.cancelled_at)
    return need


def has_any(column, values: list[str]):
    """The JSON list in `column` holds at least one of `values` (jsonb `?|` on PostgreSQL, which
    the GIN indexes serve; `json_each` on SQLite)."""
    if db.engine.dialect.name == "postgresql":
        return type_coerce(column, JSONB).has_any(array(values))
    each = func.json_each(column).table_valued("value")
    return exists(select(1).select_from(each).where(each.c.value.in_(values)))


def open_clause(today: date):
    # apply_by <= starts_on, so `starts_on >= today` adds nothing but lets the (status, …, starts_on)
    # indexes skip every past need.
    return and_(Need.status == OPEN, Need.apply_by >= today, Need.starts_on >= today)


def _status_clause(status: str, today: date):
    if status == OPEN:
        return open_clause(today)
    if status == CLOSED:
        return or_(Need.status == CLOSED, and_(Need.status == OPEN, Need.apply_by < today))
    return Need.status == status


def _like_term(term: str) -> str:
    return "%" + term.replace("/", "//").replace("%", "/%").replace("_", "/_") + "%"


def list_statement(*, today: date, status: str = OPEN, organization: str | None = None,
                   prefecture: str | None = None, kind: str | None = None, skill: str | None = None,
                   q: str | None = None, starts_from: date | None = None, starts_until: date | None = None,
                   remote: bool | None = None):
    """Public needs by `starts_on` then id. `q`: every word (up to five) in the title or description,
    case-insensitive substrings (ILIKE, served by pg_trgm indexes on PostgreSQL)."""
    stmt = select(Need).where(_status_clause(status, today)).order_by(Need.starts_on, Need.id)
    if organization:
        stmt = stmt.where(Need.organization_code == organization)
    if prefecture:
        stmt = stmt.where(Need.prefecture_code == prefecture)
    if kind:
        stmt = stmt.where(Need.kind == kind)
    if skill and skill.strip():
        stmt = stmt.where(has_any(Need.skills, [skill.strip()]))
    for term in (q or "").split()[:MAX_SEARCH_TERMS]:
        pattern = _like_term(term)
        stmt = stmt.where(or_(Need.title.ilike(pattern, escape="/"), Need.description.ilike(pattern, escape="/")))
    if starts_from:
        stmt = stmt.where(Need.starts_on >= starts_from)
    if starts_until:
        stmt = stmt.where(Need.starts_on <= starts_until)
    if remote is not None:
        stmt = stmt.where(Need.remote == remote)
    return stmt


def search(*, today: date, page: int, per_page: int, **filters) -> Page:
    """A page of `list_statement(today=today, **filters)` (GET /needs and the pages that list needs)."""
    return page_of(list_statement(today=today, **filters), page, per_page)


# --- applications ----------------------------------------------------------------------------------------

def apply(user: User, need_id: uuid.UUID, message: str | None = None, *,
          now: datetime | None = None) -> Application:
    """Waitlisted when the need is full. A person who cancelled may apply again (to the back of the
    queue); one who was declined, or has an application in play, may not."""
    now = now or utcnow()
    today = today_tokyo(now)
    need = _lock(need_id)
    if need is None or not can_view(user, need):
        raise not_found()
    if need.effective_status(today) != OPEN:
        raise Problem(409, "need_closed")
    if need.kind == SIDE_JOB and not is_adult(user, today):
        raise Problem(422, "age_restricted", errors={"need": [N_("Side jobs are for adults only.")]})
    application = Application(need_id=need.id, user_id=user.id, status=WAITLISTED if need.is_full else APPLIED,
                              message=message, created_at=now, updated_at=now)
    try:
        with db.session.begin_nested():  # the partial unique index: one application in play per person
            db.session.add(application)
    except IntegrityError:
        raise Problem(409, "already_applied")
    events.announce(events.ApplicationEvent(events.APPLIED, user.id, need.organization_code, now))
    return application


def _managed_application(actor: User, application_id: uuid.UUID) -> tuple[Application, Need]:
    application = db.session.get(Application, application_id)
    if application is None:
        raise not_found()
    need = _lock(application.need_id)
    if not can_manage(actor, need):
        raise not_found()
    db.session.refresh(application)
    return application, need


def _promote_waitlisted(need: Need, places: int, now: datetime) -> None:
    """The earliest waitlisted applicants move to `applied`, one per freed place."""
    if places <= 0:
        return
    for application in db.session.scalars(
            select(Application).where(Application.need_id == need.id, Application.status == WAITLISTED)
            .order_by(Application.created_at, Application.id).limit(places)):
        application.status, application.updated_at = APPLIED, now
        notices.waitlist_promoted(application, need, now=now)


def _set_status(need: Need, application: Application, status: str, now: datetime) -> None:
    """Every status change, so `accepted_count` and the waitlist follow it. A place freed on a
    cancelled need goes to nobody: it will not take place."""
    if status == ACCEPTED:
        need.accepted_count += 1
    if application.status == ACCEPTED and status in (DECLINED, CANCELLED):
        need.accepted_count -= 1
        if need.status != CANCELLED:
            _promote_waitlisted(need, 1, now)
    application.status, application.updated_at = status, now


ALLOWED_FROM = {
    ACCEPTED: (APPLIED, WAITLISTED),
    DECLINED: (APPLIED, WAITLISTED, ACCEPTED),
    COMPLETED: (ACCEPTED,),
    NO_SHOW: (ACCEPTED,),
}


def decide(actor: User, application_id: uuid.UUID, status: str, *, now: datetime | None = None,
           shown: bool = False) -> Application:
    """accept, decline, complete or no-show (staff of the need's 団体). `shown`: the application
    (the applicant's name and message) is handed to the reader, as the API answers: an audited read."""
    now = now or utcnow()
    today = today_tokyo(now)
    application, need = _managed_application(actor, application_id)
    if need.status == CANCELLED:
        raise Problem(409, "invalid_state", N_("This need has been cancelled."))
    if application.status not in ALLOWED_FROM[status]:
        raise Problem(409, "invalid_state", N_("This application's status does not allow that."))
    if status == ACCEPTED and need.is_full:
        raise Problem(409, "need_full")
    if status == ACCEPTED and need.kind == SIDE_JOB and not is_adult(application.applicant, today):
        raise Problem(422, "age_restricted", errors={"application": [N_("Side jobs are for adults only.")]})
    if status in (COMPLETED, NO_SHOW):
        if need.starts_on > today:
            raise Problem(409, "invalid_state", N_("The need has not started yet."))
        application.completed_on = today
    _set_status(need, application, status, now)
    application.decided_at, application.decided_by = now, actor.id
    if status == COMPLETED and need.counts_as_activity:
        _record_activity(application, need, today, now)
    db.session.flush()
    if status == COMPLETED:
        events.announce(events.ApplicationEvent(events.COMPLETED, application.user_id, need.organization_code, now))
    notices.application_decided(application, need, now=now)  # accepted or declined: the applicant is told
    if shown:
        record_read(actor, audit.APPLICATIONS, [application.user_id])
    return application


def _record_activity(application: Application, need: Need, today: date, now: datetime) -> None:
    """A designated activity for the need's 団体, once per person and need."""
    done = db.session.scalar(select(Activity.id).where(Activity.user_id == application.user_id,
                                                       Activity.need_id == need.id))
    if done is None:
        registrations.record_activity(application.applicant, need.organization_code, today, source="need",
                                      need_id=need.id, now=now)


def _own_application(user: User, application_id: uuid.UUID) -> Application:
    application = db.session.get(Application, application_id)
    if application is None or application.user_id != user.id:
        raise not_found()
    return application


def cancel_application(user: User, application_id: uuid.UUID, *, now: datetime | None = None) -> None:
    """DELETE /applications/{id}: the applicant withdraws; an accepted place goes to the waitlist."""
    application = _own_application(user, application_id)
    need = _lock(application.need_id)
    db.session.refresh(application)
    if application.status not in LIVE:
        raise Problem(409, "invalid_state", N_("This application's status does not allow that."))
    _set_status(need, application, CANCELLED, now or utcnow())
    db.session.flush()


def cancel_applications_for_erasure(user: User, *, now: datetime | None = None) -> None:
    """DELETE /me: every application in play is cancelled, promoting waitlists; the messages the
    person wrote are emptied (the rows stay as the needs' history, naming nobody)."""
    now = now or utcnow()
    need_ids = sorted(set(db.session.scalars(select(Application.need_id).where(
        Application.user_id == user.id, Application.status.in_(LIVE)))))
    for need_id in need_ids:
        need = _lock(need_id)
        for application in db.session.scalars(select(Application).where(
                Application.need_id == need_id, Application.user_id == user.id, Application.status.in_(LIVE))
                .execution_options(populate_existing=True)):
            _set_status(need, application, CANCELLED, now)
    db.session.execute(update(Application).where(Application.user_id == user.id, Application.message.is_not(None))
                       .values(message=None))
    db.session.flush()


def applications_of_need(actor: User, need_id: uuid.UUID, status: str | None = None, *, page: int = 1,
                         per_page: int | None = None) -> Page:
    """A page (`per_page=None`: all) of a need's applications by `created_at` then id, for its staff
    or host: each applicant's name and message, and on the day the check-in roster. The read is
    audited."""
    need = managed_need(actor, need_id)
    stmt = select(Application).where(Application.need_id == need.id) \
        .order_by(Application.created_at, Application.id)
    if status:
        stmt = stmt.where(Application.status == status)
    found = page_of(stmt, page, per_page)
    record_read(actor, audit.APPLICATIONS, [a.user_id for a in found.items])
    return found


def applications_of(user: User):
    """Own applications, by `created_at` then id."""
    return select(Application).where(Application.user_id == user.id) \
        .order_by(Application.created_at, Application.id)


def latest_applications(user: User, limit: int, *, need_id: uuid.UUID | None = None) -> list[Application]:
    """Own applications (to one need, with `need_id`), newest first."""
    stmt = select(Application).where(Application.user_id == user.id)
    if need_id is not None:
        stmt = stmt.where(Application.need_id == need_id)
    return list(db.session.scalars(stmt.order_by(Application.created_at.desc(), Application.id.desc()).limit(limit)))


def activities_of(user: User):
    """Designated activities (completed needs, approved evidence), newest first."""
    return select(Activity).where(Activity.user_id == user.id) \
        .order_by(Activity.completed_on.desc(), Activity.id.desc())


def latest_activities(user: User, limit: int) -> list[Activity]:
    return list(db.session.scalars(activities_of(user).limit(limit)))


def calendar_for(user: User, application_id: uuid.UUID, *, now: datetime | None = None) -> str:
    """The applicant's calendar entry (.ics) for an accepted application."""
    application = _own_application(user, application_id)
    need = application.need
    if application.status != ACCEPTED or need.status == CANCELLED:
        raise Problem(409, "invalid_state", N_("Only an accepted application has a calendar entry."))
    host = need.host_name or organizations.get(need.organization_code).name
    return calendar_entry(application, host, now=now or utcnow())


def managed_needs(actor: User, status: str | None = None, *, page: int = 1, per_page: int | None = None) -> Page:
    """GET /me/needs: a page (`per_page=None`: all) of a host's own needs, or of all a staff member's
    団体's needs, drafts included, by `starts_on` then id."""
    stmt = select(Need).order_by(Need.starts_on, Need.id)
    if actor.role == HOST:
        stmt = stmt.where(Need.host_id == actor.id, Need.organization_code == actor.organization_code)
    else:
        stmt = stmt.where(Need.organization_code == actor.organization_code)
    if status:
        stmt = stmt.where(Need.status == status)
    return page_of(stmt, page, per_page)


def drafts_of(staff: User, *, page: int, per_page: int) -> Page:
    """A page of the drafts waiting for the staff of a 団体 to publish them, oldest first."""
    return page_of(select(Need).where(Need.organization_code == staff.organization_code, Need.status == DRAFT)
                   .order_by(Need.created_at, Need.id), page, per_page)


def waiting_counts(needs: list[Need]) -> dict:
    """Need id → how many applications wait for a decision (applied or waitlisted), for the needs given."""
    if not needs:
        return {}
    return dict(db.session.execute(
        select(Application.need_id, func.count()).where(Application.need_id.in_([n.id for n in needs]),
                                                        Application.status.in_((APPLIED, WAITLISTED)))
        .group_by(Application.need_id)).all())


def managed_need_of(actor: User, application_id: uuid.UUID) -> uuid.UUID | None:
    """The need an application belongs to, if the actor manages it (None otherwise, or unknown)."""
    application = db.session.get(Application, application_id)
    return application.need_id if application is not None and can_manage(actor, application.need) else None
