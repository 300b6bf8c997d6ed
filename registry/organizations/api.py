from registry.common.auth import public
from registry.common.openapi import Blueprint
from registry.common.pagination import PAGINATED, headers
from registry.organizations import service
from registry.organizations.schemas import OrganizationDetailSchema, OrganizationQuerySchema, OrganizationSchema
from registry.workflows.organizations import organization_detail

blp = Blueprint("organizations", __name__, description="団体: prefectures and municipalities")


@blp.get("/organizations")
@public
@blp.arguments(OrganizationQuerySchema, location="query")
@blp.response(200, OrganizationSchema(many=True), headers=PAGINATED)
def list_organizations(args):
    """List 団体 by code; filter by kind, prefecture and name or kana."""
    page, per_page = args.pop("page"), args.pop("per_page")
    found = service.search(page=page, per_page=per_page, **args)
    return found.items, headers(found, page, per_page)


@blp.get("/organizations/<string:code>")
@public
@blp.response(200, OrganizationDetailSchema)
def get_organization(code):
    """One 団体 with the benefits it currently offers its registrants."""
    return organization_detail(code)
