from marshmallow import fields, validate

from registry.common.schemas import BaseSchema, Id, NonEmptyText, TokyoDateTime


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
