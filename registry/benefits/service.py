"""Benefits: staff of a 団体 publish them per tier; anyone reads the current ones; a certificate
check lists those the holder's tier gives there (a premium tier's include the basic ones)."""
import uuid
from datetime import date, datetime

from sqlalchemy import or_, select

from registry.accounts.models import User
from registry.benefits.models import BASIC, PREMIUM, Benefit
from registry.common.auth import STAFF
from registry.common.pagination import Page, page_of
from registry.i18n import N_
from registry.common.time import today_tokyo, utcnow
from registry.errors import Problem, not_found, validation_error
from registry.extensions import db
from registry.organizations import service as organizations


def tiers_given(tier: str) -> tuple[str, ...]:
    """The benefit tiers a registration of `tier` gets: premium includes basic."""
    return (BASIC, PREMIUM) if tier == PREMIUM else (BASIC,)


def is_staff_of(actor: User | None, organization_code: str) -> bool:
    return actor is not None and actor.role == STAFF and actor.organization_code == organization_code


def create(staff: User, organization_code: str, data: dict, *, now: datetime | None = None) -> Benefit:
    org = organizations.get(organization_code)
    if not is_staff_of(staff, org.code):
        raise Problem(403, "forbidden")
    valid_from, valid_until = data.get("valid_from"), data.get("valid_until")
    if valid_from and valid_until and valid_until < valid_from:
        raise validation_error({"valid_until": [N_("The end date is before the start date.")]})
    benefit = Benefit(organization_code=org.code, tier=data["tier"], kind=data["kind"], title=data["title"].strip(),
                      description=data.get("description") or "", valid_from=valid_from, valid_until=valid_until,
                      created_by=staff.id, created_at=now or utcnow())
    db.session.add(benefit)
    db.session.flush()
    return benefit


def current_clause(today: date):
    """valid_from ≤ today ≤ valid_until, each bound only when set."""
    return (or_(Benefit.valid_from.is_(None), Benefit.valid_from <= today),
            or_(Benefit.valid_until.is_(None), Benefit.valid_until >= today))


def list_statement(organization_code: str, *, today: date, tier: str | None = None, everything: bool = False):
    """A 団体's benefits, basic before premium, then oldest first; only the current ones unless
    `everything` (staff managing their own list)."""
    stmt = select(Benefit).where(Benefit.organization_code == organization_code)
    if not everything:
        stmt = stmt.where(*current_clause(today))
    if tier:
        stmt = stmt.where(Benefit.tier.in_(tiers_given(tier)))
    return stmt.order_by(Benefit.tier, Benefit.created_at, Benefit.id)


def list_for(actor: User | None, organization_code: str, *, tier: str | None = None, everything: bool = False,
             today: date | None = None, page: int = 1, per_page: int | None = None) -> Page:
    """GET /organizations/{code}/benefits: a page (`per_page=None`: all). `everything` (scheduled and
    ended ones too) is for the 団体's own staff: 401 without sign-in, 403 for anyone else."""
    org = organizations.get(organization_code)
    if everything and not is_staff_of(actor, org.code):
        raise Problem(401, "unauthorized", headers={"WWW-Authenticate": "Bearer"}) if actor is None \
            else Problem(403, "forbidden")
    return page_of(list_statement(org.code, today=today or today_tokyo(), tier=tier, everything=everything),
                   page, per_page)


def delete(staff: User, benefit_id: uuid.UUID) -> None:
    benefit = db.session.get(Benefit, benefit_id)
    if benefit is None or not is_staff_of(staff, benefit.organization_code):
        raise not_found()
    db.session.delete(benefit)
    db.session.flush()


def benefits_for(organization_code: str, tier: str, *, today: date | None = None) -> list[dict]:
    """`[{title, kind}]`: the current benefits `tier` gives at a 団体 (for the certificate check)."""
    stmt = list_statement(organization_code, today=today or today_tokyo(), tier=tier)
    return [{"title": b.title, "kind": b.kind} for b in db.session.scalars(stmt)]


def current_by_organization(codes: list[str], *, today: date | None = None) -> dict[str, list[Benefit]]:
    """The current benefits of several 団体 in one query (for a list of 団体)."""
    found: dict[str, list[Benefit]] = {code: [] for code in codes}
    if codes:
        stmt = select(Benefit).where(Benefit.organization_code.in_(codes), *current_clause(today or today_tokyo())) \
            .order_by(Benefit.organization_code, Benefit.tier, Benefit.created_at, Benefit.id)
        for benefit in db.session.scalars(stmt):
            found[benefit.organization_code].append(benefit)
    return found
