"""団体 lookups used by every other domain."""
from typing import NamedTuple

from sqlalchemy import bindparam, or_, select

from registry.common.pagination import Page, page_of
from registry.errors import Problem
from registry.extensions import db
from registry.organizations.codes import check_digit, is_well_formed, to_hiragana
from registry.organizations.models import MUNICIPALITY, Organization, Ward
from registry.i18n import N_


def find(code) -> Organization | None:
    if not is_well_formed(code):
        return None
    return db.session.get(Organization, code)


class CodeFacts(NamedTuple):
    code: str
    kind: str
    prefecture_code: str


# A 団体 code never changes meaning (a merger makes a new code), so what the write path needs to
# know of one is cached per process: all 団体 at the first look-up (one query of ~1,900 rows, so
# every worker, recycled or new, pays once), and any added since when first asked for.
_known_codes: dict[str, CodeFacts] = {}
_FACTS = select(Organization.code, Organization.kind, Organization.prefecture_code)
_FACTS_OF = _FACTS.where(Organization.code == bindparam("code"))


def facts(code, field: str = "organization_code") -> CodeFacts:
    """For a body field, without loading the row: 422 `unknown_organization` like `resolve`."""
    known = _known_codes.get(code)
    if known is None:
        if not _known_codes:
            _known_codes.update((row.code, CodeFacts(*row)) for row in db.session.execute(_FACTS))
            known = _known_codes.get(code)
        if known is None:
            row = db.session.execute(_FACTS_OF, {"code": code}).first() if is_well_formed(code) else None
            if row is None:
                raise Problem(422, "unknown_organization", errors={field: [N_("No such 団体.")]})
            known = _known_codes[code] = CodeFacts(*row)
    return known


def get(code) -> Organization:
    """For a path parameter: 404 `unknown_organization`."""
    org = find(code)
    if org is None:
        raise Problem(404, "unknown_organization")
    return org


def resolve(code, field: str = "organization_code") -> Organization:
    """For a body field: 422 `unknown_organization`."""
    org = find(code)
    if org is None:
        raise Problem(422, "unknown_organization", errors={field: [N_("No such 団体.")]})
    return org


def resolve_home_municipality(code, field: str = "home_municipality_code") -> Organization:
    """A home address: a municipality, or a designated-city ward stored as its city.

    A well-formed ward code the reference data does not list (浜松市's 2024 wards, say) still maps
    to its city, since a designated city's wards share its first four digits.
    """
    if is_well_formed(code):
        org = db.session.get(Organization, code)
        if org is not None and org.kind == MUNICIPALITY:
            return org
        ward = db.session.get(Ward, code)
        if ward is not None:
            return db.session.get(Organization, ward.city_code)
        city_five = code[:4] + "0"
        city = db.session.get(Organization, city_five + check_digit(city_five))
        if city is not None and code[4] != "0" and db.session.scalar(
                select(Ward.code).where(Ward.city_code == city.code).limit(1)):
            return city
    raise Problem(422, "unknown_organization", errors={field: [N_("No such municipality.")]})


def list_statement(kind: str | None = None, prefecture: str | None = None, q: str | None = None):
    """The filtered list, ordered by code; `prefecture` is a prefecture's 6-digit code."""
    stmt = select(Organization).order_by(Organization.code)
    if kind:
        stmt = stmt.where(Organization.kind == kind)
    if prefecture:
        stmt = stmt.where(Organization.prefecture_code == prefecture)
    if q and q.strip():
        term = q.strip()
        stmt = stmt.where(or_(Organization.name.contains(term, autoescape=True),
                              Organization.kana.contains(to_hiragana(term), autoescape=True)))
    return stmt


def search(*, page: int, per_page: int, **filters) -> Page:
    """A page of `list_statement(**filters)` (GET /organizations, the landing page's search)."""
    return page_of(list_statement(**filters), page, per_page)


def municipalities_by_prefecture() -> list[tuple[Organization, list[Organization]]]:
    """Every prefecture with its municipalities: the staff's emergency consoles, which choose any 団体
    (residents choose their home with `home_choices`, a prefecture at a time)."""
    orgs = list(db.session.scalars(select(Organization).order_by(Organization.code)))
    prefectures = [o for o in orgs if o.kind != MUNICIPALITY]
    by_pref = {p.code: [] for p in prefectures}
    for org in orgs:
        if org.kind == MUNICIPALITY:
            by_pref[org.prefecture_code].append(org)
    return [(p, by_pref[p.code]) for p in prefectures]


def home_choices(prefecture_code: str | None) -> dict:
    """The home-address picker (sign-up, the profile): every prefecture, the one chosen (None if
    `prefecture_code` names none), and its municipalities by code, as 総務省 lists them."""
    prefectures = list(db.session.scalars(
        select(Organization).where(Organization.kind != MUNICIPALITY).order_by(Organization.code)))
    chosen = next((p for p in prefectures if p.code == prefecture_code), None)
    municipalities = list(db.session.scalars(
        select(Organization).where(Organization.kind == MUNICIPALITY, Organization.prefecture_code == chosen.code)
        .order_by(Organization.code))) if chosen else []
    return {"prefectures": prefectures, "prefecture": chosen, "municipalities": municipalities}
