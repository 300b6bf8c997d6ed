from marshmallow import fields, validate

from registry.common.schemas import BaseSchema, Id, NonEmptyText, OrganizationCode, PaginationSchema, TokyoDateTime
from registry.registrations.models import TIES


class RegistrationCreateSchema(BaseSchema):
    organization_code = OrganizationCode(required=True, metadata={"example": "212172"})
    ties = fields.List(fields.String(validate=validate.OneOf(TIES)), required=True,
                       validate=validate.Length(min=1, max=len(TIES)))


class RegistrationSchema(BaseSchema):
    id = Id()
    organization_code = fields.String()
    prefecture_code = fields.String()
    tier = fields.Function(lambda reg: reg.effective_tier())
    ties = fields.List(fields.String())
    status = fields.String()
    registered_at = TokyoDateTime()
    ended_at = TokyoDateTime(allow_none=True)
    premium_valid_until = fields.Function(
        lambda reg: reg.premium_valid_until.isoformat()
        if reg.premium_valid_until and reg.effective_tier() == "premium" else None)


class RequestStatusSchema(BaseSchema):
    id = Id()
    status = fields.String()


class PremiumRequestSchema(BaseSchema):
    id = Id()
    registration_id = Id()
    organization_code = fields.String()
    kind = fields.String()
    status = fields.String()
    reason = fields.String(allow_none=True)
    created_at = TokyoDateTime()
    decided_at = TokyoDateTime(allow_none=True)


class PremiumRequestQuerySchema(PaginationSchema):
    status = fields.String(validate=validate.OneOf(["pending", "approved", "rejected"]))


class ReasonSchema(BaseSchema):
    reason = NonEmptyText(1000, required=True)


class IdentityRejectSchema(BaseSchema):
    # Written about an identity check: any 12-digit run is refused (common/individual_number.py).
    reason = NonEmptyText(1000, identity=True)


class PremiumProgressSchema(BaseSchema):
    activities_in_window = fields.Integer()
    activities_required = fields.Integer()
    identity_verified = fields.Boolean()
    premium_registrations = fields.Integer()
    premium_limit = fields.Integer()
    eligible = fields.Boolean()
    missing = fields.List(fields.String())
    pending_request = fields.String(allow_none=True, metadata={"description": "`new` or `renewal` while one is pending"})
    premium_valid_until = fields.Date(allow_none=True)
    renewal_opens_on = fields.Date(allow_none=True)


class IdentityVerificationCreateSchema(BaseSchema):
    method = fields.String(required=True, validate=validate.OneOf(["mynumber_card", "in_person", "document"]))


class IdentityVerificationSchema(BaseSchema):
    id = Id()
    user_id = Id()
    method = fields.String()
    status = fields.String()
    reason = fields.String(allow_none=True)
    created_at = TokyoDateTime()
    decided_at = TokyoDateTime(allow_none=True)


class IdentityVerificationQuerySchema(PaginationSchema):
    status = fields.String(validate=validate.OneOf(["pending", "verified", "rejected"]))


class RegistrantProfileSchema(BaseSchema):
    display_name = fields.String()
    age_band = fields.String(allow_none=True)
    skills = fields.List(fields.String())
    interests = fields.List(fields.String())


class RegistrantSchema(BaseSchema):
    registration_id = Id()
    tier = fields.String()
    ties = fields.List(fields.String())
    registered_at = TokyoDateTime()
    profile = fields.Nested(RegistrantProfileSchema, allow_none=True)
