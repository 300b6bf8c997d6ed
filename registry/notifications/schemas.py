from marshmallow import fields, validate

from registry.common.schemas import BaseSchema, BoundedString, Id, PaginationSchema, TokyoDateTime


class NotificationSchema(BaseSchema):
    id = Id()
    kind = fields.String(metadata={"example": "premium_decided"})
    title = fields.String()
    body = fields.String()
    link = fields.String(allow_none=True, metadata={"description": "a path on the site, e.g. /my"})
    created_at = TokyoDateTime()
    read_at = TokyoDateTime(allow_none=True)


class NotificationQuerySchema(PaginationSchema):
    unread = fields.Boolean(metadata={"description": "true: only unread; false: only read"})


class VerifyEmailSchema(BaseSchema):
    token = BoundedString(1000, required=True, validate=validate.Length(min=1))


class EmailVerifiedSchema(BaseSchema):
    email_verified = fields.Boolean()


class VerificationRequestSchema(BaseSchema):
    status = fields.String(metadata={"description": "queued, already_verified or mail_off"})
