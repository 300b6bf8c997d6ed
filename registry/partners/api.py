"""Partners (連携サービス) in the API: what a partner calls with a person's token (/partner/*), a
resident's grants, and a 団体's trusted partners. The OAuth endpoints are at the site root (oauth.py)."""
import uuid

from flask_login import current_user

from registry.common import limits
from registry.common.auth import RESIDENT, STAFF, require
from registry.common.openapi import Blueprint
from registry.common.pagination import PAGINATED, headers
from registry.common.schemas import PaginationSchema
from registry.partners import service
from registry.partners.models import ACTIVITIES_WRITE, REGISTRATIONS_READ
from registry.partners.oauth import current_token, require_partner
from registry.partners.schemas import (
    ActivityReportSchema, GrantSchema, PartnerMeSchema, ReportedActivitySchema, TrustCreateSchema, TrustSchema,
)

blp = Blueprint("partners", __name__, description="Partners (連携サービス): activities reported by platforms a "
                                                  "registrant allowed through OAuth 2.0")

REPORTED_AGAIN = "The same `external_id` for the same person again: the first report, unchanged."
TRUSTED_ALREADY = "The partner was trusted already: unchanged."


def _me():
    return current_user._get_current_object()


@blp.get("/partner/me")
@require_partner(REGISTRATIONS_READ)
@limits.per_partner
@blp.response(200, PartnerMeSchema)
def partner_me():
    """The person's active registrations, nothing else about them (a partner token with
    `registrations:read`)."""
    return service.registrations_for(current_token())


@blp.post("/partner/activities")
@require_partner(ACTIVITIES_WRITE)
@limits.per_partner
@blp.arguments(ActivityReportSchema)
@blp.response(201, ReportedActivitySchema)
@blp.alt_response(200, schema=ReportedActivitySchema, description=REPORTED_AGAIN, success=True)
@blp.alt_response(409, response="CONFLICT")
def report_activity(data):
    """An activity the person did through the partner (a partner token with `activities:write`):
    evidence with `source: "partner"`, waiting for the 団体's review like uploaded evidence, or
    approved at once (a designated activity) when the 団体 trusts the partner. No active registration
    with that 団体: 422 `not_registered`."""
    reported, created = service.report_activity(current_token(), data)
    return reported, 201 if created else 200


@blp.get("/me/partner-grants")
@require(RESIDENT)
@blp.arguments(PaginationSchema, location="query")
@blp.response(200, GrantSchema(many=True), headers=PAGINATED)
def list_partner_grants(args):
    """The partners the person allowed, oldest first."""
    found = service.grants_of(_me(), page=args["page"], per_page=args["per_page"])
    return found.items, headers(found, args["page"], args["per_page"])


@blp.delete("/me/partner-grants/<uuid:grant_id>")
@require(RESIDENT)
@blp.response(204)
def revoke_partner_grant(grant_id: uuid.UUID):
    """Withdraw the consent: the partner's tokens for the person answer 401 at once."""
    service.revoke_grant(_me(), grant_id)


@blp.get("/organizations/<string:code>/trusted-partners")
@require(STAFF)
@blp.arguments(PaginationSchema, location="query")
@blp.response(200, TrustSchema(many=True), headers=PAGINATED)
def list_trusted_partners(args, code: str):
    """The partners whose reports count for this 団体 without review, oldest first."""
    found = service.trusted_of(_me(), code, page=args["page"], per_page=args["per_page"])
    return found.items, headers(found, args["page"], args["per_page"])


@blp.post("/organizations/<string:code>/trusted-partners")
@require(STAFF)
@blp.arguments(TrustCreateSchema)
@blp.response(201, TrustSchema)
@blp.alt_response(200, schema=TrustSchema, description=TRUSTED_ALREADY, success=True)
def trust_partner(data, code: str):
    """Count this partner's reports for the 団体 without review, from now on."""
    trusted, created = service.trust(_me(), code, data["client_id"])
    return trusted, 201 if created else 200


@blp.delete("/organizations/<string:code>/trusted-partners/<string:client_id>")
@require(STAFF)
@blp.response(204)
def untrust_partner(code: str, client_id: str):
    """Stop trusting: the partner's reports wait for review again."""
    service.untrust(_me(), code, client_id)
