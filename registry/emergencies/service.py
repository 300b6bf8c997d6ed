"""Emergencies (災害時モード, API.md "Emergencies"): declared by staff for their 団体 (a prefecture's
staff also for its municipalities) or by the national office for any; the people tied to the stricken
places are told through a broadcast that `send-notifications` fans out (registry/workflows/notices.py),
offer help, and the staff of the affected 団体 — or of a proxy 団体 acting for them — read the offers.

Who may do what ("staff of an affected 団体" reads as the issue's reach rule: the staff of a named
団体, and a prefecture's staff also for its named municipalities — whoever could have declared it):
- declare: staff, for 団体 within their reach; national, for any (else 403);
- close, name a proxy: staff of an affected 団体, national;
- delivery and offer counts (GET /emergencies/{id}): those, and the proxies' staff;
- the offers themselves, with each person's e-mail: staff of an affected or proxy 団体 only (an
  audited read); the national office reads the count.
A proxy acts only while the emergency is active: once it is closed, its staff read nothing more.
Tied residents offer help while the emergency is active, one offer each (made again, it is updated).
"""
import uuid
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError

from registry.accounts.models import User
from registry.accounts.service import age_band
from registry.audit import models as audit
from registry.audit.service import record_read
from registry.common.auth import NATIONAL, RESIDENT, STAFF
from registry.common.pagination import Page, page_of
from registry.common.time import today_tokyo, utcnow
from registry.emergencies import ties
from registry.emergencies.models import ACTIVE, CLOSED, OFFER_KINDS, AffectedOrganization, Emergency, Offer, Proxy
from registry.errors import Problem, not_found, validation_error
from registry.extensions import db
from registry.i18n import N_
from registry.needs import urgency
from registry.notifications import broadcasts
from registry.notifications.models import EMERGENCY
from registry.organizations import service as organizations
from registry.organizations.codes import prefecture_code_of
from registry.organizations.models import PREFECTURE


# --- who may do what ---------------------------------------------------------------------------------------

def in_reach(actor: User, code: str) -> bool:
    """May `actor` declare an emergency for `code`: national for any 団体, staff for their own, a
    prefecture's staff also for its municipalities."""
    if actor.role == NATIONAL:
        return True
    if actor.role != STAFF or actor.organization_code is None:
        return False
    own = actor.organization_code
    return code == own or (organizations.facts(own).kind == PREFECTURE and prefecture_code_of(code) == own)


def manages(actor: User, codes: list[str]) -> bool:
    """Close, name proxies, follow delivery: national, or staff who could have declared it."""
    return actor.role == NATIONAL or any(in_reach(actor, code) for code in codes)


def reads_offers(actor: User, codes: list[str], proxies: list[str]) -> bool:
    """Staff of an affected 団体 (as `in_reach` says) or of a proxy."""
    return actor.role == STAFF and (actor.organization_code in proxies or any(in_reach(actor, c) for c in codes))


def not_followed() -> Problem:
    return Problem(403, "forbidden", N_("This emergency does not touch your 団体."))


def _sees_delivery(actor: User | None, codes: list[str], proxies: list[str]) -> bool:
    return actor is not None and (manages(actor, codes) or reads_offers(actor, codes, proxies))


def acting_proxies(emergency: Emergency, proxies: list[str]) -> list[str]:
    """The proxies that act for the affected 団体 now: none once the emergency is closed."""
    return proxies if emergency.status == ACTIVE else []


def _get(emergency_id: uuid.UUID, *, lock: bool = False, share: bool = False) -> Emergency:
    stmt = select(Emergency).where(Emergency.id == emergency_id)
    if lock or share:
        stmt = stmt.with_for_update(read=share).execution_options(populate_existing=True)
    emergency = db.session.scalar(stmt)
    if emergency is None:
        raise not_found()
    return emergency


def _active(emergency: Emergency) -> None:
    if emergency.status != ACTIVE:
        raise Problem(409, "invalid_state", N_("This emergency has been closed."))


# --- declaring, listing, closing ---------------------------------------------------------------------------

def declare(actor: User, title: str, message: str, organization_codes: list[str], *,
            now: datetime | None = None) -> Emergency:
    """POST /emergencies: the emergency and its broadcast (fanned out by send-notifications)."""
    if actor.role not in (STAFF, NATIONAL):
        raise Problem(403, "forbidden")
    codes = list(dict.fromkeys(organization_codes))
    for code in codes:
        organizations.facts(code, "organization_codes")  # 422 unknown_organization
    if not all(in_reach(actor, code) for code in codes):
        raise Problem(403, "forbidden", N_("You may declare an emergency only for your own 団体 (a prefecture: "
                                           "also for its municipalities)."))
    now = now or utcnow()
    emergency = Emergency(title=title, message=message, status=ACTIVE, declared_by=actor.id, declared_at=now)
    db.session.add(emergency)
    db.session.flush()
    db.session.add_all(AffectedOrganization(emergency_id=emergency.id, organization_code=code) for code in codes)
    db.session.flush()
    broadcasts.start(EMERGENCY, emergency.id, title, message, link_of(emergency), now=now)
    return emergency


def link_of(emergency: Emergency) -> str:
    return f"/emergencies/{emergency.id}"


def summary(emergency: Emergency) -> dict:
    """What anyone sees of an emergency."""
    return {"id": emergency.id, "title": emergency.title, "message": emergency.message,
            "organization_codes": ties.affected_codes(emergency.id), "proxy_codes": ties.proxy_codes(emergency.id),
            "status": emergency.status, "declared_at": emergency.declared_at, "closed_at": emergency.closed_at}


def listed(status: str = ACTIVE, *, page: int, per_page: int) -> Page:
    """GET /emergencies: a page of summaries, newest first."""
    found = page_of(select(Emergency).where(Emergency.status == status)
                    .order_by(Emergency.declared_at.desc(), Emergency.id.desc()), page, per_page)
    return Page([summary(e) for e in found.items], found.total)


def delivery(emergency: Emergency) -> dict:
    """{recipients, notified, emailed, failed, offers}."""
    offers = db.session.scalar(select(func.count()).select_from(Offer).where(Offer.emergency_id == emergency.id))
    return {**broadcasts.progress(broadcasts.find(EMERGENCY, emergency.id)), "offers": offers}


def detail(viewer: User | None, emergency_id: uuid.UUID) -> dict:
    """GET /emergencies/{id}: the summary; delivery for those who follow it; for a resident, whether
    they may offer help and their offer."""
    emergency = _get(emergency_id)
    shown = summary(emergency)
    if _sees_delivery(viewer, shown["organization_codes"], acting_proxies(emergency, shown["proxy_codes"])):
        shown.update(delivery(emergency))
    if viewer is not None and viewer.role == RESIDENT:
        shown["can_offer"] = emergency.status == ACTIVE and ties.is_tied(viewer, emergency.id)
        shown["my_offer"] = own_offer(viewer, emergency.id)
    return shown


def close(actor: User, emergency_id: uuid.UUID, *, now: datetime | None = None) -> Emergency:
    """POST /emergencies/{id}/close: offers and proxies end; the urgent marks of needs of 団体 no
    other active emergency names are taken off."""
    emergency = _get(emergency_id, lock=True)
    codes = ties.affected_codes(emergency.id)
    if not manages(actor, codes):
        raise Problem(403, "forbidden")
    _active(emergency)
    emergency.status, emergency.closed_at, emergency.closed_by = CLOSED, now or utcnow(), actor.id
    db.session.flush()
    calm = [code for code in codes if code not in ties.still_in_emergency(codes, besides=emergency.id)]
    urgency.clear(calm, now=emergency.closed_at)
    return emergency


def name_proxy(actor: User, emergency_id: uuid.UUID, organization_code: str, *,
               now: datetime | None = None) -> tuple[Proxy, bool]:
    """POST /emergencies/{id}/proxies: (the proxy, whether it is new); naming it again changes nothing."""
    emergency = _get(emergency_id, lock=True)
    codes = ties.affected_codes(emergency.id)
    if not manages(actor, codes):
        raise Problem(403, "forbidden")
    _active(emergency)
    org = organizations.resolve(organization_code)
    if org.code in codes:
        raise validation_error({"organization_code": [N_("This 団体 is affected itself: name another one.")]})
    proxy = db.session.get(Proxy, {"emergency_id": emergency.id, "organization_code": org.code})
    if proxy is not None:
        return proxy, False
    proxy = Proxy(emergency_id=emergency.id, organization_code=org.code, named_by=actor.id, named_at=now or utcnow())
    db.session.add(proxy)
    db.session.flush()
    return proxy, True


# --- offers ----------------------------------------------------------------------------------------------------

def make_offer(user: User, emergency_id: uuid.UUID, data: dict, *, now: datetime | None = None) -> tuple[Offer, bool]:
    """POST /emergencies/{id}/offers: (the offer, whether it is new). Only while the emergency is active
    (409), only from people tied to it (403); dates in order (422)."""
    now = now or utcnow()
    emergency = _get(emergency_id, share=True)  # a close waits for this offer, and an offer after it sees it
    if user.role != RESIDENT:
        raise Problem(403, "forbidden")
    _active(emergency)
    if not ties.is_tied(user, emergency.id):
        raise Problem(403, "forbidden", N_("Only people registered with an affected 団体 can offer help here."))
    start, end = data.get("available_from"), data.get("available_until")
    if start is not None and end is not None and end < start:
        raise validation_error({"available_until": [N_("Must be on or after the first day.")]})
    values = {"kinds": [k for k in OFFER_KINDS if k in data["kinds"]],
              "skills": list(dict.fromkeys(s.strip() for s in data.get("skills") or [] if s.strip())),
              "available_from": start, "available_until": end, "message": data.get("message") or None,
              "updated_at": now}
    offer = _offer_of(user, emergency.id)
    created = offer is None
    if created:
        try:
            with db.session.begin_nested():  # the unique index: one offer per person, also at the same moment
                offer = Offer(emergency_id=emergency.id, user_id=user.id, created_at=now, **values)
                db.session.add(offer)
        except IntegrityError:
            offer, created = _offer_of(user, emergency.id), False
    if not created:
        for name, value in values.items():
            setattr(offer, name, value)
        db.session.flush()
    return offer, created


def _offer_of(user: User, emergency_id: uuid.UUID) -> Offer | None:
    return db.session.scalar(select(Offer).where(Offer.emergency_id == emergency_id, Offer.user_id == user.id)
                             .execution_options(populate_existing=True))


def own_offer(user: User, emergency_id: uuid.UUID) -> Offer | None:
    return _offer_of(user, emergency_id)


def offers(actor: User, emergency_id: uuid.UUID, *, page: int, per_page: int | None,
           today=None) -> Page:
    """GET /emergencies/{id}/offers: a page of offers, oldest first, each with the person's name, age band
    and e-mail, for the staff of an affected or proxy 団体 (the read is audited); 403 for anyone else."""
    emergency = _get(emergency_id)
    if not reads_offers(actor, ties.affected_codes(emergency.id),
                        acting_proxies(emergency, ties.proxy_codes(emergency.id))):
        raise Problem(403, "forbidden", N_("Only the staff of an affected or proxy 団体 read the offers."))
    found = page_of(select(Offer, User).join(User, User.id == Offer.user_id).where(Offer.emergency_id == emergency.id)
                    .order_by(Offer.created_at, Offer.id), page, per_page, rows=True)
    today = today or today_tokyo()
    items = [{"id": offer.id, "display_name": person.display_name, "age_band": age_band(person.birth_year, today),
              "skills": offer.skills, "kinds": offer.kinds, "available_from": offer.available_from,
              "available_until": offer.available_until, "message": offer.message, "email": person.email,
              "created_at": offer.created_at, "updated_at": offer.updated_at} for offer, person in found.items]
    record_read(actor, audit.EMERGENCY_OFFERS, [offer.user_id for offer, _ in found.items])
    return Page(items, found.total)


def erase_for(user: User) -> None:
    """DELETE /me: the person's offers are deleted."""
    db.session.execute(delete(Offer).where(Offer.user_id == user.id))
