import uuid

from flask_login import current_user

from registry.benefits import service
from registry.benefits.schemas import BenefitCreateSchema, BenefitQuerySchema, BenefitSchema
from registry.common.auth import STAFF, current_actor, public, require
from registry.common.openapi import Blueprint
from registry.common.pagination import PAGINATED, headers

blp = Blueprint("benefits", __name__, description="Benefits (サポート施策) a 団体 gives its registrants, per tier")


@blp.post("/organizations/<string:code>/benefits")
@require(STAFF)
@blp.arguments(BenefitCreateSchema)
@blp.response(201, BenefitSchema)
def create_benefit(data, code: str):
    """Publish a benefit for the 団体's registrants of a tier (premium registrants also get the basic ones)."""
    return service.create(current_user._get_current_object(), code, data)


@blp.get("/organizations/<string:code>/benefits")
@public
@blp.arguments(BenefitQuerySchema, location="query")
@blp.response(200, BenefitSchema(many=True), headers=PAGINATED)
@blp.alt_response(401, response="UNAUTHORIZED")
@blp.alt_response(403, response="FORBIDDEN")
def list_benefits(args, code: str):
    """Current benefits (valid_from ≤ today ≤ valid_until), basic first, then oldest first."""
    found = service.list_for(current_actor(), code, tier=args.get("tier"), everything=args["all"],
                             page=args["page"], per_page=args["per_page"])
    return found.items, headers(found, args["page"], args["per_page"])


@blp.delete("/benefits/<uuid:benefit_id>")
@require(STAFF)
@blp.response(204)
def delete_benefit(benefit_id: uuid.UUID):
    service.delete(current_user._get_current_object(), benefit_id)
