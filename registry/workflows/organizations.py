"""A 団体 as the public sees it: its reference data with the benefits it currently offers (the
benefits domain sits above the 団体 it belongs to), and its page with its open needs."""
from datetime import date

from registry.accounts.models import User
from registry.benefits import service as benefits
from registry.common.auth import RESIDENT
from registry.needs import service as needs
from registry.organizations import service as organizations
from registry.registrations import service as registrations

FIELDS = ("code", "name", "kana", "kind", "prefecture_code", "lat", "lng")


def organization_detail(code) -> dict:
    """GET /organizations/{code}: 404 `unknown_organization` for a code that names no 団体."""
    org = organizations.get(code)
    return {**{name: getattr(org, name) for name in FIELDS},
            "benefits": benefits.current_by_organization([org.code])[org.code]}


def page(code, *, viewer: User | None, today: date) -> dict:
    """/organizations/{code} (404 for an unknown code): the 団体 and its prefecture, its first 20
    open needs, and a resident viewer's active registration with it (`registered`)."""
    org = organizations.get(code)
    registered = None
    if viewer is not None and viewer.role == RESIDENT:
        registered = next((r for r in registrations.active_registrations(viewer) if r.organization_code == org.code),
                          None)
    return {"org": org, "registered": registered,
            "open_needs": needs.search(today=today, organization=org.code, page=1, per_page=20).items,
            "prefecture": organizations.find(org.prefecture_code)}
