import uuid

from flask_login import current_user

from registry.common.auth import NATIONAL, RESIDENT, STAFF, current_actor, public, require
from registry.common.openapi import Blueprint
from registry.common.pagination import PAGINATED, headers
from registry.common.schemas import PaginationSchema
from registry.emergencies import service
from registry.emergencies.schemas import (
    EmergencyCreateSchema, EmergencyDetailSchema, EmergencyQuerySchema, EmergencySchema, MyOfferSchema,
    OfferCreateSchema, OfferSchema, ProxyCreateSchema, ProxySchema,
)

blp = Blueprint("emergencies", __name__, description="Emergencies (災害時モード): notices, offers of help, proxies")


def _me():
    return current_user._get_current_object()


@blp.post("/emergencies")
@require(STAFF, NATIONAL)
@blp.arguments(EmergencyCreateSchema)
@blp.response(201, EmergencySchema)
def declare(data):
    """Declare an emergency for 団体 within the caller's reach (staff: their own, a prefecture's also its
    municipalities; national: any). Everyone tied to them is notified by the next send-notifications."""
    emergency = service.declare(_me(), data["title"], data["message"], data["organization_codes"])
    return service.summary(emergency)


@blp.get("/emergencies")
@public
@blp.arguments(EmergencyQuerySchema, location="query")
@blp.response(200, EmergencySchema(many=True), headers=PAGINATED)
def list_emergencies(args):
    """Emergencies with the given `status` (`active` unless asked), newest first."""
    found = service.listed(args["status"], page=args["page"], per_page=args["per_page"])
    return found.items, headers(found, args["page"], args["per_page"])


@blp.get("/emergencies/<uuid:emergency_id>")
@public
@blp.response(200, EmergencyDetailSchema)
@blp.alt_response(401, response="UNAUTHORIZED")  # a bad bearer token (staff and residents see more)
def get_emergency(emergency_id: uuid.UUID):
    """One emergency. Staff of an affected or proxy 団体 and the national office also get its delivery
    (`recipients, notified, emailed, failed`) and how many `offers` it has; a resident, `can_offer` and
    `my_offer`."""
    return service.detail(current_actor(), emergency_id)


@blp.post("/emergencies/<uuid:emergency_id>/close")
@require(STAFF, NATIONAL)
@blp.response(200, EmergencySchema)
@blp.alt_response(409, response="CONFLICT")
def close_emergency(emergency_id: uuid.UUID):
    """Close it: offers and proxies end, urgent needs are urgent no more."""
    return service.summary(service.close(_me(), emergency_id))


@blp.post("/emergencies/<uuid:emergency_id>/offers")
@require(RESIDENT)
@blp.arguments(OfferCreateSchema)
@blp.response(201, MyOfferSchema)
@blp.alt_response(200, schema=MyOfferSchema, description="The person's offer, updated", success=True)
@blp.alt_response(409, response="CONFLICT")
def make_offer(data, emergency_id: uuid.UUID):
    """Offer help (people with an active registration this emergency reaches). One offer per person:
    made again, it is updated (200). Making it is consent to be contacted about this emergency."""
    offer, created = service.make_offer(_me(), emergency_id, data)
    return offer, 201 if created else 200


@blp.get("/emergencies/<uuid:emergency_id>/offers")
@require(STAFF)
@blp.arguments(PaginationSchema, location="query")
@blp.response(200, OfferSchema(many=True), headers=PAGINATED)
def list_offers(args, emergency_id: uuid.UUID):
    """The offers, oldest first, with each person's e-mail: for the staff of an affected or proxy 団体."""
    found = service.offers(_me(), emergency_id, page=args["page"], per_page=args["per_page"])
    return found.items, headers(found, args["page"], args["per_page"])


@blp.post("/emergencies/<uuid:emergency_id>/proxies")
@require(STAFF, NATIONAL)
@blp.arguments(ProxyCreateSchema)
@blp.response(201, ProxySchema)
@blp.alt_response(200, schema=ProxySchema, description="Already named", success=True)
@blp.alt_response(409, response="CONFLICT")
def name_proxy(data, emergency_id: uuid.UUID):
    """Name a 団体 whose staff act for the affected ones while the emergency lasts: they read the offers
    and post needs and announcements for them (as 代理寄付 in ふるさと納税)."""
    proxy, created = service.name_proxy(_me(), emergency_id, data["organization_code"])
    return proxy, 201 if created else 200
