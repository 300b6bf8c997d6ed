"""A 団体 as the public sees it: its reference data with the benefits it currently offers (the
benefits domain sits above the 団体 it belongs to)."""
from registry.benefits import service as benefits
from registry.organizations import service as organizations

FIELDS = ("code", "name", "kana", "kind", "prefecture_code", "lat", "lng")


def organization_detail(code) -> dict:
    """GET /organizations/{code}: 404 `unknown_organization` for a code that names no 団体."""
    org = organizations.get(code)
    return {**{name: getattr(org, name) for name in FIELDS},
            "benefits": benefits.current_by_organization([org.code])[org.code]}
