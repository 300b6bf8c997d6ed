from marshmallow import fields, validate

from registry.accounts.schemas import BIRTH_YEAR, PASSWORD
from registry.common.schemas import BaseSchema, BoundedString, Id, NonEmptyText, PaginationSchema, TokyoDateTime

MANAGED_NEED_STATUSES = ("draft", "open", "closed", "cancelled")


class HostCreateSchema(BaseSchema):
    email = fields.Email(required=True, validate=validate.Length(max=254))
    display_name = NonEmptyText(100, required=True, metadata={"description": "the contact person"})
    host_name = NonEmptyText(200, required=True, metadata={"description": "the name shown on its needs"})
    trusted = fields.Boolean(load_default=False)


class HostUpdateSchema(BaseSchema):
    trusted = fields.Boolean()
    host_name = NonEmptyText(200)
    display_name = NonEmptyText(100)


class HostSchema(BaseSchema):
    id = Id()
    email = fields.String(allow_none=True)
    display_name = fields.String(allow_none=True)
    host_name = fields.String()
    trusted = fields.Boolean()
    organization_code = fields.String()
    active = fields.Boolean()
    password_set = fields.Boolean()
    created_at = TokyoDateTime()
    deactivated_at = TokyoDateTime(allow_none=True)


class SetPasswordLinkSchema(BaseSchema):
    set_password_link = fields.String()
    set_password_token = fields.String()
    set_password_expires_at = TokyoDateTime()


class HostCreatedSchema(HostSchema, SetPasswordLinkSchema):
    pass


class SetPasswordSchema(BaseSchema):
    token = fields.String(required=True, validate=validate.Length(min=1, max=200))
    password = fields.String(required=True, load_only=True, **PASSWORD)
    birth_year = fields.Integer(strict=True, validate=BIRTH_YEAR, allow_none=True)
    guardian_consent = fields.Boolean(load_default=False)


class ManagedNeedQuerySchema(PaginationSchema):
    status = fields.String(validate=validate.OneOf(MANAGED_NEED_STATUSES))


class CheckInCodeSchema(BaseSchema):
    need_id = Id()
    code = fields.String(metadata={"description": "6 digits; good for this minute and the next"})
    qr_svg = fields.String(metadata={"description": "a QR of `url`, the page where the applicant checks in"})
    url = fields.String()
    expires_at = TokyoDateTime()


class CheckInSchema(BaseSchema):
    code = BoundedString(32, required=True, metadata={"example": "042917"})


class CompletedCountSchema(BaseSchema):
    completed = fields.Integer()
