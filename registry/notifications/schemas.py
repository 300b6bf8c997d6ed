from marshmallow import fields

from registry.common.schemas import BaseSchema, Id, NonEmptyText, PaginationSchema, TokyoDateTime


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
    token = NonEmptyText(1000, required=True)


class EmailVerifiedSchema(BaseSchema):
    email_verified = fields.Boolean()


class VerificationRequestSchema(BaseSchema):
    status = fields.String(metadata={"description": "queued, already_verified or mail_off"})
