"""ふるさと住民登録 under the national rules (DESIGN.md "Registration rules").

Every change of what the figures count is announced (events.py) in the same transaction, so the
maintained figures and the event ledger move with the registration itself.
"""
import uuid
from datetime import date, datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import make_transient_to_detached

from registry.accounts.models import User
from registry.accounts.service import age_band
from registry.audit import models as audit
from registry.audit.service import record_read
from registry.common.auth import ADMIN, STAFF
from registry.common.database import Upsert
from registry.common.ids import new_id
from registry.common.pagination import Page, page_of
from registry.i18n import N_
from registry.common.time import last_day_of_year_from, one_year_before, today_tokyo, utcnow
from registry.errors import Problem, not_found
from registry.extensions import db
from registry.organizations import service as organizations
from registry.organizations.codes import prefecture_code_of
from registry.organizations.models import PREFECTURE, Organization
from registry.registrations import notices
from registry.registrations.events import (
    ERASED, PREMIUM_GRANTED, PREMIUM_LAPSED, PREMIUM_RENEWED, REGISTERED, Counted, PersonFacts, RegistrationChange,
    announce,
)
from registry.registrations.models import (
    ACTIVE, BASIC, MOVED_IN, PREMIUM, WITHDRAWN, Activity, IdentityVerification, PremiumRequest,
    Registration,
)

PENDING, APPROVED, REJECTED, VERIFIED = "pending", "approved", "rejected", "verified"
# A new registration in one statement, no savepoint: a concurrent duplicate inserts nothing.
NEW_ACTIVE_REGISTRATION = Upsert(Registration.__table__, conflict=("user_id", "organization_code"),
                                 where="status = 'active'", action="DO NOTHING",
                                 returning=("id",))
RENEWAL_WINDOW_DAYS = 60


def _lock_user(user: User) -> None:
    """Serialises one person's registration changes (premium limit, tallies); others don't wait."""
    db.session.execute(select(User.id).where(User.id == user.id).with_for_update())


def active_registrations(user: User, *, lock: bool = False) -> list[Registration]:
    stmt = select(Registration).where(Registration.user_id == user.id, Registration.status == ACTIVE) \
        .order_by(Registration.registered_at, Registration.id)
    if lock:
        stmt = stmt.with_for_update()
    return list(db.session.scalars(stmt))


def home_prefecture(user: User) -> str | None:
    return prefecture_code_of(user.home_municipality_code) if user.home_municipality_code else None


def lives_in(user: User, org: Organization) -> bool:
    """Nobody registers with the municipality they live in, nor directly with their prefecture."""
    return org.code == user.home_municipality_code or (org.kind == PREFECTURE and org.code == home_prefecture(user))


def register(user: User, organization_code: str, ties: list[str], *, now: datetime | None = None) -> Registration:
    now = now or utcnow()
    org = organizations.facts(organization_code)
    if lives_in(user, org):
        raise Problem(422, "home_municipality")
    # The partial unique index decides concurrent duplicates: the loser inserts nothing.
    row = {"id": new_id(), "user_id": user.id, "organization_code": org.code, "prefecture_code": org.prefecture_code,
           "tier": BASIC, "ties": sorted(set(ties)), "status": ACTIVE, "registered_at": now,
           "ended_at": None, "premium_valid_until": None}
    if db.session.execute(*NEW_ACTIVE_REGISTRATION.one(row)).first() is None:
        raise Problem(409, "already_registered")
    reg = Registration(**row)
    # The row as a persistent object without reading it back (SQLAlchemy's documented way to
    # attach an instance whose row exists).
    make_transient_to_detached(reg)
    db.session.add(reg)
    announce(RegistrationChange(user, REGISTERED, now, entering=[Counted.of(reg)], registration_id=reg.id,
                                organization_code=reg.organization_code))
    return reg


def registrations_of(user: User):
    """A person's registrations, active and ended, oldest first."""
    return select(Registration).where(Registration.user_id == user.id) \
        .order_by(Registration.registered_at, Registration.id)


def get_owned(user: User, registration_id: uuid.UUID) -> Registration:
    reg = db.session.get(Registration, registration_id)
    if reg is None or reg.user_id != user.id:
        raise not_found()
    return reg


def _end(user: User, reg: Registration, status: str, now: datetime) -> None:
    """Ends an active registration as withdrawn or moved_in, with its pending requests."""
    if reg.status != ACTIVE:
        raise Problem(409, "invalid_state", N_("This registration is no longer active."))
    counted = Counted.of(reg)
    reg.status, reg.ended_at = status, now
    for request in db.session.scalars(select(PremiumRequest).where(
            PremiumRequest.registration_id == reg.id, PremiumRequest.status == PENDING)):
        request.status, request.decided_at = REJECTED, now
        request.reason = "registration ended"
    db.session.flush()
    announce(RegistrationChange(user, status, now, leaving=[counted], registration_id=reg.id,
                                organization_code=reg.organization_code))


def withdraw(user: User, registration_id: uuid.UUID, *, now: datetime | None = None) -> None:
    reg = get_owned(user, registration_id)
    _lock_user(user)
    db.session.refresh(reg)
    _end(user, reg, WITHDRAWN, now or utcnow())


def move_home(user: User, home: Organization, *, now: datetime | None = None) -> None:
    """A new home municipality: an active registration there (or directly with its prefecture) ends
    as `moved_in`, a 移住 conversion; the rest are restated under the new home for the flows."""
    now = now or utcnow()
    _lock_user(user)
    for reg in active_registrations(user, lock=True):
        if reg.organization_code in (home.code, home.prefecture_code):
            _end(user, reg, MOVED_IN, now)
    restate_person(user, lambda: setattr(user, "home_municipality_code", home.code), now=now)


def restate_person(user: User, mutate, *, now: datetime | None = None) -> None:
    """Applies `mutate` (a change of home or birth year) and moves the person's active registrations
    from the figures' cells of the old values to those of the new ones."""
    regs = active_registrations(user, lock=True)
    before = PersonFacts.of(user)
    mutate()
    if regs:
        counted = [Counted.of(reg) for reg in regs]
        announce(RegistrationChange(user, None, now or utcnow(), leaving=counted, entering=counted, before=before))
    db.session.flush()


def withdraw_all_for_erasure(user: User, *, now: datetime | None = None) -> None:
    """DELETE /me: every registration withdrawn (pending requests rejected), pending identity checks
    rejected, staff's reasons about the person emptied. The rows stay, naming nobody: the figures
    are recounted from registrations, and decisions keep who made them and when."""
    now = now or utcnow()
    _lock_user(user)
    for model in (PremiumRequest, IdentityVerification):
        db.session.execute(update(model).where(model.user_id == user.id, model.reason.is_not(None))
                           .values(reason=None))
    for reg in active_registrations(user, lock=True):
        _end(user, reg, WITHDRAWN, now)
    for verification in db.session.scalars(select(IdentityVerification).where(
            IdentityVerification.user_id == user.id, IdentityVerification.status == PENDING)):
        verification.status, verification.decided_at, verification.reason = REJECTED, now, "account erased"
    announce(RegistrationChange(user, ERASED, now))


# --- designated activities and premium -------------------------------------------------------------

def record_activity(user: User, organization_code: str, completed_on: date, *, source: str = "record",
                    need_id=None, evidence_id=None, now: datetime | None = None) -> Activity:
    """A designated activity for a 団体 on a day (a completed need, approved evidence, …)."""
    org = organizations.resolve(organization_code)
    activity = Activity(user_id=user.id, organization_code=org.code, source=source, need_id=need_id,
                        evidence_id=evidence_id, completed_on=completed_on, created_at=now or utcnow())
    db.session.add(activity)
    db.session.flush()
    return activity


def activities_in_window(user_id, registration: Registration, today: date) -> int:
    """Activities for this registration's 団体 (a prefecture: it or its municipalities) in the last
    12 months; each need or evidence item counts once (unique indexes)."""
    stmt = select(func.count(Activity.id)).where(Activity.user_id == user_id,
                                                 Activity.completed_on >= one_year_before(today),
                                                 Activity.completed_on <= today)
    org = db.session.get(Organization, registration.organization_code)
    if org.kind == PREFECTURE:
        stmt = stmt.join(Organization, Organization.code == Activity.organization_code) \
            .where(Organization.prefecture_code == org.code)
    else:
        stmt = stmt.where(Activity.organization_code == org.code)
    return db.session.scalar(stmt)


def identity_verified(user_id) -> bool:
    return db.session.scalar(select(func.count(IdentityVerification.id)).where(
        IdentityVerification.user_id == user_id, IdentityVerification.status == VERIFIED)) > 0


def premium_slots_used(user_id, today: date, *, include_pending: bool = True) -> int:
    """Premium registrations still valid, plus pending new-premium requests (API.md): a request
    holds a slot. At approval only the premium registrations are counted again."""
    premium = select(func.count(Registration.id)).where(
        Registration.user_id == user_id, Registration.status == ACTIVE, Registration.tier == PREMIUM,
        Registration.premium_valid_until >= today)
    used = db.session.scalar(premium)
    if include_pending:
        used += db.session.scalar(select(func.count(PremiumRequest.id)).where(
            PremiumRequest.user_id == user_id, PremiumRequest.status == PENDING, PremiumRequest.kind == "new"))
    return used


def premium_progress(user: User, reg: Registration, *, settings, today: date | None = None) -> dict:
    today = today or today_tokyo()
    required = settings["PREMIUM_ACTIVITIES_REQUIRED"]
    limit = settings["PREMIUM_LIMIT"]
    done = activities_in_window(user.id, reg, today)
    verified = identity_verified(user.id)
    used = premium_slots_used(user.id, today)
    is_premium = reg.effective_tier(today) == PREMIUM
    pending = db.session.scalar(select(PremiumRequest.kind).where(
        PremiumRequest.registration_id == reg.id, PremiumRequest.status == PENDING))
    missing = []
    if not verified:
        missing.append("identity_verification")
    if done < required:
        missing.append("activities")
    if not is_premium and pending is None and used >= limit:  # its own pending request holds a slot
        missing.append("premium_slot")
    valid_until = reg.premium_valid_until if is_premium else None
    return {
        "activities_in_window": done, "activities_required": required, "identity_verified": verified,
        "premium_registrations": used, "premium_limit": limit,
        "eligible": not missing and reg.status == ACTIVE and pending is None, "pending_request": pending,
        "missing": missing, "premium_valid_until": valid_until,
        "renewal_opens_on": valid_until - timedelta(days=RENEWAL_WINDOW_DAYS) if valid_until else None,
    }


def _check_premium_rules(user: User, reg: Registration, *, settings, today: date, renewal: bool) -> None:
    if not identity_verified(user.id):
        raise Problem(422, "identity_unverified")
    if activities_in_window(user.id, reg, today) < settings["PREMIUM_ACTIVITIES_REQUIRED"]:
        raise Problem(422, "premium_requirements")
    if not renewal and premium_slots_used(user.id, today) >= settings["PREMIUM_LIMIT"]:
        raise Problem(409, "premium_limit")


def request_premium(user: User, registration_id: uuid.UUID, *, settings, now: datetime | None = None,
                    renewal: bool = False) -> PremiumRequest:
    now = now or utcnow()
    today = today_tokyo(now)
    reg = get_owned(user, registration_id)
    _lock_user(user)
    db.session.refresh(reg)
    if reg.status != ACTIVE:
        raise Problem(409, "invalid_state", N_("This registration is no longer active."))
    is_premium = reg.effective_tier(today) == PREMIUM
    if renewal:
        if not is_premium or today < reg.premium_valid_until - timedelta(days=RENEWAL_WINDOW_DAYS):
            raise Problem(409, "renewal_not_open")
    elif is_premium:
        raise Problem(409, "invalid_state", N_("This registration is already premium."))
    _check_premium_rules(user, reg, settings=settings, today=today, renewal=renewal)
    request = PremiumRequest(registration_id=reg.id, user_id=user.id, organization_code=reg.organization_code,
                             kind="renewal" if renewal else "new", status=PENDING, created_at=now)
    try:
        with db.session.begin_nested():
            db.session.add(request)
    except IntegrityError:
        raise Problem(409, "invalid_state", N_("A request for this registration is already pending."))
    return request


def _staff_request(staff: User, request_id: uuid.UUID) -> PremiumRequest:
    request = db.session.get(PremiumRequest, request_id, with_for_update=True)
    if request is None or not (staff.role == ADMIN or (staff.role == STAFF
                                                       and request.organization_code == staff.organization_code)):
        raise not_found()  # a host or resident of the 団体 decides nothing
    return request


def list_premium_requests(staff: User, status: str | None, *, page: int, per_page: int) -> Page:
    """A page of the 団体's premium requests, oldest first (GET /premium-requests, the staff
    console): the read is audited."""
    stmt = select(PremiumRequest).where(PremiumRequest.organization_code == staff.organization_code) \
        .order_by(PremiumRequest.created_at, PremiumRequest.id)
    if status:
        stmt = stmt.where(PremiumRequest.status == status)
    found = page_of(stmt, page, per_page)
    record_read(staff, audit.PREMIUM_REQUESTS, [r.user_id for r in found.items])
    return found


def approve_premium(staff: User, request_id: uuid.UUID, *, settings, now: datetime | None = None,
                    shown: bool = False) -> PremiumRequest:
    """`shown`: the decided request is handed to the reader (the API answers with it), so the read
    is audited; a page that only goes back to its list shows nothing."""
    now = now or utcnow()
    today = today_tokyo(now)
    request = _staff_request(staff, request_id)
    if request.status != PENDING:
        raise Problem(409, "invalid_state", N_("This request has already been decided."))
    reg = db.session.get(Registration, request.registration_id)
    user = db.session.get(User, request.user_id)
    _lock_user(user)
    db.session.refresh(reg)
    if reg.status != ACTIVE:
        raise Problem(409, "invalid_state", N_("The registration is no longer active."))
    still_premium = reg.effective_tier(today) == PREMIUM
    # A renewal of a premium that lapsed meanwhile becomes a new grant: it needs a free slot too.
    if not still_premium and premium_slots_used(user.id, today, include_pending=False) >= settings["PREMIUM_LIMIT"]:
        raise Problem(409, "premium_limit")
    leaving = [Counted.of(reg)]
    if request.kind == "renewal" and still_premium:
        reg.premium_valid_until = last_day_of_year_from(reg.premium_valid_until + timedelta(days=1))
        kind = PREMIUM_RENEWED
    else:
        reg.tier = PREMIUM
        reg.premium_valid_until = last_day_of_year_from(today)
        kind = PREMIUM_GRANTED
    entering = [Counted.of(reg)]
    request.status, request.decided_at, request.decided_by = APPROVED, now, staff.id
    db.session.flush()
    announce(RegistrationChange(user, kind, now, leaving=leaving, entering=entering, registration_id=reg.id,
                                organization_code=reg.organization_code, actor_id=staff.id))
    notices.premium_decided(request, now=now)
    return _shown_request(staff, request) if shown else request


def reject_premium(staff: User, request_id: uuid.UUID, reason: str, *, now: datetime | None = None,
                   shown: bool = False) -> PremiumRequest:
    """`shown`: as for `approve_premium`."""
    request = _staff_request(staff, request_id)
    if request.status != PENDING:
        raise Problem(409, "invalid_state", N_("This request has already been decided."))
    request.status, request.reason = REJECTED, reason
    request.decided_at, request.decided_by = now or utcnow(), staff.id
    db.session.flush()
    notices.premium_decided(request, now=request.decided_at)
    return _shown_request(staff, request) if shown else request


def _shown_request(staff: User, request: PremiumRequest) -> PremiumRequest:
    record_read(staff, audit.PREMIUM_REQUESTS, [request.user_id])
    return request


def lapse_premiums(*, now: datetime | None = None) -> int:
    """Premium registrations past `premium_valid_until` go back to basic (still counted)."""
    now = now or utcnow()
    today = today_tokyo(now)
    expired = list(db.session.scalars(select(Registration).where(
        Registration.status == ACTIVE, Registration.tier == PREMIUM,
        Registration.premium_valid_until < today).with_for_update(skip_locked=True)))
    for reg in expired:
        user = db.session.get(User, reg.user_id)
        leaving = Counted.of(reg)
        reg.tier = BASIC
        db.session.flush()
        announce(RegistrationChange(user, PREMIUM_LAPSED, now, leaving=[leaving], entering=[Counted.of(reg)],
                                    registration_id=reg.id, organization_code=reg.organization_code))
    return len(expired)


# --- identity verification -------------------------------------------------------------------------

def request_identity_verification(user: User, method: str, *, now: datetime | None = None) -> IdentityVerification:
    verification = IdentityVerification(user_id=user.id, method=method, status=PENDING, created_at=now or utcnow())
    db.session.add(verification)
    db.session.flush()
    return verification


def _registered_with(user_id, organization_code: str) -> bool:
    return db.session.scalar(select(func.count(Registration.id)).where(
        Registration.user_id == user_id, Registration.status == ACTIVE,
        Registration.organization_code == organization_code)) > 0


def list_identity_verifications(actor: User, status: str | None, *, page: int, per_page: int) -> Page:
    """A page of identity checks, oldest first (staff: of their 団体's registrants; admins: all), for
    GET /identity-verifications and the staff console: the read is audited."""
    stmt = select(IdentityVerification).order_by(IdentityVerification.created_at, IdentityVerification.id)
    if actor.role == STAFF:
        registered = select(Registration.user_id).where(
            Registration.organization_code == actor.organization_code, Registration.status == ACTIVE)
        stmt = stmt.where(IdentityVerification.user_id.in_(registered))
    if status:
        stmt = stmt.where(IdentityVerification.status == status)
    found = page_of(stmt, page, per_page)
    record_read(actor, audit.IDENTITY_VERIFICATIONS, [v.user_id for v in found.items])
    return found


def decide_identity_verification(actor: User, verification_id: uuid.UUID, *, verified: bool,
                                 reason: str | None = None, now: datetime | None = None,
                                 shown: bool = False) -> IdentityVerification:
    """`shown`: the decided check is handed to the reader (the API answers with it): the read is audited."""
    verification = db.session.get(IdentityVerification, verification_id, with_for_update=True)
    if verification is None or not (actor.role == ADMIN or (actor.role == STAFF and _registered_with(
            verification.user_id, actor.organization_code))):
        raise not_found()
    if verification.status != PENDING:
        raise Problem(409, "invalid_state", N_("This verification has already been decided."))
    verification.status = VERIFIED if verified else REJECTED
    verification.reason = reason
    verification.decided_at, verification.decided_by = now or utcnow(), actor.id
    db.session.flush()
    if shown:
        record_read(actor, audit.IDENTITY_VERIFICATIONS, [verification.user_id])
    return verification


def list_registrants(staff: User, organization_code: str, *, page: int, per_page: int) -> Page:
    """A page of the active registrations with a 団体, for its staff only (`share_profile` releases a
    profile to them, to nobody else), as `registrant_row`s; the read of shared profiles is audited."""
    org = organizations.get(organization_code)
    if staff.role != STAFF or staff.organization_code != org.code:
        raise not_found()
    found = page_of(select(Registration, User).join(User, User.id == Registration.user_id).where(
        Registration.organization_code == org.code, Registration.status == ACTIVE
    ).order_by(Registration.registered_at, Registration.id), page, per_page, rows=True)
    record_read(staff, audit.REGISTRANTS, [user.id for _reg, user in found.items if user.consent_share_profile],
                organization_code=organization_code)
    return Page([registrant_row(reg, user) for reg, user in found.items], found.total)


def registrant_row(reg: Registration, user: User) -> dict:
    """What staff see of one registrant: the profile only where the person consented to share it."""
    profile = None
    if user.consent_share_profile:
        profile = {"display_name": user.display_name, "age_band": age_band(user.birth_year),
                   "skills": user.skills, "interests": user.interests}
    return {"registration_id": reg.id, "tier": reg.effective_tier(), "ties": reg.ties,
            "registered_at": reg.registered_at, "profile": profile}
