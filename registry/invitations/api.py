import uuid

from flask_login import current_user
from registry.common.auth import RESIDENT, require
from registry.common.openapi import Blueprint
from registry.common.pagination import PAGINATED, paginate
from registry.invitations import service
from registry.invitations.schemas import InvitationQuerySchema, InvitationSchema
from registry.registrations.schemas import RegistrationSchema

blp = Blueprint("invitations", __name__, description="Invitations to register, from a 団体's roster")


def _me():
    return current_user._get_current_object()


@blp.get("/me/invitations")
@require(RESIDENT)
@blp.arguments(InvitationQuerySchema, location="query")
@blp.response(200, InvitationSchema(many=True), headers=PAGINATED)
def list_invitations(args):
    """Own invitations, newest first (`?status=pending` for the open ones). An invitation is not a
    registration and counts in no figure until accepted; `refusal` says what would refuse it now."""
    items, headers = paginate(service.invitations_of(_me(), args.get("status")), args["page"], args["per_page"])
    return service.describe(_me(), items), headers


@blp.post("/me/invitations/<uuid:invitation_id>/accept")
@require(RESIDENT)
@blp.response(201, RegistrationSchema)
@blp.alt_response(409, response="CONFLICT")
@blp.alt_response(422, response="UNPROCESSABLE_ENTITY")
def accept_invitation(invitation_id: uuid.UUID):
    """Register with the inviting 団体 under the invitation's ties (as `POST /registrations`).
    Someone else's invitation is 404; an accepted one 409 `invalid_state`; the registration rules
    apply (422 `home_municipality`, 409 `already_registered`)."""
    return service.accept(_me(), invitation_id)
