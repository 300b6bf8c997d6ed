from marshmallow import fields, validate

from registry.common.schemas import BaseSchema, Id, PaginationSchema, TokyoDateTime
from registry.invitations.models import STATUSES


class InvitationQuerySchema(PaginationSchema):
    status = fields.String(validate=validate.OneOf(STATUSES))


class InvitationSchema(BaseSchema):
    id = Id()
    organization_code = fields.String()
    organization_name = fields.String()
    ties = fields.List(fields.String())
    status = fields.String(metadata={"description": "`pending` or `accepted`"})
    refusal = fields.String(allow_none=True, metadata={
        "description": "while pending: the error code accepting it would meet now (`home_municipality`, "
                       "`already_registered`), else null"})
    created_at = TokyoDateTime()
    accepted_at = TokyoDateTime(allow_none=True)
    registration_id = Id(allow_none=True)
