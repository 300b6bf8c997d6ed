"""Partners (連携サービス): making partners, a person's grants, a 団体's trust, and what a partner
does with a token (reading a person's registrations, reporting an activity). The OAuth codes and
tokens themselves are in tokens.py; the OAuth endpoints in oauth.py (Authlib).

Functions flush; the request commits. Every partner call, every consent and its withdrawal, and every
change of trust is in the audit log (registry.audit).
"""
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from registry.accounts.models import User
from registry.audit import models as audit
from registry.audit.service import record_partner, record_read
from registry.common.auth import STAFF
from registry.common.pagination import Page, page_of
from registry.common.time import today_tokyo, utcnow
from registry.errors import Problem, not_found, validation_error
from registry.evidence import service as evidence
from registry.evidence.models import ActivityEvidence
from registry.extensions import db
from registry.i18n import N_
from registry.organizations import service as organizations
from registry.partners.models import (
    SCOPES, Partner, PartnerAuthorizationCode, PartnerGrant, PartnerToken, TrustedPartner, digest,
)
from registry.registrations import service as registrations


# --- partners (the operator's create-partner) --------------------------------------------------------------

def create_partner(name: str, redirect_uris: list[str], *, now: datetime | None = None) -> tuple[Partner, str]:
    """A new partner and its client secret (256 random bits, shown once: only its SHA-256 is kept)."""
    secret = secrets.token_urlsafe(32)
    partner = Partner(name=name, secret_hash=digest(secret), redirect_uris=list(dict.fromkeys(redirect_uris)),
                      created_at=now or utcnow())
    db.session.add(partner)
    db.session.flush()
    return partner, secret


def find_partner(client_id) -> Partner | None:
    """The partner whose client id is exactly `client_id` (a UUID's canonical text, or a UUID)."""
    try:
        partner_id = client_id if isinstance(client_id, uuid.UUID) else uuid.UUID(client_id)
    except (TypeError, ValueError):
        return None
    if not isinstance(client_id, uuid.UUID) and str(partner_id) != client_id:
        return None  # another spelling of the same UUID is not the partner's client id
    return db.session.get(Partner, partner_id)


# --- grants: a person's consent to a partner ----------------------------------------------------------------

def consent(user: User, partner: Partner, scopes: list[str], *, now: datetime | None = None) -> PartnerGrant:
    """The person allowed `partner` these scopes (the consent page): the one grant of (person, partner),
    made or renewed; scopes still allowed by an active grant are kept beside the new ones."""
    now = now or utcnow()
    grant = _grant_of(user, partner)
    if grant is None:
        try:
            with db.session.begin_nested():  # two consents at once: the unique index decides
                grant = PartnerGrant(user_id=user.id, partner_id=partner.id, scopes=[], granted_at=now)
                db.session.add(grant)
                db.session.flush()
        except IntegrityError:
            grant = _grant_of(user, partner)
    kept = set(grant.scopes or []) if grant.revoked_at is None else set()
    grant.scopes = [s for s in SCOPES if s in kept | set(scopes)]
    grant.granted_at, grant.revoked_at = now, None
    db.session.flush()
    record_read(user, audit.PARTNER_GRANTED, [user.id], now=now)
    return grant


def _grant_of(user: User, partner: Partner) -> PartnerGrant | None:
    return db.session.scalar(select(PartnerGrant).where(PartnerGrant.user_id == user.id,
                                                        PartnerGrant.partner_id == partner.id).with_for_update())


@dataclass
class GrantView:
    id: uuid.UUID
    partner_name: str
    scopes: list
    granted_at: datetime
    last_used_at: datetime | None


def _active_grants(user: User):
    return select(PartnerGrant, Partner.name).join(Partner, Partner.id == PartnerGrant.partner_id).where(
        PartnerGrant.user_id == user.id, PartnerGrant.revoked_at.is_(None)) \
        .order_by(PartnerGrant.granted_at, PartnerGrant.id)


def grants_of(user: User, *, page: int = 1, per_page: int | None = None) -> Page:
    """GET /me/partner-grants and /my: the partners the person allowed, oldest first."""
    found = page_of(_active_grants(user), page, per_page, rows=True)
    return Page([GrantView(g.id, name, g.scopes, g.granted_at, g.last_used_at) for g, name in found.items],
                found.total)


def revoke_grant(user: User, grant_id: uuid.UUID, *, now: datetime | None = None) -> None:
    """The person withdraws a consent: every token and code of it stops working at once."""
    now = now or utcnow()
    grant = db.session.get(PartnerGrant, grant_id, with_for_update=True, populate_existing=True)
    if grant is None or grant.user_id != user.id or grant.revoked_at is not None:
        raise not_found()
    grant.revoked_at = now
    db.session.execute(update(PartnerToken).where(PartnerToken.grant_id == grant.id,
                                                  PartnerToken.revoked_at.is_(None)).values(revoked_at=now))
    db.session.execute(update(PartnerAuthorizationCode).where(PartnerAuthorizationCode.grant_id == grant.id,
                                                              PartnerAuthorizationCode.used_at.is_(None))
                       .values(used_at=now))
    db.session.flush()
    record_read(user, audit.PARTNER_GRANT_REVOKED, [user.id], now=now)


def erase_for(user: User) -> None:
    """DELETE /me: the person's grants, with their tokens and codes, are deleted (the audit log keeps
    the pseudonymous record of what partners did)."""
    grants = select(PartnerGrant.id).where(PartnerGrant.user_id == user.id).scalar_subquery()
    db.session.execute(delete(PartnerToken).where(PartnerToken.grant_id.in_(grants)))
    db.session.execute(delete(PartnerAuthorizationCode).where(PartnerAuthorizationCode.grant_id.in_(grants)))
    db.session.execute(delete(PartnerGrant).where(PartnerGrant.user_id == user.id))


# --- a 団体's trust --------------------------------------------------------------------------------------

def _own_organization(staff: User, organization_code: str):
    org = organizations.get(organization_code)  # unknown: 404 unknown_organization
    if staff.role != STAFF or staff.organization_code != org.code:
        raise Problem(403, "forbidden")
    return org


@dataclass
class TrustView:
    organization_code: str
    client_id: str
    partner_name: str
    trusted_at: datetime


def trust(staff: User, organization_code: str, client_id: str, *,
          now: datetime | None = None) -> tuple[TrustView, bool]:
    """The 団体 counts the partner's reports without review from now on. Answers (the trust, whether it
    is new): trusting again changes nothing."""
    now = now or utcnow()
    org = _own_organization(staff, organization_code)
    partner = find_partner(client_id)
    if partner is None:
        raise validation_error({"client_id": [N_("No such partner.")]})
    row = db.session.get(TrustedPartner, (org.code, partner.id))
    created = row is None
    if created:
        try:
            with db.session.begin_nested():
                row = TrustedPartner(organization_code=org.code, partner_id=partner.id, trusted_at=now,
                                     trusted_by=staff.id)
                db.session.add(row)
                db.session.flush()
        except IntegrityError:  # trusted at the same moment by a colleague
            row, created = db.session.get(TrustedPartner, (org.code, partner.id)), False
    if created:
        record_read(staff, audit.PARTNER_TRUSTED, [], organization_code=org.code, now=now)
    return TrustView(org.code, partner.client_id, partner.name, row.trusted_at), created


def untrust(staff: User, organization_code: str, client_id: str, *, now: datetime | None = None) -> None:
    """Reports from now on wait for review again (those already approved stay approved)."""
    org = _own_organization(staff, organization_code)
    partner = find_partner(client_id)
    row = db.session.get(TrustedPartner, (org.code, partner.id)) if partner is not None else None
    if row is None:
        raise not_found()
    db.session.delete(row)
    db.session.flush()
    record_read(staff, audit.PARTNER_UNTRUSTED, [], organization_code=org.code, now=now)


def trusted_of(staff: User, organization_code: str, *, page: int = 1, per_page: int | None = None) -> Page:
    org = _own_organization(staff, organization_code)
    found = page_of(select(TrustedPartner, Partner).join(Partner, Partner.id == TrustedPartner.partner_id)
                    .where(TrustedPartner.organization_code == org.code)
                    .order_by(TrustedPartner.trusted_at, Partner.id), page, per_page, rows=True)
    return Page([TrustView(org.code, p.client_id, p.name, t.trusted_at) for t, p in found.items], found.total)


def is_trusted(organization_code: str, partner_id: uuid.UUID) -> bool:
    return db.session.get(TrustedPartner, (organization_code, partner_id)) is not None


# --- what a partner does with a person's token -------------------------------------------------------------

def _person_of(token: PartnerToken, now: datetime) -> User:
    """The person a (checked) token is for; the grant remembers when it was last used."""
    db.session.execute(update(PartnerGrant).where(PartnerGrant.id == token.grant_id).values(last_used_at=now))
    return db.session.get(User, token.user_id)


def registrations_for(token: PartnerToken, *, now: datetime | None = None) -> dict:
    """GET /partner/me: the person's active registrations (団体, tier, date), nothing else about them."""
    now = now or utcnow()
    person = _person_of(token, now)
    today = today_tokyo(now)
    shown = [{"organization_code": r.organization_code, "tier": r.effective_tier(today),
              "registered_at": r.registered_at} for r in registrations.active_registrations(person)]
    record_partner(token.partner_id, audit.PARTNER_REGISTRATIONS, [person.id], now=now)
    return {"registrations": shown}


def report_activity(token: PartnerToken, data: dict, *, now: datetime | None = None) -> tuple[ActivityEvidence, bool]:
    """POST /partner/activities: evidence with `source` "partner" (evidence.report), approved at once
    when the 団体 trusts the partner. Answers (evidence, whether it is new)."""
    now = now or utcnow()
    person = _person_of(token, now)
    org = organizations.resolve(data["organization_code"])  # unknown: 422 unknown_organization
    partner = db.session.get(Partner, token.partner_id)
    record_partner(partner.id, audit.PARTNER_ACTIVITY, [person.id], organization_code=org.code, now=now)
    try:
        return evidence.report(person, {**data, "organization_code": org.code}, partner_id=partner.id,
                               partner_name=partner.name, trusted=is_trusted(org.code, partner.id), now=now)
    except Problem as refusal:
        # A refused report wrote nothing, but what the partner learnt by it (e.g. `not_registered`) is
        # a call about the person too: its audit entry is kept.
        refusal.keep_changes = True
        raise
