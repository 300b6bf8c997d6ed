"""What the emergency pages and the CLI show, one call each: the notice with its offer form
(/emergencies/<id>), the staff console (/staff/emergencies and one emergency's page), and the progress
of the active emergencies (`emergency-status`, send-notifications)."""
import uuid

from sqlalchemy import or_, select

from registry.accounts.models import User
from registry.common.auth import NATIONAL, STAFF
from registry.emergencies import service, ties
from registry.emergencies.models import ACTIVE, CLOSED, AffectedOrganization, Emergency, Proxy
from registry.extensions import db
from registry.organizations import service as organizations
from registry.organizations.models import MUNICIPALITY, PREFECTURE, Organization

RECENTLY_CLOSED = 10


def names_of(codes) -> dict[str, str]:
    codes = set(codes)
    if not codes:
        return {}
    return dict(db.session.execute(select(Organization.code, Organization.name).where(Organization.code.in_(codes)))
                .all())


def notice(viewer: User | None, emergency_id: uuid.UUID) -> dict:
    """/emergencies/<id>: the emergency (with delivery for those who follow it, and for a resident
    whether they may offer help and their offer) and the names of the 団体 it mentions."""
    shown = service.detail(viewer, emergency_id)
    return {"emergency": shown, "names": names_of([*shown["organization_codes"], *shown["proxy_codes"]])}


def declarable(actor: User) -> list[tuple[Organization, list[Organization]]]:
    """The 団体 the actor may declare for, by prefecture: a staff member's own 団体 (a prefecture's with
    its municipalities); the national office's: every one."""
    if actor.role == NATIONAL:
        return organizations.municipalities_by_prefecture()
    own = organizations.find(actor.organization_code)
    if own is None:
        return []
    if own.kind != PREFECTURE:
        return [(own, [])]
    return [(own, list(db.session.scalars(select(Organization).where(
        Organization.prefecture_code == own.code, Organization.kind == MUNICIPALITY).order_by(Organization.code))))]


def _in_reach_of(actor: User, *, as_proxy: bool):
    """SQL: the emergencies a staff member follows (an affected 団体 in reach; with `as_proxy`, also
    those their 団体 acts in)."""
    own = organizations.find(actor.organization_code)
    reach = [own.code]
    if own.kind == PREFECTURE:
        reach += db.session.scalars(select(Organization.code).where(Organization.prefecture_code == own.code))
    followed = Emergency.id.in_(select(AffectedOrganization.emergency_id)
                                .where(AffectedOrganization.organization_code.in_(reach)))
    if not as_proxy:
        return followed
    return or_(followed, Emergency.id.in_(select(Proxy.emergency_id).where(Proxy.organization_code == own.code)))


def console(actor: User) -> dict:
    """/staff/emergencies: the active emergencies the actor follows with their delivery (a proxy's
    staff: those they act in too), the recently closed ones, and the 団体 they may declare for."""
    national = actor.role == NATIONAL
    active = db.session.scalars(select(Emergency).where(
        Emergency.status == ACTIVE, *([] if national else [_in_reach_of(actor, as_proxy=True)]))
        .order_by(Emergency.declared_at.desc(), Emergency.id.desc()))
    closed = db.session.scalars(select(Emergency).where(
        Emergency.status == CLOSED, *([] if national else [_in_reach_of(actor, as_proxy=False)]))
        .order_by(Emergency.closed_at.desc(), Emergency.id.desc()).limit(RECENTLY_CLOSED))
    cards = [{**service.summary(e), **service.delivery(e)} for e in active]
    gone = [service.summary(e) for e in closed]
    codes = {code for card in (*cards, *gone) for code in (*card["organization_codes"], *card["proxy_codes"])}
    return {"active": cards, "closed": gone, "names": names_of(codes), "declarable": declarable(actor)}


def one(actor: User, emergency_id: uuid.UUID, *, page: int, per_page: int) -> dict:
    """/staff/emergencies/<id>: the emergency with its delivery, what the actor may do with it, and a
    page of its offers when they may read them (an audited read)."""
    shown = service.detail(actor, emergency_id)
    codes, proxies = shown["organization_codes"], shown["proxy_codes"]
    active = shown["status"] == ACTIVE
    manages = service.manages(actor, codes)
    reads = service.reads_offers(actor, codes, proxies if active else [])
    if not (manages or reads):
        raise service.not_followed()
    found = service.offers(actor, emergency_id, page=page, per_page=per_page) if reads else None
    choices = organizations.municipalities_by_prefecture() if manages and active else []
    return {"emergency": shown, "names": names_of([*codes, *proxies]), "manages": manages, "reads_offers": reads,
            "offers": found.items if found else [], "total": found.total if found else shown["offers"],
            "page": page, "per_page": per_page, "proxy_choices": choices,
            "writes_for": _writes_for(actor, codes, proxies) if active else []}


def _writes_for(actor: User, codes: list[str], proxies: list[str]) -> list[str]:
    """The affected 団体 the actor may post announcements for here: a proxy's staff for every one of
    them (organizations/acting.py), an affected 団体's staff for their own."""
    if actor.role != STAFF:
        return []
    if actor.organization_code in proxies:
        return codes
    return [actor.organization_code] if actor.organization_code in codes else []


def progress_of_active() -> list[dict]:
    """Each active emergency's delivery, oldest first (for the command line)."""
    return [{**service.summary(e), **service.delivery(e)} for e in db.session.scalars(
        select(Emergency).where(Emergency.status == ACTIVE).order_by(Emergency.declared_at, Emergency.id))]


BAR = 24


def progress_lines(item: dict) -> list[str]:
    """One active emergency's delivery for a terminal: a title line, then a text progress bar."""
    head = (f"emergency {item['id']} 「{item['title']}」 ({', '.join(item['organization_codes'])}), "
            f"{item['offers']} offer(s)")
    recipients = item["recipients"]
    if recipients is None:
        return [head, "  not yet fanned out: the next send-notifications starts it"]
    done = item["notified"] / recipients if recipients else 1.0
    bar = "#" * round(done * BAR) + "-" * (BAR - round(done * BAR))
    return [head, f"  [{bar}] {done:6.1%}  notified {item['notified']:,} of {recipients:,}, "
                  f"e-mailed {item['emailed']:,}, failed {item['failed']:,}"]


def touching(user: User) -> list[dict]:
    """The active emergencies the person is tied to, for the banner on /my."""
    found = ties.touching(user)
    codes = {code for e in found for code in ties.affected_codes(e.id)}
    names = names_of(codes)
    return [{"id": e.id, "title": e.title,
             "organizations": [names.get(code, code) for code in ties.affected_codes(e.id)]} for e in found]
