from marshmallow import fields, validate

from registry.common.schemas import BaseSchema, Id, NonEmptyText, OrganizationCode, StringList, TokyoDateTime
from registry.i18n import CHARACTERS

PASSWORD = dict(validate=validate.Length(min=8, max=128, error=CHARACTERS))  # "8〜128文字", not marshmallow's "件（文字）"
BIRTH_YEAR = validate.Range(min=1900, max=2100)
AVAILABILITY = ("any", "weekdays", "weekends")


class SignupSchema(BaseSchema):
    email = fields.Email(required=True, validate=validate.Length(max=254))
    password = fields.String(required=True, load_only=True, **PASSWORD)
    display_name = NonEmptyText(100, required=True)
    home_municipality_code = OrganizationCode(required=True, metadata={"example": "131016"})
    birth_year = fields.Integer(required=True, strict=True, validate=BIRTH_YEAR)
    guardian_consent = fields.Boolean(load_default=False)


class LoginSchema(BaseSchema):
    email = fields.String(required=True, validate=validate.Length(max=254))
    password = fields.String(required=True, load_only=True, validate=validate.Length(max=128))


class ConsentsSchema(BaseSchema):
    share_profile = fields.Boolean()
    scouting = fields.Boolean()
    announcements = fields.Boolean()


class ProfileSchema(BaseSchema):
    id = Id()
    email = fields.String()
    display_name = fields.String()
    role = fields.String()
    organization_code = fields.String(allow_none=True)
    home_municipality_code = fields.String(allow_none=True)
    birth_year = fields.Integer(allow_none=True)
    guardian_consent = fields.Boolean()
    skills = fields.List(fields.String())
    interests = fields.List(fields.String())
    availability = fields.String(allow_none=True)
    consents = fields.Nested(ConsentsSchema)
    email_verified = fields.Function(lambda u: u.email_verified_at is not None)
    created_at = TokyoDateTime()


class ProfileUpdateSchema(BaseSchema):
    display_name = NonEmptyText(100)
    home_municipality_code = OrganizationCode()
    birth_year = fields.Integer(strict=True, validate=BIRTH_YEAR)
    guardian_consent = fields.Boolean()
    skills = StringList(30, 50)
    interests = StringList(30, 50)
    availability = fields.String(allow_none=True, validate=validate.OneOf(AVAILABILITY))
    consents = fields.Nested(ConsentsSchema)


class AuthResultSchema(BaseSchema):
    user = fields.Nested(ProfileSchema)
    token = fields.String()


class TokenSchema(BaseSchema):
    id = Id()
    created_at = TokyoDateTime()
    expires_at = TokyoDateTime()


class PasswordResetSchema(BaseSchema):
    email = fields.String(required=True, validate=validate.Length(min=1, max=254))


class SetPasswordSchema(BaseSchema):
    token = fields.String(required=True, validate=validate.Length(min=1, max=200))
    password = fields.String(required=True, load_only=True, **PASSWORD)
    birth_year = fields.Integer(strict=True, validate=BIRTH_YEAR, allow_none=True)
    guardian_consent = fields.Boolean(load_default=False)
