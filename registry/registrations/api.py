import uuid

from flask import current_app
from flask_login import current_user

from registry.common.auth import ADMIN, RESIDENT, STAFF, require
from registry.common.openapi import Blueprint
from registry.common.pagination import PAGINATED, headers, paginate
from registry.common.schemas import PaginationSchema
from registry.registrations import service
from registry.registrations.schemas import (
    IdentityRejectSchema, IdentityVerificationCreateSchema, IdentityVerificationQuerySchema,
    IdentityVerificationSchema, PremiumProgressSchema, PremiumRequestQuerySchema, PremiumRequestSchema,
    ReasonSchema, RegistrantSchema, RegistrationCreateSchema, RegistrationSchema, RequestStatusSchema,
)

blp = Blueprint("registrations", __name__, description="ふるさと住民登録, premium and identity verification")


def _me():
    return current_user._get_current_object()


@blp.post("/registrations")
@require(RESIDENT)
@blp.arguments(RegistrationCreateSchema)
@blp.response(201, RegistrationSchema)
@blp.alt_response(409, response="CONFLICT")
def create_registration(data):
    """Register a tie to a 団体 (basic tier, at once)."""
    return service.register(_me(), data["organization_code"], data["ties"])


@blp.get("/registrations")
@require(RESIDENT)
@blp.arguments(PaginationSchema, location="query")
@blp.response(200, RegistrationSchema(many=True), headers=PAGINATED)
def list_registrations(args):
    """Own registrations, oldest first (active and ended)."""
    return paginate(service.registrations_of(_me()), args["page"], args["per_page"])


@blp.get("/registrations/<uuid:registration_id>")
@require(RESIDENT)
@blp.response(200, RegistrationSchema)
def get_registration(registration_id: uuid.UUID):
    return service.get_owned(_me(), registration_id)


@blp.delete("/registrations/<uuid:registration_id>")
@require(RESIDENT)
@blp.response(204)
@blp.alt_response(409, response="CONFLICT")
def withdraw_registration(registration_id: uuid.UUID):
    service.withdraw(_me(), registration_id)


@blp.post("/registrations/<uuid:registration_id>/premium-request")
@require(RESIDENT)
@blp.response(202, RequestStatusSchema)
@blp.alt_response(409, response="CONFLICT")
@blp.alt_response(422, response="UNPROCESSABLE_ENTITY")
def request_premium(registration_id: uuid.UUID):
    return service.request_premium(_me(), registration_id, settings=current_app.config)


@blp.post("/registrations/<uuid:registration_id>/premium-renewal")
@require(RESIDENT)
@blp.response(202, RequestStatusSchema)
@blp.alt_response(409, response="CONFLICT")
@blp.alt_response(422, response="UNPROCESSABLE_ENTITY")
def request_renewal(registration_id: uuid.UUID):
    """Opens 60 days before `premium_valid_until`; approval extends validity by a year."""
    return service.request_premium(_me(), registration_id, settings=current_app.config, renewal=True)


@blp.get("/registrations/<uuid:registration_id>/premium-progress")
@require(RESIDENT)
@blp.response(200, PremiumProgressSchema)
def premium_progress(registration_id: uuid.UUID):
    reg = service.get_owned(_me(), registration_id)
    return service.premium_progress(_me(), reg, settings=current_app.config)


@blp.get("/premium-requests")
@require(STAFF)
@blp.arguments(PremiumRequestQuerySchema, location="query")
@blp.response(200, PremiumRequestSchema(many=True), headers=PAGINATED)
def list_premium_requests(args):
    found = service.list_premium_requests(_me(), args.get("status"), page=args["page"], per_page=args["per_page"])
    return found.items, headers(found, args["page"], args["per_page"])


@blp.post("/premium-requests/<uuid:request_id>/approve")
@require(STAFF)
@blp.response(200, PremiumRequestSchema)
@blp.alt_response(409, response="CONFLICT")
def approve_premium_request(request_id: uuid.UUID):
    return service.approve_premium(_me(), request_id, settings=current_app.config, shown=True)


@blp.post("/premium-requests/<uuid:request_id>/reject")
@require(STAFF)
@blp.arguments(ReasonSchema)
@blp.response(200, PremiumRequestSchema)
@blp.alt_response(409, response="CONFLICT")
def reject_premium_request(data, request_id: uuid.UUID):
    return service.reject_premium(_me(), request_id, data["reason"], shown=True)


@blp.post("/me/identity-verifications")
@require(RESIDENT)
@blp.arguments(IdentityVerificationCreateSchema)
@blp.response(201, IdentityVerificationSchema)
def create_identity_verification(data):
    """Record that identity is to be verified: the method only, never the Individual Number."""
    return service.request_identity_verification(_me(), data["method"])


@blp.get("/identity-verifications")
@require(STAFF, ADMIN)
@blp.arguments(IdentityVerificationQuerySchema, location="query")
@blp.response(200, IdentityVerificationSchema(many=True), headers=PAGINATED)
def list_identity_verifications(args):
    found = service.list_identity_verifications(_me(), args.get("status"), page=args["page"],
                                                per_page=args["per_page"])
    return found.items, headers(found, args["page"], args["per_page"])


@blp.post("/identity-verifications/<uuid:verification_id>/confirm")
@require(STAFF, ADMIN)
@blp.response(200, IdentityVerificationSchema)
@blp.alt_response(409, response="CONFLICT")
def confirm_identity_verification(verification_id: uuid.UUID):
    return service.decide_identity_verification(_me(), verification_id, verified=True, shown=True)


@blp.post("/identity-verifications/<uuid:verification_id>/reject")
@require(STAFF, ADMIN)
@blp.arguments(IdentityRejectSchema)
@blp.response(200, IdentityVerificationSchema)
@blp.alt_response(409, response="CONFLICT")
def reject_identity_verification(data, verification_id: uuid.UUID):
    return service.decide_identity_verification(_me(), verification_id, verified=False,
                                                reason=data.get("reason"), shown=True)


@blp.get("/organizations/<string:code>/registrants")
@require(STAFF)
@blp.arguments(PaginationSchema, location="query")
@blp.response(200, RegistrantSchema(many=True), headers=PAGINATED)
def list_registrants(args, code: str):
    """Active registrants; `profile` only for people who consented to share it."""
    found = service.list_registrants(_me(), code, page=args["page"], per_page=args["per_page"])
    return found.items, headers(found, args["page"], args["per_page"])

