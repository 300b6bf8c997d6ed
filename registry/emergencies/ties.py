"""Who an emergency touches, and what it lets 団体 do while it is active.

- The people tied to an emergency: everyone with an active registration with an affected 団体; a
  prefecture named reaches its municipalities' registrants too (the derived link), while a
  municipality named does not reach people registered only with its prefecture (API.md
  "Emergencies"). Both the notice (`audience`) and the right to offer help (`is_tied`) follow this
  one rule, read through `reached_codes`: the named codes plus the municipalities of the named
  prefectures, so every look-up is by `registrations.organization_code` (its partial index
  `ix_registrations_org_user_active` serves the broadcast's batches in user id order).
- A safety notice needs no consent to announcements, and living in the stricken prefecture is no
  reason to be left out of it (unlike an announcement's derived link).
- While an emergency is active, a proxy 団体's staff act for the affected ones (`acts_for`), and an
  affected 団体's needs may be urgent (`in_emergency`): registry/organizations/acting.py asks these
  for the domains below this one (needs, announcements).
"""
import uuid

from sqlalchemy import Select, exists, select

from registry.accounts.models import User
from registry.emergencies.models import ACTIVE, AffectedOrganization, Emergency, Proxy
from registry.extensions import db
from registry.notifications.models import Broadcast
from registry.organizations import acting
from registry.organizations.models import MUNICIPALITY, PREFECTURE, Organization
from registry.registrations.models import ACTIVE as REGISTERED, Registration


def affected_codes(emergency_id: uuid.UUID) -> list[str]:
    return list(db.session.scalars(select(AffectedOrganization.organization_code)
                                   .where(AffectedOrganization.emergency_id == emergency_id)
                                   .order_by(AffectedOrganization.organization_code)))


def proxy_codes(emergency_id: uuid.UUID) -> list[str]:
    return list(db.session.scalars(select(Proxy.organization_code).where(Proxy.emergency_id == emergency_id)
                                   .order_by(Proxy.named_at, Proxy.organization_code)))


def reached_codes(codes: list[str]) -> list[str]:
    """The named 団体 and the municipalities of the named prefectures: whose registrants are tied."""
    prefectures = list(db.session.scalars(select(Organization.code).where(
        Organization.code.in_(codes), Organization.kind == PREFECTURE)))
    municipalities = db.session.scalars(select(Organization.code).where(
        Organization.prefecture_code.in_(prefectures), Organization.kind == MUNICIPALITY)) if prefectures else []
    return sorted({*codes, *municipalities})


def _tied_people(codes: list[str]):
    return select(Registration.user_id).where(Registration.status == REGISTERED,
                                              Registration.organization_code.in_(codes))


def audience(broadcast: Broadcast) -> Select:
    """Who an emergency's broadcast reaches: every person tied to it whose account is in use, each
    once (the broadcast walks them in id order)."""
    codes = reached_codes(affected_codes(broadcast.subject_id))
    return select(User).where(User.id.in_(_tied_people(codes)), User.erased_at.is_(None),
                              User.deactivated_at.is_(None))


def is_tied(user: User, emergency_id: uuid.UUID) -> bool:
    """Does the person hold an active registration this emergency reaches?"""
    codes = reached_codes(affected_codes(emergency_id))
    return db.session.scalar(select(exists().where(Registration.user_id == user.id, Registration.status == REGISTERED,
                                                   Registration.organization_code.in_(codes))))


def touching(user: User) -> list[Emergency]:
    """The active emergencies the person is tied to, newest first (the banner on /my)."""
    rows = db.session.execute(select(Registration.organization_code, Registration.prefecture_code).where(
        Registration.user_id == user.id, Registration.status == REGISTERED)).all()
    if not rows:
        return []
    codes = {code for code, _ in rows} | {prefecture for _, prefecture in rows}
    return list(db.session.scalars(
        select(Emergency).where(Emergency.status == ACTIVE, Emergency.id.in_(
            select(AffectedOrganization.emergency_id).where(AffectedOrganization.organization_code.in_(codes))))
        .order_by(Emergency.declared_at.desc(), Emergency.id.desc())))


# --- the rules the domains below ask through registry/organizations/acting.py ------------------------------

def acts_for(agent_code: str, principal_code: str) -> bool:
    """A proxy of an active emergency that names `principal_code`."""
    return bool(db.session.scalar(select(exists().where(
        Proxy.organization_code == agent_code, AffectedOrganization.emergency_id == Proxy.emergency_id,
        AffectedOrganization.organization_code == principal_code, Emergency.id == Proxy.emergency_id,
        Emergency.status == ACTIVE))))


def in_emergency(code: str) -> bool:
    """An active emergency names `code`."""
    return bool(db.session.scalar(select(exists().where(
        AffectedOrganization.organization_code == code, Emergency.id == AffectedOrganization.emergency_id,
        Emergency.status == ACTIVE))))


def still_in_emergency(codes: list[str], *, besides: uuid.UUID) -> set[str]:
    """Of `codes`, those another active emergency (not `besides`) also names."""
    return set(db.session.scalars(select(AffectedOrganization.organization_code).join(
        Emergency, Emergency.id == AffectedOrganization.emergency_id).where(
        AffectedOrganization.organization_code.in_(codes), Emergency.status == ACTIVE, Emergency.id != besides)))


def provide_rules() -> None:
    """Called once by `create_app`: the domains below ask these through organizations.acting."""
    acting.provide(acts_for=acts_for, in_emergency=in_emergency)
